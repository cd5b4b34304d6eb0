/* global document, fetch, URLSearchParams, FormData, history, location */
// The search page: GET api/search with the form's fields, hits shown as
// thumbnails with their video, time and score. Text only ever goes in
// through textContent (labels and paths are data, not markup).

const form = document.querySelector('[data-testid="search-form"]');
const status = document.querySelector('[data-testid="search-status"]');
const hitsBox = document.querySelector('[data-testid="search-hits"]');

/** `m:ss.s` or `h:mm:ss.s`. */
export function formatTime(ms) {
  const total = Math.max(0, ms) / 1000;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = (total % 60).toFixed(1).padStart(4, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderHit(hit) {
  const card = el('figure', { class: 'hit', 'data-testid': 'search-hit' });
  if (hit.frameId !== null && hit.frameId !== undefined) {
    card.append(el('img', { src: `../api/search/thumbnails/${hit.frameId}.jpg`, alt: '', loading: 'lazy', width: '96', height: '96' }));
  }
  const time = hit.kind === 'segment' ? `${formatTime(hit.startMs)}–${formatTime(hit.endMs)}` : formatTime(hit.ptsMs);
  const caption = el('figcaption');
  caption.append(
    el('div', { class: 'hit-label' }, hit.kind === 'segment' ? hit.label : hit.topLabel),
    el('div', { class: 'hit-time', 'data-testid': 'hit-time' }, time),
    el('div', { class: 'hit-score' }, `score ${hit.score.toFixed(3)}`),
    el('div', { class: 'hit-video', title: hit.video }, hit.video.split('/').pop()),
  );
  card.append(caption);
  return card;
}

async function search(params) {
  status.textContent = 'searching…';
  hitsBox.replaceChildren();
  const res = await fetch(`../api/search?${params}`);
  const body = await res.json();
  if (!res.ok) {
    status.textContent = `error: ${body.error?.message ?? res.status}`;
    return;
  }
  status.textContent = `${body.hits.length} hit(s) in ${body.tookMs} ms${body.vectorSearch ? ` (${body.vectorSearch})` : ''}`;
  hitsBox.replaceChildren(...body.hits.map(renderHit));
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (String(v).trim() !== '') params.set(k, String(v).trim());
  history.replaceState(null, '', `?${params}`);
  search(params).catch((err) => (status.textContent = `error: ${err.message}`));
});

// A shared link (search.html?label=cat) runs its search at once.
const initial = new URLSearchParams(location.search);
if (initial.has('label') || initial.has('frame')) {
  for (const [k, v] of initial) if (form.elements[k]) form.elements[k].value = v;
  search(initial).catch((err) => (status.textContent = `error: ${err.message}`));
}
