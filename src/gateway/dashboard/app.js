/* global document, window, location, localStorage, fetch, URL, URLSearchParams, Image, AbortController, setTimeout, clearTimeout, setInterval, requestAnimationFrame, console */
// The StreamSight dashboard: WebSocket protocol v1 (docs/PROTOCOL.md) on /ws, plus
// GET /api/streams and /api/streams/<id>/snapshot.jpg. No build step.

import { ReconnectingSocket } from './connection.js';
import { StreamCard } from './stream-card.js';
import { ServerClock, applyDropped, applyEvent, applyFrame, applyInfo, applyStatus, closeOpenSegments, createStreamState, prune } from './stream-state.js';
import { formatDuration } from './format.js';

/** What the page asks for on every (re)connect. */
const SUBSCRIPTION = { type: 'subscribe', streams: '*', topK: 5, replay: 20 };
const SNAPSHOT_EVERY_MS = 3_000;
const SNAPSHOT_TIMEOUT_MS = 5_000;
/** Streams added over HTTP at run time show up even if no status names them. */
const STREAM_LIST_EVERY_MS = 20_000;
const TOAST_MS = 8_000;
const TOASTS_SHOWN = 4;
const WINDOWS_MS = { '1m': 60_000, '5m': 5 * 60_000, '15m': 15 * 60_000, '30m': 30 * 60_000 };

const token = new URLSearchParams(location.search).get('token');
const authHeaders = token ? { Authorization: `Bearer ${token}` } : {};

/** Relative to the page, so the dashboard also works under a path prefix behind a proxy. */
function pageUrl(path) {
  return new URL(path, location.href);
}

function wsUrl() {
  const u = pageUrl('ws');
  u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  u.search = '';
  if (token) u.searchParams.set('token', token);
  return u.href;
}

const ui = {
  grid: document.querySelector('[data-testid="stream-grid"]'),
  empty: document.querySelector('[data-testid="no-streams"]'),
  conn: document.querySelector('[data-testid="conn-state"]'),
  connText: document.querySelector('[data-testid="conn-state"] .conn-text'),
  banner: document.querySelector('[data-testid="conn-banner"]'),
  bannerText: document.querySelector('[data-testid="conn-banner"] .banner-text'),
  retry: document.querySelector('[data-testid="retry-now"]'),
  toasts: document.querySelector('[data-testid="toasts"]'),
  summary: document.querySelector('[data-testid="summary"]'),
  windows: [...document.querySelectorAll('[data-window]')],
};

/** id -> { s: stream state, card: StreamCard, snapUrl, snapBusy } */
const streams = new Map();
const clock = new ServerClock();
let windowKey = WINDOWS_MS[localStorage.getItem('streamsight.window')] ? localStorage.getItem('streamsight.window') : '5m';
let everConnected = false;
let authProblem = '';

const socket = new ReconnectingSocket(wsUrl, {
  onOpen() {
    socket.send(SUBSCRIPTION);
    void loadStreamList();
  },
  onMessage: handleMessage,
  onState(state) {
    if (state === 'open') {
      everConnected = true;
      authProblem = '';
      for (const e of streams.values()) void refreshSnapshot(e);
    } else if (state === 'waiting') {
      // What was open is unknown from here on; the restarted detector will say again.
      const now = clock.now(Date.now());
      for (const e of streams.values()) closeOpenSegments(e.s, now);
      if (!socket.lastTryOpened) void explainRefusal();
    }
    renderConnection();
    renderAll();
  },
  onError(err) {
    console.error('streamsight dashboard:', err);
  },
});

function handleMessage(msg) {
  const pageNow = Date.now();
  switch (msg.type) {
    case 'hello':
      if (Array.isArray(msg.streams)) syncStreams(msg.streams);
      break;
    case 'frame': {
      const e = entry(msg.stream);
      if (e === undefined) break;
      clock.observe(msg, pageNow);
      if (applyFrame(e.s, msg, pageNow)) markDirty(e);
      break;
    }
    case 'event': {
      const e = entry(msg.stream);
      if (e !== undefined && applyEvent(e.s, msg)) markDirty(e);
      break;
    }
    case 'status': {
      const e = entry(msg.stream);
      if (e === undefined) break;
      applyStatus(e.s, msg, clock.now(pageNow));
      markDirty(e);
      renderSummary();
      break;
    }
    case 'dropped': {
      const e = entry(msg.stream);
      if (e === undefined) break;
      applyDropped(e.s, msg);
      markDirty(e);
      break;
    }
    case 'error':
      toast(String(msg.code ?? 'error'), String(msg.message ?? ''));
      break;
    default:
      // pong, and message types newer than this page: nothing to show.
      break;
  }
}

