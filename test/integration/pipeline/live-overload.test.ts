import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FrameResult, StreamStatus } from '../../../src/contracts/results.ts';
import { DEFAULTS } from '../../../src/config/schema.ts';
import { InferenceEngine } from '../../../src/inference/inference-engine.ts';
import { loadModel } from '../../../src/inference/model-loader.ts';
import { synthResnet } from '../../../src/inference/resnet-synth.ts';
import { LivePipeline } from '../../../src/pipeline/live-pipeline.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { Metrics } from '../../../src/shared/metrics.ts';
import { makeClip } from '../../helpers/clips.ts';
import { watchdogTuning } from '../../helpers/watchdog.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-overload-'));
const modelFile = join(dir, 'r50.onnx');
const clip = join(dir, 'clip.mp4');

before(() => {
  writeFileSync(modelFile, synthResnet({ arch: 'resnet50', seed: 1 }));
  makeClip(clip, { seconds: 20, rate: 25, gop: 25 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function counter(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((s, v) => s + v.value, 0);
}

test('four live streams faster than inference: oldest frames dropped and counted, latency stays flat', async () => {
  const model = loadModel(modelFile);
  const engine = await InferenceEngine.start(model, { device: 'cpu', threads: 0, topK: 5, embeddings: false });
  const metrics = new Metrics({ processMetrics: false });
  const results: FrameResult[] = [];
  const statuses: StreamStatus[] = [];
  const pipeline = new LivePipeline({
    model,
    engine,
    batch: 4,
    live: { fps: 10, fileFps: 1, bufferFrames: 2, batchWaitMs: 50 },
    events: DEFAULTS.events,
    allowlist: undefined,
    metrics,
    logger: createLogger({ level: 'silent' }),
    watchdog: watchdogTuning(),
    sink: { publishFrame: (r) => results.push(r), publishEvent: () => undefined, publishStatus: (s) => statuses.push(s) },
  });
  pipeline.start();
  const ids = ['a', 'b', 'c', 'd'];
  // 4 streams x 10 frames/s = 40 frames/s offered; an untrained resnet50 on this machine takes far fewer.
  for (const id of ids) pipeline.addSource({ id, url: clip, live: true, loop: true });
  await new Promise((r) => setTimeout(r, 15_000));
  await pipeline.close();
  await engine.close();

  assert.deepEqual([...new Set(statuses.filter((s) => s.state === 'live').map((s) => s.stream))].sort(), ids);
  let totalDropped = 0;
  for (const id of ids) {
    const decoded = await counter(metrics, 'streamsight_frames_decoded_total', { stream: id });
    const processed = await counter(metrics, 'streamsight_frames_processed_total', { stream: id });
    const dropped = await counter(metrics, 'streamsight_frames_dropped_total', { stream: id });
    const waiting = 2; // at most bufferFrames per stream still waiting when the pipeline stopped
    assert.ok(processed > 0, `${id}: processed ${processed}`);
    assert.ok(
      decoded - processed - dropped >= 0 && decoded - processed - dropped <= waiting + 4,
      `${id}: decoded ${decoded} processed ${processed} dropped ${dropped}`,
    );
    totalDropped += dropped;
  }
  assert.ok(totalDropped > 0, 'inference is slower than the sources, so frames must be dropped');

  // Latency in the last third of the run is not growing compared with the first third (after warm-up).
  const lat = results.map((r) => r.latencyMs);
  const third = Math.floor(lat.length / 3);
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const early = median(lat.slice(third, 2 * third));
  const late = median(lat.slice(2 * third));
  assert.ok(late < early * 2 + 200, `latency grew: middle third median ${early} ms, last third ${late} ms`);
  // Fair across streams: each got a share of the processed frames.
  const per = ids.map((id) => results.filter((r) => r.stream === id).length);
  assert.ok(Math.min(...per) >= Math.max(...per) / 3, `unfair shares: ${per.join(', ')}`);
});
