/* global document */
// One stream's card: built once, then updated in place (a frame arrives
// several times a second per stream; nothing is rebuilt that did not change).

import { latencyP50, receivedFps, timelineRows } from './stream-state.js';
import { formatClock, formatCount, formatDuration, formatLatency, formatScore, labelHue, shortLabel } from './format.js';

const BAR_SLOTS = 5;
const TIMELINE_ROWS = 6;
const EVENT_ITEMS = 5;

export class StreamCard {
  /** @param {string} id */
  constructor(id) {
    this.root = el('article', { class: 'card', 'data-testid': 'stream-card', 'data-stream': id });

    const head = el('header', { class: 'card-head' });
    const title = el('h2', { class: 'stream-id', title: id }, id);
    this.badge = el('span', { class: 'badge', 'data-testid': 'stream-state' });
    this.meta = el('span', { class: 'card-meta' });
    head.append(title, this.meta, this.badge);

    const thumbBox = el('div', { class: 'thumb' });
    this.img = el('img', { 'data-testid': 'thumbnail', alt: `Latest frame of ${id}`, decoding: 'async' });
    this.img.hidden = true;
    this.thumbNote = el('span', { class: 'thumb-note' }, 'no image yet');
    thumbBox.append(this.img, this.thumbNote);

    const stats = el('dl', { class: 'stats' });
    this.fps = stat(stats, 'fps', 'stat-fps', 'frames received per second');
    this.latency = stat(stats, 'latency', 'stat-latency', 'median capture-to-result latency of the last frames');
    this.dropped = stat(stats, 'dropped', 'stat-dropped', 'frame messages this page missed because it read too slowly');
    this.frames = stat(stats, 'frames', 'stat-frames', 'frames received since the page opened');
    this.skipped = stat(
      stats,
      'skipped',
      'stat-skipped',
      'frames received since the page opened that were not inferred: unchanged since the last inferred one, they repeat its labels (--skip-unchanged)',
    );

    const labels = el('section', { class: 'labels', 'aria-label': 'Top labels' });
    this.bars = el('ol', { class: 'bars' });
    this.barSlots = [];
    for (let i = 0; i < BAR_SLOTS; i += 1) {
      const li = el('li', { class: 'bar', 'data-testid': 'label-bar' });
      const name = el('span', { class: 'bar-name' });
      const score = el('span', { class: 'bar-score' });
      li.append(el('span', { class: 'bar-fill' }), name, score);
      li.hidden = true;
      this.bars.append(li);
      this.barSlots.push({ li, name, score });
    }
    this.barsEmpty = el('p', { class: 'empty' }, 'waiting for frames…');
    labels.append(el('h3', {}, 'Top labels'), this.bars, this.barsEmpty);

    const left = el('div', { class: 'card-left' });
    left.append(thumbBox);

    const timeline = el('section', { class: 'timeline', 'aria-label': 'Label events' });
    this.windowNote = el('span', { class: 'h3-note' });
    const th = el('h3', {}, 'Label events ');
    th.append(this.windowNote);
    this.strips = el('div', { class: 'strips', 'data-testid': 'timeline' });
    this.axis = el('div', { class: 'axis' });
    this.axisFrom = el('span');
    this.axis.append(this.axisFrom, el('span', {}, 'now'));
    this.events = el('ol', { class: 'events' });
    this.eventsEmpty = el('p', { class: 'empty' }, 'no label events yet');
    timeline.append(th, this.strips, this.axis, this.events, this.eventsEmpty);

    this.footer = el('footer', { class: 'card-foot' });

    this.root.append(head, left, labels, stats, timeline, this.footer);
    this.shownEvents = '';
    this.shownTimeline = '';
  }

  /**
   * @param {ReturnType<import('./stream-state.js').createStreamState>} s
   * @param {{ pageNow: number, serverNow: number, windowMs: number, connected: boolean }} ctx
   */
  render(s, ctx) {
    this.root.dataset.state = s.state;
    this.root.classList.toggle('stale', !ctx.connected);
    this.badge.textContent = s.state;
    this.badge.dataset.state = s.state;
    this.meta.textContent = [s.model, s.untrained ? 'UNTRAINED model: labels mean nothing' : '', s.sampleFps > 0 ? `${s.sampleFps} fps` : '']
      .filter(Boolean)
      .join(' · ');
    this.meta.classList.toggle('untrained', s.untrained);

    this.fps.textContent = s.frames === 0 ? '—' : receivedFps(s, ctx.pageNow).toFixed(1);
    const p50 = latencyP50(s);
    this.latency.textContent = p50 === undefined ? '—' : formatLatency(p50);
    this.dropped.textContent = formatCount(s.dropped);
    this.dropped.classList.toggle('warn', s.dropped > 0);
    this.frames.textContent = formatCount(s.frames);
    this.skipped.textContent = formatCount(s.reused);

    this.#renderBars(s.labels);
    this.#renderTimeline(s, ctx);
    this.#renderEvents(s.events);

    const parts = [];
    if (s.detail) parts.push(s.detail);
    if (s.lastFrameAt > 0) {
      const ago = ctx.pageNow - s.lastFrameAt;
      parts.push(ago < 2_000 ? 'last frame just now' : `last frame ${formatDuration(ago)} ago`);
    }
    this.footer.textContent = parts.join(' · ');
    this.footer.classList.toggle('warn', s.state === 'failed' || (s.lastFrameAt > 0 && ctx.pageNow - s.lastFrameAt > 10_000 && s.state === 'live'));
  }

