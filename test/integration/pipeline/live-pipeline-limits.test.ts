/**
 * serve's embedded pipeline passes the file-source limits to ffmpeg: a
 * video over `maxPixels` and a playlist file fail with their one-line
 * reason in the stream's status, and never go live.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StreamStatus } from '../../../src/contracts/results.ts';
import { DEFAULTS } from '../../../src/config/schema.ts';
import { InferenceEngine } from '../../../src/inference/inference-engine.ts';
import { loadModel } from '../../../src/inference/model-loader.ts';
import { synthResnet } from '../../../src/inference/resnet-synth.ts';
import { LivePipeline } from '../../../src/pipeline/live-pipeline.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { Metrics } from '../../../src/shared/metrics.ts';
import { makeClip } from '../../helpers/clips.ts';
import { watchdogTuning } from '../../helpers/watchdog.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-live-limits-'));
const modelFile = join(dir, 'r18.onnx');
const clip = join(dir, 'qvga.mp4');
const playlist = join(dir, 'list.m3u8');

before(() => {
  writeFileSync(modelFile, synthResnet({ arch: 'resnet18', seed: 1 }));
  makeClip(clip, { seconds: 2, size: '320x240', rate: 10 });
  writeFileSync(playlist, `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n${clip}\n#EXT-X-ENDLIST\n`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test(
  'a 320x240 file over maxPixels 10000 and a playlist file fail with their reason and never go live; at 76800 the file goes live',
  { timeout: 60_000 },
  async () => {
    const model = loadModel(modelFile);
    const engine = await InferenceEngine.start(model, { device: 'cpu', threads: 1, topK: 5, embeddings: false });
    const statuses: StreamStatus[] = [];
    const start = (maxPixels: number): LivePipeline => {
      const p = new LivePipeline({
        model,
        engine,
        batch: 4,
        maxPixels,
        live: { fps: 5, fileFps: 5, bufferFrames: 2, batchWaitMs: 20 },
        events: DEFAULTS.events,
        allowlist: undefined,
        metrics: new Metrics({ processMetrics: false }),
        logger: createLogger({ level: 'silent' }),
        watchdog: watchdogTuning(),
        sink: { publishFrame: () => undefined, publishEvent: () => undefined, publishStatus: (s) => statuses.push(s) },
      });
      p.start();
      return p;
    };
    const settled = async (id: string): Promise<StreamStatus> => {
      for (let i = 0; i < 200; i++) {
        const s = statuses.find((x) => x.stream === id && (x.state === 'failed' || x.state === 'ended'));
        if (s) return s;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`${id} did not end: ${JSON.stringify(statuses)}`);
    };
    const small = start(10_000);
    const large = start(76_800);
    try {
      await small.addSource({ id: 'big', url: clip });
      await small.addSource({ id: 'list', url: playlist });
      await large.addSource({ id: 'fits', url: clip });
      const big = await settled('big');
      assert.equal(big.state, 'failed');
      assert.ok(big.detail?.startsWith(`${clip} is 320x240 (76800 pixels), above the limit of 10000 pixels (decode.maxPixels): not decoded`), big.detail);
      const list = await settled('list');
      assert.equal(list.state, 'failed');
      assert.ok(list.detail?.startsWith(`${playlist} is an HLS playlist (format hls): a file source must be one video file`), list.detail);
      for (let i = 0; i < 200 && !statuses.some((s) => s.stream === 'fits' && s.state === 'live'); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(
        statuses.some((s) => s.stream === 'fits' && s.state === 'live'),
        JSON.stringify(statuses),
      );
      assert.ok(!statuses.some((s) => (s.stream === 'big' || s.stream === 'list') && s.state === 'live'));
    } finally {
      await small.close();
      await large.close();
      await engine.close();
    }
  },
);
