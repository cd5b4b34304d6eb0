import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpHandler, type HttpBackend } from '../../../src/gateway/http-api.ts';
import { createSearchRoute } from '../../../src/gateway/search-route.ts';
import { ReusableImageEmbedder } from '../../../src/indexing/image-embedder.ts';
import { IndexStore } from '../../../src/indexing/index-store.ts';
import { SearchResponseSchema } from '../../../src/indexing/search-types.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { Metrics } from '../../../src/shared/metrics.ts';
import { indexColourClips } from '../../helpers/colour-model.ts';
import { PICTURE_LIMITS, routeLimits } from '../../helpers/picture-limits.ts';
import { listenOnFreePort } from '../../helpers/ports.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-picture-engine-'));
const videos = join(dir, 'videos');
const model = join(dir, 'colour.onnx');
const labels = join(dir, 'colours.txt');
const db = join(dir, 'index.db');
const backend = { listStreams: () => [], hasStream: () => false, readiness: () => ({ ready: true, reasons: [] }) } as unknown as HttpBackend;
const logger = createLogger({ level: 'silent' });
let store: IndexStore;

function picture(colour: string): Buffer {
  const file = join(dir, `${colour}.png`);
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `color=c=${colour}:s=200x150`, '-frames:v', '1', file]);
  return readFileSync(file);
}

async function listen(server: Server): Promise<string> {
  return `http://127.0.0.1:${await listenOnFreePort(server)}`;
}

const post = (base: string, body: Uint8Array, query = '?limit=3'): Promise<Response> =>
  fetch(`${base}/api/search${query}`, { method: 'POST', body: new Blob([Uint8Array.from(body)]) });

async function firstHit(res: Response): Promise<{ video: string; ptsMs: number }> {
  assert.equal(res.status, 200, await res.clone().text());
  const hit = SearchResponseSchema.parse(await res.json()).hits[0];
  assert.ok(hit?.kind === 'frame');
  return { video: hit.video, ptsMs: hit.ptsMs };
}

before(async () => {
  await indexColourClips(
    { model, labels, videos, db },
    {
      'red-blue.mp4': [
        ['red', 2],
        ['blue', 2],
      ],
      'green.mp4': [['green', 2]],
    },
  );
  store = IndexStore.open(db, { readonly: true });
});

after(() => {
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('POST /api/search with a ReusableImageEmbedder (as serve --index runs it)', () => {
  test('starts no engine before the first picture, then one engine serves every picture, also ones sent together; close() closes it', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const embedder = new ReusableImageEmbedder({ ...PICTURE_LIMITS, metrics });
    const server = createServer(
      createHttpHandler({ backend, authorize: () => true, logger, search: createSearchRoute(store, routeLimits({ embedImage: embedder.embed })) }),
    );
    const base = await listen(server);
    try {
      assert.equal(embedder.enginesStarted, 0, 'lazy: nothing loaded before a picture comes');
      assert.equal(embedder.enginesOpen, 0);
      const red = await firstHit(await post(base, picture('red')));
      assert.ok(red.video.endsWith('red-blue.mp4') && red.ptsMs < 2000, JSON.stringify(red));
      const blue = await firstHit(await post(base, picture('blue')));
      assert.ok(blue.video.endsWith('red-blue.mp4') && blue.ptsMs >= 2000, JSON.stringify(blue));
      // Three at once: queued one at a time behind the same engine.
      const together = await Promise.all(['green', 'red', 'green'].map(async (c) => firstHit(await post(base, picture(c)))));
      assert.deepEqual(
        together.map((h) => h.video.split('/').pop()),
        ['green.mp4', 'red-blue.mp4', 'green.mp4'],
      );
      assert.equal(embedder.enginesStarted, 1, 'five pictures, one engine');
      assert.equal(embedder.enginesOpen, 1);
      assert.match((await metrics.render()).body, /^streamsight_search_image_engine_starts_total 1$/m);
    } finally {
      server.close();
      await embedder.close();
    }
    assert.equal(embedder.enginesOpen, 0, 'closed');
    await embedder.close(); // idempotent
    await assert.rejects(embedder.embed(join(dir, 'red.png'), model), { code: 'E_INFERENCE' }, 'a closed embedder starts no new engine');
    assert.equal(embedder.enginesStarted, 1);
  });

  test('a model file changed on disk gets a new engine; a picture that is not one leaves the engine in place', async () => {
    const embedder = new ReusableImageEmbedder(PICTURE_LIMITS);
    const server = createServer(
      createHttpHandler({ backend, authorize: () => true, logger, search: createSearchRoute(store, routeLimits({ embedImage: embedder.embed })) }),
    );
    const base = await listen(server);
    try {
      await firstHit(await post(base, picture('green')));
      const bad = await post(base, Buffer.from('not a picture\n'));
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'bad_picture');
      await firstHit(await post(base, picture('green')));
      assert.equal(embedder.enginesStarted, 1, "a bad picture is not the engine's fault");
      // Same bytes (the index's model hash still matches), a new mtime: as after `models pull` again.
      const later = new Date(Date.now() + 5_000);
      utimesSync(model, later, later);
      const green = await firstHit(await post(base, picture('green')));
      assert.ok(green.video.endsWith('green.mp4'));
      assert.equal(embedder.enginesStarted, 2);
      assert.equal(embedder.enginesOpen, 1, 'the old engine was closed');
    } finally {
      server.close();
      await embedder.close();
    }
  });

  test('a server without an index answers /api/search with 404 no_index, GET and POST alike', async () => {
    const server = createServer(createHttpHandler({ backend, authorize: () => true, logger }));
    const base = await listen(server);
    try {
      for (const res of [await fetch(`${base}/api/search?label=red`), await post(base, picture('red')), await fetch(`${base}/api/search/thumbnails/1.jpg`)]) {
        assert.equal(res.status, 404);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'no_index');
      }
      assert.equal(((await (await fetch(`${base}/api/searching`)).json()) as { error: { code: string } }).error.code, 'not_found');
    } finally {
      server.close();
    }
  });
});