/** The stream's entry, created on first sight; undefined for a message without a usable id. */
function entry(id) {
  if (typeof id !== 'string' || id === '') return undefined;
  let e = streams.get(id);
  if (e === undefined) {
    e = { s: createStreamState(id), card: new StreamCard(id), snapUrl: '', snapBusy: false, dirty: true };
    streams.set(id, e);
    placeCard(e);
    renderSummary();
    if (socket.state === 'open') void refreshSnapshot(e);
  }
  return e;
}

function placeCard(e) {
  const ids = [...streams.keys()].sort((a, b) => a.localeCompare(b));
  const next = ids[ids.indexOf(e.s.id) + 1];
  ui.grid.insertBefore(e.card.root, next === undefined ? null : streams.get(next).card.root);
  ui.empty.hidden = true;
}

/** A full list of the server's streams (hello, GET /api/streams): it is the truth. */
function syncStreams(list) {
  const ids = new Set();
  for (const info of list) {
    if (info === null || typeof info !== 'object') continue;
    const e = entry(info.id);
    if (e === undefined) continue;
    ids.add(info.id);
    applyInfo(e.s, info);
    markDirty(e);
  }
  for (const [id, e] of streams) {
    if (ids.has(id)) continue;
    e.card.root.remove();
    if (e.snapUrl) URL.revokeObjectURL(e.snapUrl);
    streams.delete(id);
  }
  ui.empty.hidden = streams.size > 0;
  renderSummary();
}

/**
 * A browser never sees why an upgrade was refused. If plain HTTP answers while
 * the WebSocket does not open, the server is up and turned us away: almost
 * always the token (or an Origin allowlist).
 */
async function explainRefusal() {
  try {
    const res = await fetch(pageUrl('healthz'), { cache: 'no-store' });
    if (!res.ok || socket.state === 'open') return;
    authProblem = token
      ? 'the server is up but refused the connection (wrong token?)'
      : 'the server is up but refused the connection: it may need a token (open the page with ?token=…)';
  } catch {
    // Nothing listening: the gateway is restarting; the banner already says so.
    authProblem = '';
  }
  renderConnection();
}

async function loadStreamList() {
  try {
    const res = await fetch(pageUrl('api/streams'), { headers: authHeaders, cache: 'no-store' });
    if (res.status === 401 || res.status === 403) {
      authProblem = token ? 'the token was refused' : 'this server needs a token: open the page with ?token=…';
      renderConnection();
      return;
    }
    if (!res.ok) throw new Error(`GET api/streams: HTTP ${res.status}`);
    const body = await res.json();
    const list = Array.isArray(body) ? body : body?.streams;
    if (!Array.isArray(list)) throw new Error('GET api/streams: not a list of streams');
    syncStreams(list);
  } catch (err) {
    // While the socket is down the fetch fails too; the banner already says so.
    if (socket.state === 'open') toast('api', err instanceof Error ? err.message : String(err));
  }
}

/** Fetches the latest frame and swaps it in only once it decodes: a failed refresh keeps the old picture. */
async function refreshSnapshot(e) {
  if (e.snapBusy || document.hidden || socket.state !== 'open' || !streams.has(e.s.id)) return;
  e.snapBusy = true;
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), SNAPSHOT_TIMEOUT_MS);
  let url = '';
  try {
    const u = pageUrl(`api/streams/${encodeURIComponent(e.s.id)}/snapshot.jpg`);
    u.searchParams.set('t', String(Date.now()));
    const res = await fetch(u, { headers: authHeaders, cache: 'no-store', signal: ctrl.signal });
    if (!res.ok) return;
    url = URL.createObjectURL(await res.blob());
    const probe = new Image();
    probe.src = url;
    await probe.decode();
    const old = e.snapUrl;
    e.snapUrl = url;
    url = '';
    e.card.showSnapshot(e.snapUrl);
    if (old) URL.revokeObjectURL(old);
  } catch {
    // Aborted, network gone or not an image: the previous picture stays.
  } finally {
    clearTimeout(timer);
    if (url) URL.revokeObjectURL(url);
    e.snapBusy = false;
  }
}

// ---- rendering -------------------------------------------------------------