  /** Shows a newly decoded snapshot (an object URL); the caller revokes the old one. */
  showSnapshot(url) {
    this.img.src = url;
    this.img.hidden = false;
    this.thumbNote.hidden = true;
  }

  #renderBars(labels) {
    this.barsEmpty.hidden = labels.length > 0;
    this.barSlots.forEach((slot, i) => {
      const l = labels[i];
      slot.li.hidden = l === undefined;
      if (l === undefined) return;
      const score = Math.min(1, Math.max(0, Number(l.score) || 0));
      slot.li.dataset.label = l.label;
      slot.li.dataset.score = String(score);
      slot.li.title = `${l.label} (class ${l.index}): ${score.toFixed(4)}`;
      slot.li.style.setProperty('--w', `${(score * 100).toFixed(2)}%`);
      slot.li.style.setProperty('--hue', String(labelHue(l.label)));
      slot.name.textContent = shortLabel(l.label);
      slot.score.textContent = formatScore(score);
    });
  }

  #renderTimeline(s, ctx) {
    const rows = timelineRows(s, ctx.serverNow, ctx.windowMs, TIMELINE_ROWS);
    this.windowNote.textContent = `last ${formatDuration(ctx.windowMs)}`;
    this.axisFrom.textContent = `−${formatDuration(ctx.windowMs)}`;
    // Positions move every second anyway; rebuild the few rows rather than diff them.
    const sig = JSON.stringify(rows.map((r) => [r.label, r.segments.map((g) => [g.from.toFixed(4), g.to.toFixed(4)])]));
    if (sig === this.shownTimeline) return;
    this.shownTimeline = sig;
    this.strips.replaceChildren(
      ...rows.map((r) => {
        const row = el('div', { class: 'strip', 'data-testid': 'timeline-row', 'data-label': r.label });
        row.style.setProperty('--hue', String(labelHue(r.label)));
        const track = el('div', { class: 'track' });
        for (const g of r.segments) {
          const seg = el('i', { class: g.open ? 'seg open' : 'seg', 'data-testid': 'timeline-segment' });
          seg.style.left = `${(g.from * 100).toFixed(3)}%`;
          seg.style.width = `max(3px, ${((g.to - g.from) * 100).toFixed(3)}%)`;
          seg.title = `${r.label}: ${formatClock(g.start)} – ${g.end === null ? 'now' : formatClock(g.end)}, peak ${formatScore(g.peak)}`;
          track.append(seg);
        }
        row.append(el('span', { class: 'strip-label', title: r.label }, shortLabel(r.label)), track);
        return row;
      }),
    );
    this.strips.hidden = rows.length === 0;
    this.axis.hidden = rows.length === 0;
  }

  #renderEvents(events) {
    const shown = events.slice(0, EVENT_ITEMS);
    const sig = shown.map((e) => `${e.kind}|${e.label}|${e.at}`).join('\n');
    if (sig === this.shownEvents) return;
    this.shownEvents = sig;
    this.eventsEmpty.hidden = shown.length > 0;
    this.events.replaceChildren(
      ...shown.map((e) => {
        const li = el('li', { class: `event ${e.kind}`, 'data-testid': 'event-item', 'data-kind': e.kind, 'data-label': e.label });
        li.style.setProperty('--hue', String(labelHue(e.label)));
        li.append(
          el('time', { datetime: new Date(e.at).toISOString(), title: `source time ${formatDuration(e.ptsMs, true)}` }, formatClock(e.at)),
          el('span', { class: 'ev-kind' }, e.kind === 'start' ? '▲ start' : '▼ end'),
          el('span', { class: 'ev-label', title: e.label }, shortLabel(e.label)),
          el('span', { class: 'ev-score' }, formatScore(e.score)),
        );
        return li;
      }),
    );
  }
}

function stat(dl, name, testid, help) {
  const box = el('div', { class: 'stat', title: help });
  const dd = el('dd', { 'data-testid': testid }, '—');
  box.append(el('dt', {}, name), dd);
  dl.append(box);
  return dd;
}

/** Text only ever goes in through textContent: labels and ids come from the network. */
function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
