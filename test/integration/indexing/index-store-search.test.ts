import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpHandler, type HttpBackend } from '../../../src/gateway/http-api.ts';
import { createSearchRoute } from '../../../src/gateway/search-route.ts';
import { IndexStore, type FrameRecord, type VideoKey } from '../../../src/indexing/index-store.ts';
import { csvField, toWebVtt, vttTime } from '../../../src/indexing/exporters.ts';
import { labelMatches } from '../../../src/indexing/label-match.ts';
import { mulberry32 } from '../../../src/indexing/ivf-math.ts';
import { SearchResponseSchema } from '../../../src/indexing/search-types.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { IndexFileError } from '../../../src/shared/errors.ts';
import { routeLimits } from '../../helpers/picture-limits.ts';
import { listenOnFreePort } from '../../helpers/ports.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const DIM = 32;
const key = (path: string, modelHash = 'm1'): VideoKey => ({
  path,
  contentHash: 'h',
  sizeBytes: 1,
  model: 'm',
  modelHash,
  modelPath: '/m.onnx',
  untrained: true,
  embeddingDim: DIM,
  sampling: 'fps:1',
});
const info = { durationMs: 1000, fps: 25, width: 64, height: 64, codec: 'h264' };

/** Unit vectors around `centres` shots: neighbours exist, as in video. */
function vectors(n: number, seed: number): Float32Array[] {
  const rand = mulberry32(seed);
  const centres = Array.from({ length: 20 }, () => Float32Array.from({ length: DIM }, () => rand()));
  return Array.from({ length: n }, () => {
    const c = centres[Math.floor(rand() * centres.length)]!;
    const v = Float32Array.from(c, (x) => x + 0.2 * (rand() - 0.5));
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

function frames(vs: Float32Array[], from = 0, label = 'tabby, tabby cat'): FrameRecord[] {
  return vs.map((embedding, i) => ({ seq: from + i, ptsMs: (from + i) * 1000, labels: [{ index: 281, label, score: 0.9 }], embedding }));
}

describe('IndexStore', () => {
  test('refuses a file that is not an index, with E_INDEX', () => {
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'this is not sqlite at all, just text padding '.repeat(100));
    assert.throws(
      () => IndexStore.open(junk),
      (err: unknown) => err instanceof IndexFileError && err.code === 'E_INDEX',
    );
    assert.throws(() => IndexStore.open(join(dir, 'absent.db'), { readonly: true }), IndexFileError);
  });

  test('frames are committed in seq order: a gap or an overlap is refused and nothing of that batch is stored', () => {
    const store = IndexStore.open(join(dir, 'order.db'));
    const v = store.startVideo(key('/a.mp4'), info);
    const vs = vectors(6, 1);
    store.appendFrames(v.id, frames(vs.slice(0, 3)));
    assert.throws(() => store.appendFrames(v.id, frames(vs.slice(4, 6), 4)), RangeError);
    assert.throws(() => store.appendFrames(v.id, frames(vs.slice(2, 4), 2)), RangeError);
    assert.equal(store.video('/a.mp4')!.frames, 3);
    assert.equal([...store.frameLabels(v.id)].length, 3);
    store.close();
  });

  test('the IVF finds the same 10 nearest frames as the exact scan (recall@10 >= 0.95) and keeps new frames searchable', () => {
    const store = IndexStore.open(join(dir, 'ivf.db'));
    const v = store.startVideo(key('/big.mp4'), info);
    const vs = vectors(3000, 2);
    store.appendFrames(v.id, frames(vs));
    store.vectors.train('m1', { cells: 16 });
    assert.equal(store.vectors.info()?.cells, 16);
    const queries = vectors(20, 3);
    let found = 0;
    for (const q of queries) {
      const exact = new Set(store.vectors.search({ embedding: q, modelHash: 'm1', limit: 10, exact: true }).map((h) => h.frameId));
      found += store.vectors.search({ embedding: q, modelHash: 'm1', limit: 10 }).filter((h) => exact.has(h.frameId)).length;
    }
    assert.ok(found / 200 >= 0.95, `recall@10 ${found / 200}`);
    // A frame added after training goes into its cell at once: searching its own vector finds it first.
    const w = store.startVideo(key('/late.mp4'), info);
    const late = vectors(1, 4)[0]!;
    store.appendFrames(w.id, frames([late]));
    const hit = store.vectors.search({ embedding: late, modelHash: 'm1', limit: 1 })[0]!;
    assert.equal(store.db.prepare('SELECT video_id FROM frames WHERE id = ?').pluck().get(hit.frameId), w.id);
    // Re-indexing a video removes its old vectors with its frames.
    store.startVideo(key('/late.mp4'), info);
    assert.notEqual(store.vectors.search({ embedding: late, modelHash: 'm1', limit: 1 })[0]!.frameId, hit.frameId);
    store.close();
  });
});

describe('GET /api/search', () => {
  test("label and frame searches with the CLI's options; thumbnails; bad queries are 400; other routes unchanged", async () => {
    const file = join(dir, 'http.db');
    const w = IndexStore.open(file);
    const v = w.startVideo(key('/videos/cat.mp4'), info);
    const recs = frames(vectors(5, 5));
    recs[0]!.thumbnail = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
    w.appendFrames(v.id, recs);
    w.finishVideo(v.id, [{ stream: '/videos/cat.mp4', label: 'tabby, tabby cat', startMs: 0, endMs: 4000, peakScore: 0.9 }]);
    w.close();
    const store = IndexStore.open(file, { readonly: true });
    const backend = { listStreams: () => [], hasStream: () => false, readiness: () => ({ ready: true, reasons: [] }) } as unknown as HttpBackend;
    const handler = createHttpHandler({
      backend,
      authorize: () => true,
      logger: createLogger({ level: 'silent' }),
      search: createSearchRoute(store, routeLimits()),
    });
    const server: Server = createServer(handler);
    const base = `http://127.0.0.1:${await listenOnFreePort(server)}`;
    try {
      const byLabel = SearchResponseSchema.parse(await (await fetch(`${base}/api/search?label=Tabby&limit=5`)).json());
      assert.equal(byLabel.hits.length, 1);
      assert.equal(byLabel.hits[0]!.kind, 'segment');
      const frameId = byLabel.hits[0]!.frameId!;
      const thumb = await fetch(`${base}/api/search/thumbnails/${frameId}.jpg`);
      assert.equal(thumb.headers.get('content-type'), 'image/jpeg');
      const byFrame = SearchResponseSchema.parse(await (await fetch(`${base}/api/search?frame=${encodeURIComponent('cat.mp4@2')}&limit=3`)).json());
      assert.equal(byFrame.hits[0]!.kind === 'frame' && byFrame.hits[0]!.ptsMs, 2000);
      assert.equal((await fetch(`${base}/api/search?label=a&frame=b@1`)).status, 400);
      assert.equal((await fetch(`${base}/api/search?limit=5`)).status, 400);
      assert.equal((await fetch(`${base}/api/search?frame=nope.mp4@1`)).status, 404);
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      assert.equal((await fetch(`${base}/api/nothing`)).status, 404);
    } finally {
      server.close();
      store.close();
    }
  });
});

describe('label names, exports', () => {
  test('a label matches by its full name or any ImageNet synonym, in any case', () => {
    assert.ok(labelMatches('TABBY', 'tabby, tabby cat'));
    assert.ok(labelMatches(' tabby cat ', 'tabby, tabby cat'));
    assert.ok(labelMatches('tabby, tabby cat', 'tabby, tabby cat'));
    assert.ok(!labelMatches('cat', 'tabby, tabby cat'));
    assert.ok(!labelMatches('', 'red'));
  });

  test('WebVTT: cue times, "-->" kept out of cue text; CSV quoting', () => {
    assert.equal(vttTime(3_723_004), '01:02:03.004');
    const vtt = toWebVtt([{ video: 'v', label: 'a --> b', startMs: 1000, endMs: 1000, peakScore: 0.5 }]);
    assert.equal(vtt, 'WEBVTT\n\n1\n00:00:01.000 --> 00:00:01.001\na -> b (0.50)\n');
    assert.equal(csvField('tabby, "cat"'), '"tabby, ""cat"""');
  });
});
