import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpHandler, type HttpBackend } from '../../../src/gateway/http-api.ts';
import { createSearchRoute } from '../../../src/gateway/search-route.ts';
import { IndexStore } from '../../../src/indexing/index-store.ts';
import { SearchResponseSchema } from '../../../src/indexing/search-types.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { indexColourClips } from '../../helpers/colour-model.ts';
import { routeLimits } from '../../helpers/picture-limits.ts';
import { listenOnFreePort } from '../../helpers/ports.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-picture-http-'));
const videos = join(dir, 'videos');
const model = join(dir, 'colour.onnx');
const labels = join(dir, 'colours.txt');
const db = join(dir, 'index.db');
let server: Server;
let store: IndexStore;
let base: string;
/** What the handler's authorize() answers (a token configured and missing or wrong: false). */
let tokenGiven = true;

function picture(colour: string, format: 'png' | 'jpg'): Buffer {
  const file = join(dir, `${colour}.${format}`);
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `color=c=${colour}:s=200x150`, '-frames:v', '1', file]);
  return readFileSync(file);
}

const post = (body: Uint8Array, query = ''): Promise<Response> =>
  fetch(`${base}/api/search${query}`, { method: 'POST', body: new Blob([Uint8Array.from(body)]), headers: { 'content-type': 'application/octet-stream' } });

before(async () => {
  await indexColourClips(
    { model, labels, videos, db },
    {
      'red-blue.mp4': [
        ['red', 3],
        ['blue', 3],
      ],
      'green.mp4': [['green', 4]],
    },
  );
  store = IndexStore.open(db, { readonly: true });
  const backend = { listStreams: () => [], hasStream: () => false, readiness: () => ({ ready: true, reasons: [] }) } as unknown as HttpBackend;
  const search = createSearchRoute(store, routeLimits({ maxImageBytes: 64 * 1024 }));
  server = createServer(createHttpHandler({ backend, authorize: () => tokenGiven, logger: createLogger({ level: 'silent' }), search }));
  base = `http://127.0.0.1:${await listenOnFreePort(server)}`;
});

after(() => {
  server?.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('POST /api/search (search by picture over HTTP)', () => {
  test('a posted picture finds the frames of its colour first, with the query options of GET (video, limit, minScore)', async () => {
    for (const [colour, format, video, fromMs, toMs] of [
      ['red', 'png', 'red-blue.mp4', 0, 3000],
      ['blue', 'jpg', 'red-blue.mp4', 3000, 6000],
      ['green', 'png', 'green.mp4', 0, 4000],
    ] as const) {
      const res = await post(picture(colour, format), '?limit=4');
      assert.equal(res.status, 200, await res.clone().text());
      const r = SearchResponseSchema.parse(await res.json());
      assert.equal(r.hits.length, 4);
      for (const h of r.hits) {
        assert.ok(h.kind === 'frame', 'frame hits');
        assert.ok(h.video.endsWith(video) && h.ptsMs >= fromMs && h.ptsMs < toMs, `${colour}: hit at ${h.video} ${h.ptsMs} ms`);
        assert.equal(h.topLabel, colour);
        assert.ok(h.score > 0.99, `${colour}: similarity ${h.score}`);
      }
      assert.equal(r.query.image, 'request body');
    }
    const onlyGreen = SearchResponseSchema.parse(await (await post(picture('red', 'png'), '?video=green.mp4&limit=3')).json());
    assert.ok(onlyGreen.hits.length > 0 && onlyGreen.hits.every((h) => h.video.endsWith('green.mp4')));
    const strict = SearchResponseSchema.parse(await (await post(picture('red', 'png'), '?minScore=0.99&limit=100')).json());
    assert.equal(strict.hits.length, 6, 'only the 6 red frames (3 s at 2 fps) are that similar');
    assert.deepEqual(
      readdirSync(tmpdir()).filter((n) => n.startsWith('ss-query-')),
      [],
      'no temporary picture left behind',
    );
  });

  test('bad requests: not a picture 400, empty 400, too large 413, unknown option 400, POST elsewhere 405', async () => {
    const notPicture = await post(Buffer.from('definitely not an image\n'));
    assert.equal(notPicture.status, 400);
    const body = (await notPicture.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'bad_picture');
    assert.doesNotMatch(body.error.message, /ss-query-/, 'the temporary file is not named');
    assert.equal((await post(new Uint8Array(0))).status, 400);
    assert.equal((await post(new Uint8Array(65 * 1024))).status, 413);
    assert.equal((await post(picture('red', 'png'), '?label=red')).status, 400);
    assert.equal((await fetch(`${base}/api/search/thumbnails/1.jpg`, { method: 'POST', body: 'x' })).status, 405);
    // The route still answers after all that.
    assert.equal((await post(picture('red', 'png'), '?limit=1')).status, 200);
  });

  test('with a token configured, a search by picture without it is 401 (it runs the model); GET searches stay open as GET /api/streams is', async () => {
    tokenGiven = false;
    try {
      const res = await post(picture('red', 'png'));
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unauthorized');
      assert.equal((await fetch(`${base}/api/search?label=red`)).status, 200);
    } finally {
      tokenGiven = true;
    }
  });
});