let frameRequested = false;

function markDirty(e) {
  e.dirty = true;
  if (!frameRequested) {
    frameRequested = true;
    // Several frames per second per stream: paint at most once per display frame.
    requestAnimationFrame(paint);
  }
}

function paint() {
  frameRequested = false;
  const ctx = renderContext();
  for (const e of streams.values()) {
    if (!e.dirty) continue;
    e.dirty = false;
    e.card.render(e.s, ctx);
  }
}

function renderAll() {
  const ctx = renderContext();
  for (const e of streams.values()) {
    e.dirty = false;
    prune(e.s, ctx.serverNow);
    e.card.render(e.s, ctx);
  }
  renderSummary();
}

function renderContext() {
  const pageNow = Date.now();
  return { pageNow, serverNow: clock.now(pageNow), windowMs: WINDOWS_MS[windowKey], connected: socket.state === 'open' };
}

function renderConnection() {
  const state = socket.state === 'open' ? 'connected' : !everConnected && socket.failures === 0 ? 'connecting' : 'disconnected';
  ui.conn.dataset.state = state;
  ui.connText.textContent = { connected: 'connected', connecting: 'connecting…', disconnected: 'disconnected' }[state];
  document.body.dataset.conn = state;

  const showBanner = state === 'disconnected' || authProblem !== '';
  ui.banner.hidden = !showBanner;
  if (!showBanner) return;
  let text = 'Disconnected — reconnecting';
  if (socket.state === 'waiting') {
    const s = Math.max(0, Math.ceil((socket.retryAt - Date.now()) / 1000));
    text += s > 0 ? ` in ${s} s` : '…';
  } else if (socket.state === 'connecting') {
    text += '…';
  }
  if (socket.failures > 1) text += ` (attempt ${socket.failures})`;
  if (authProblem) text = `${state === 'connected' ? 'Connected, but' : text + ':'} ${authProblem}`;
  ui.bannerText.textContent = text;
  ui.retry.hidden = socket.state !== 'waiting';
}

function renderSummary() {
  const all = [...streams.values()];
  const live = all.filter((e) => e.s.state === 'live').length;
  const failed = all.filter((e) => e.s.state === 'failed').length;
  const parts = [`${all.length} stream${all.length === 1 ? '' : 's'}`, `${live} live`];
  if (failed > 0) parts.push(`${failed} failed`);
  ui.summary.textContent = parts.join(' · ');
  document.title = `${socket.state === 'open' ? '' : '⚠ '}StreamSight — ${live}/${all.length} live`;
}

function toast(code, message) {
  const box = document.createElement('div');
  box.className = 'toast';
  box.setAttribute('role', 'alert');
  box.dataset.testid = 'error-toast';
  box.dataset.code = code;
  const b = document.createElement('strong');
  b.textContent = code;
  const span = document.createElement('span');
  span.textContent = message;
  box.append(b, span);
  box.addEventListener('click', () => box.remove());
  ui.toasts.prepend(box);
  while (ui.toasts.children.length > TOASTS_SHOWN) ui.toasts.lastElementChild.remove();
  setTimeout(() => box.remove(), TOAST_MS);
}

function selectWindow(key) {
  windowKey = key;
  localStorage.setItem('streamsight.window', key);
  for (const b of ui.windows) b.setAttribute('aria-pressed', String(b.dataset.window === key));
  renderAll();
}

// ---- wiring -----------------------------------------------------------------

for (const b of ui.windows) {
  b.title = `Show label events of the last ${formatDuration(WINDOWS_MS[b.dataset.window])}`;
  b.addEventListener('click', () => selectWindow(b.dataset.window));
}
ui.retry.addEventListener('click', () => socket.retryNow());
window.addEventListener('online', () => socket.retryNow());
document.addEventListener('visibilitychange', () => {
  if (document.hidden) return;
  socket.retryNow();
  renderAll();
  for (const e of streams.values()) void refreshSnapshot(e);
});

// Time moves even when no message comes: timeline, fps decay, "last frame … ago", countdown.
setInterval(() => {
  renderConnection();
  renderAll();
}, 1_000);
setInterval(() => {
  for (const e of streams.values()) void refreshSnapshot(e);
}, SNAPSHOT_EVERY_MS);
setInterval(() => {
  if (socket.state === 'open') void loadStreamList();
}, STREAM_LIST_EVERY_MS);

selectWindow(windowKey);
renderConnection();
socket.start();
