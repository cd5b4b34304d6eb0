// What the dashboard knows about one stream, built from protocol v1 messages
// (docs/PROTOCOL.md). Pure: no DOM, no sockets; times are epoch milliseconds.

/** Frames remembered per stream to drop replayed duplicates (a replay is at most 20 here). */
const SEEN_FRAMES = 256;
/** Frames whose latencyMs feed the median. */
const LATENCY_SAMPLES = 30;
/** The fps counter averages over this much of the stream's own clock. */
const FPS_WINDOW_MS = 5_000;
/** No frame for this long (page clock) and fps reads 0. */
const FPS_STALE_MS = 3_000;
/** Latest events kept for the list. */
const EVENTS_KEPT = 50;
/** Closed segments older than this are forgotten (the widest timeline window). */
export const TIMELINE_KEEP_MS = 30 * 60_000;

export const STATES = ['starting', 'live', 'reconnecting', 'ended', 'failed'];

export function createStreamState(id) {
  return {
    id,
    state: 'starting',
    detail: '',
    model: '',
    /** The model is untrained (`models synth`): its labels mean nothing. */
    untrained: false,
    /** Configured sampling rate (hello, /api/streams). */
    sampleFps: 0,
    labels: [],
    frames: 0,
    /** Of `frames`, those marked `reused` (not inferred: --skip-unchanged). */
    reused: 0,
    dropped: 0,
    latencies: [],
    /** capturedAt of recent frames (the stream's clock). */
    captured: [],
    /** Page clock when the last new frame arrived. */
    lastFrameAt: 0,
    lastRun: '',
    lastSeq: -1,
    seen: new Set(),
    seenOrder: [],
    events: [],
    /** label -> [{ start, end (null while open), peak }] in server epoch ms */
    segments: new Map(),
  };
}

/** Merges a StreamInfo from `hello` or GET /api/streams. */
export function applyInfo(s, info) {
  if (typeof info.state === 'string' && STATES.includes(info.state)) s.state = info.state;
  if (typeof info.model === 'string') s.model = info.model;
  if (typeof info.untrained === 'boolean') s.untrained = info.untrained;
  if (typeof info.fps === 'number' && Number.isFinite(info.fps)) s.sampleFps = info.fps;
}

/**
 * A `frame` message. Returns false for a frame already counted (the replay
 * that follows every reconnect resends the last results).
 */
export function applyFrame(s, msg, pageNow) {
  const key = `${msg.run}:${msg.seq}`;
  if (s.seen.has(key)) return false;
  s.seen.add(key);
  s.seenOrder.push(key);
  if (s.seenOrder.length > SEEN_FRAMES) s.seen.delete(s.seenOrder.shift());

  s.frames += 1;
  if (msg.reused === true) s.reused += 1;
  // Replayed frames can arrive after newer ones were shown: the bars show the newest.
  const newer = msg.run !== s.lastRun ? msg.capturedAt >= lastOf(s.captured, -Infinity) : msg.seq > s.lastSeq;
  if (newer) {
    s.labels = Array.isArray(msg.labels) ? msg.labels.slice(0, 5) : [];
    s.lastRun = msg.run;
    s.lastSeq = msg.seq;
  }
  if (typeof msg.latencyMs === 'number') pushBounded(s.latencies, msg.latencyMs, LATENCY_SAMPLES);
  if (typeof msg.capturedAt === 'number') insertSorted(s.captured, msg.capturedAt, 200);
  s.lastFrameAt = pageNow;
  if (s.state === 'starting' || s.state === 'reconnecting') s.state = 'live';
  return true;
}

export function applyStatus(s, msg, serverNow) {
  if (STATES.includes(msg.state)) s.state = msg.state;
  s.detail = typeof msg.detail === 'string' ? msg.detail : '';
  // The detector starts afresh with the next run: whatever was open is over for us.
  if (s.state !== 'live' && s.state !== 'starting') closeOpenSegments(s, serverNow);
}

export function applyDropped(s, msg) {
  if (typeof msg.count === 'number' && msg.count > 0) s.dropped += msg.count;
}

