/* global document, fetch, URL, URLSearchParams, FormData, history, location */
// The search page: GET api/search with the form's fields, or POST api/search
// with a picture (file input, or dropped on the page) and the form's filters;
// hits shown as thumbnails with their video, time and score. Text only ever
// goes in through textContent (labels, paths and file names are data, not markup).

const form = document.querySelector('[data-testid="search-form"]');
const pictureInput = document.querySelector('[data-testid="search-picture"]');
const preview = document.querySelector('[data-testid="picture-preview"]');
const status = document.querySelector('[data-testid="search-status"]');
const hitsBox = document.querySelector('[data-testid="search-hits"]');

// As on the live dashboard: a token in the page URL goes with every API call.
const token = new URLSearchParams(location.search).get('token');
const authHeaders = token ? { Authorization: `Bearer ${token}` } : {};
if (token) document.querySelector('[data-testid="live-link"]').href = `../?${new URLSearchParams({ token })}`;

/** The filters a picture search takes; the others belong to GET. */
const PICTURE_FILTERS = ['video', 'limit', 'minScore'];

/** `m:ss.s` or `h:mm:ss.s`. */
export function formatTime(ms) {
  const total = Math.max(0, ms) / 1000;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = (total % 60).toFixed(1).padStart(4, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** One line for a refused search, saying what can be done about it. */
export function problemText(httpStatus, error, hasToken) {
  const message = error?.message ?? `HTTP ${httpStatus}`;
  if (error?.code === 'no_index') return 'this server has no index: start it with `streamsight serve --index FILE`';
  if (httpStatus === 401) return hasToken ? 'the server refused the token' : 'this server needs a token: open the page with ?token=…';
  if (httpStatus === 413) return `the picture is too large for the server (${message})`;
  if (httpStatus === 415 || error?.code === 'bad_picture') return `not a picture the server can read: ${message}`;
  if (httpStatus === 503) return 'the server is busy with other picture searches: try again in a moment';
  return message;
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderHit(hit) {
  const card = el('figure', { class: 'hit', 'data-testid': 'search-hit', 'data-video': hit.video, 'data-score': String(hit.score) });
  if (hit.frameId !== null && hit.frameId !== undefined) {
    card.append(el('img', { src: `../api/search/thumbnails/${hit.frameId}.jpg`, alt: '', loading: 'lazy', width: '96', height: '96' }));
  }
  const segment = hit.kind === 'segment';
  card.setAttribute('data-ms', String(segment ? hit.startMs : hit.ptsMs));
  const time = segment ? `${formatTime(hit.startMs)}–${formatTime(hit.endMs)}` : formatTime(hit.ptsMs);
  const caption = el('figcaption');
  caption.append(
    el('div', { class: 'hit-label' }, segment ? hit.label : hit.topLabel),
    el('div', { class: 'hit-time', 'data-testid': 'hit-time' }, time),
    // Segments rank by peak probability; frames (picture, frame searches) by cosine similarity.
    el('div', { class: 'hit-score' }, `${segment ? 'score' : 'similarity'} ${hit.score.toFixed(3)}`),
    el('div', { class: 'hit-video', 'data-testid': 'hit-video', title: hit.video }, hit.video.split('/').pop()),
  );
  card.append(caption);
  return card;
}

// Only the latest search may fill the page: an older answer arriving late is dropped.
let latest = 0;

async function run(what, request) {
  const mine = ++latest;
  status.textContent = `searching${what}…`;
  status.removeAttribute('data-error');
  hitsBox.replaceChildren();
  const res = await request();
  const body = await res.json().catch(() => ({}));
  if (mine !== latest) return;
  if (!res.ok || !Array.isArray(body.hits)) {
    status.textContent = `error: ${problemText(res.status, body.error, token !== null)}`;
    status.setAttribute('data-error', body.error?.code ?? String(res.status));
    return;
  }
  const warnings = Array.isArray(body.warnings) && body.warnings.length > 0 ? ` · warning: ${body.warnings.join('; ')}` : '';
  status.textContent = `${body.hits.length} hit(s)${what} in ${body.tookMs} ms${body.vectorSearch ? ` (${body.vectorSearch})` : ''}${warnings}`;
  hitsBox.replaceChildren(...body.hits.map(renderHit));
}

function fail(err) {
  status.textContent = `error: ${err.message}`;
  status.setAttribute('data-error', 'network');
}

function search(params) {
  return run('', () => fetch(`../api/search?${params}`, { headers: authHeaders }));
}

/** The picture's bytes as the body, the form's filters in the query string (POST /api/search). */
function searchPicture(file) {
  const params = new URLSearchParams();
  for (const k of PICTURE_FILTERS) {
    const v = String(form.elements[k].value).trim();
    if (v !== '') params.set(k, v);
  }
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  const headers = { ...authHeaders, 'Content-Type': file.type || 'application/octet-stream' };
  return run(` for picture ${file.name}`, () => fetch(`../api/search?${params}`, { method: 'POST', body: file, headers }));
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (String(v).trim() !== '') params.set(k, String(v).trim());
  const shown = new URLSearchParams(params);
  if (token) shown.set('token', token);
  history.replaceState(null, '', `?${shown}`);
  preview.hidden = true;
  search(params).catch(fail);
});

pictureInput.addEventListener('change', () => {
  const file = pictureInput.files?.[0];
  if (file) searchPicture(file).catch(fail);
  // Choosing the same file again is a new search.
  pictureInput.value = '';
});

// A picture dropped anywhere on the page: without preventDefault the browser would open it instead.
const carriesFiles = (e) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
document.addEventListener('dragover', (e) => {
  if (!carriesFiles(e)) return;
  e.preventDefault();
  document.body.classList.add('dropping');
});
document.addEventListener('dragleave', (e) => {
  if (e.relatedTarget === null) document.body.classList.remove('dropping');
});
document.addEventListener('drop', (e) => {
  if (!carriesFiles(e)) return;
  e.preventDefault();
  document.body.classList.remove('dropping');
  const file = e.dataTransfer.files[0];
  if (file) searchPicture(file).catch(fail);
});

// A shared link (search.html?label=cat) runs its search at once.
const initial = new URLSearchParams(location.search);
initial.delete('token');
if (initial.has('label') || initial.has('frame')) {
  for (const [k, v] of initial) if (form.elements[k]) form.elements[k].value = v;
  search(initial).catch(fail);
}
