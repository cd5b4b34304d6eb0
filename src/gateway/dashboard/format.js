// Text for numbers and labels, in one place so every card reads the same.

/** 12:03:04, local time of day, from epoch ms. */
export function formatClock(ms) {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export function formatCount(n) {
  return Math.round(n).toLocaleString('en-US');
}

/** "12 s", "5 min", "1 h 20 min"; with `precise`, a media time "1:02.4". */
export function formatDuration(ms, precise = false) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  if (precise) {
    const s = Math.max(0, ms) / 1000;
    return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, '0')}`;
  }
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatLatency(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** A probability as a percentage, with the digits a small score needs. */
export function formatScore(score) {
  const p = score * 100;
  if (p >= 10) return `${p.toFixed(0)}%`;
  if (p >= 1) return `${p.toFixed(1)}%`;
  return `${p.toFixed(2)}%`;
}

/** ImageNet names list synonyms ("tabby, tabby cat"): the first is enough on a card. */
export function shortLabel(label) {
  const s = String(label);
  const i = s.indexOf(',');
  return i > 0 ? s.slice(0, i) : s;
}

/** A stable colour per label (FNV-1a of the name to a hue), the same on bars, strips and events. */
export function labelHue(label) {
  let h = 0x811c9dc5;
  for (const ch of String(label)) {
    h ^= ch.codePointAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % 360;
}