export function applyEvent(s, msg) {
  const at = msg.capturedAt;
  const ev = { label: msg.label, kind: msg.kind, at, ptsMs: msg.ptsMs, score: msg.score };
  // Replay or a resent event: same label, kind and time is the same event.
  if (s.events.some((e) => e.label === ev.label && e.kind === ev.kind && e.at === ev.at)) return false;
  s.events.unshift(ev);
  s.events.sort((a, b) => b.at - a.at);
  if (s.events.length > EVENTS_KEPT) s.events.length = EVENTS_KEPT;

  let list = s.segments.get(msg.label);
  if (list === undefined) s.segments.set(msg.label, (list = []));
  const open = list.find((g) => g.end === null);
  if (msg.kind === 'start') {
    if (open !== undefined) open.end = at;
    list.push({ start: at, end: null, peak: msg.score });
  } else if (open !== undefined) {
    open.end = Math.max(at, open.start);
    open.peak = Math.max(open.peak, msg.score);
  }
  return true;
}

/** Ends every open segment at `at` (connection lost, stream stopped). */
export function closeOpenSegments(s, at) {
  for (const list of s.segments.values()) {
    for (const g of list) if (g.end === null) g.end = Math.max(at, g.start);
  }
}

/** Drops what no timeline window can show any more. */
export function prune(s, serverNow) {
  for (const [label, list] of s.segments) {
    const kept = list.filter((g) => g.end === null || g.end >= serverNow - TIMELINE_KEEP_MS);
    if (kept.length === 0) s.segments.delete(label);
    else s.segments.set(label, kept);
  }
}

/**
 * Frames received per second, measured on the stream's own clock
 * (capturedAt) so the burst of a replay or a slow tab does not inflate it.
 */
export function receivedFps(s, pageNow) {
  if (s.captured.length < 2 || pageNow - s.lastFrameAt > FPS_STALE_MS) return 0;
  const last = lastOf(s.captured, 0);
  const recent = s.captured.filter((t) => t >= last - FPS_WINDOW_MS);
  if (recent.length < 2) return 0;
  const span = last - recent[0];
  return span > 0 ? ((recent.length - 1) * 1000) / span : 0;
}

/** Median latencyMs of the last frames; undefined before any. */
export function latencyP50(s) {
  if (s.latencies.length === 0) return undefined;
  const sorted = [...s.latencies].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/**
 * Rows of the timeline for the window ending at `serverNow`: the labels seen
 * most recently first, each with its segments as fractions of the window.
 */
export function timelineRows(s, serverNow, windowMs, maxRows) {
  const from = serverNow - windowMs;
  const rows = [];
  for (const [label, list] of s.segments) {
    const segs = [];
    let lastSeen = -Infinity;
    for (const g of list) {
      const end = g.end ?? serverNow;
      lastSeen = Math.max(lastSeen, end);
      if (end < from) continue;
      const a = clamp01((g.start - from) / windowMs);
      const b = clamp01((end - from) / windowMs);
      segs.push({ from: a, to: b, open: g.end === null, start: g.start, end: g.end, peak: g.peak });
    }
    if (segs.length > 0) rows.push({ label, segments: segs, lastSeen, open: segs.some((g) => g.open) });
  }
  rows.sort((x, y) => Number(y.open) - Number(x.open) || y.lastSeen - x.lastSeen || x.label.localeCompare(y.label));
  return rows.slice(0, maxRows);
}

/**
 * The server's clock as seen from the page: a frame's capturedAt + latencyMs
 * is about when the server sent it. The smallest recent difference is the
 * one least delayed by the network.
 */
export class ServerClock {
  #samples = [];
  offsetMs = 0;

  observe(msg, pageNow) {
    if (typeof msg.capturedAt !== 'number' || typeof msg.latencyMs !== 'number') return;
    pushBounded(this.#samples, pageNow - (msg.capturedAt + msg.latencyMs), 50);
    this.offsetMs = Math.min(...this.#samples);
  }

  now(pageNow) {
    return pageNow - this.offsetMs;
  }
}

function pushBounded(arr, v, max) {
  arr.push(v);
  if (arr.length > max) arr.splice(0, arr.length - max);
}

function insertSorted(arr, v, max) {
  let i = arr.length;
  while (i > 0 && arr[i - 1] > v) i -= 1;
  arr.splice(i, 0, v);
  if (arr.length > max) arr.splice(0, arr.length - max);
}

function lastOf(arr, fallback) {
  return arr.length > 0 ? arr[arr.length - 1] : fallback;
}

function clamp01(x) {
  return Math.min(1, Math.max(0, x));
}
