/**
 * Live latency: frame out of ffmpeg to result, p50/p99, for 1, 4 and 8 live
 * streams at 5 fps on resnet18 (`serve`'s pipeline: bounded per-stream
 * buffers, batches across streams, the inference thread), against the time
 * of one inference batch measured in the same run; then under overload
 * (twice the frames inference can take), where p99 must stay within a small
 * multiple of the batch time and the drop rate match the excess.
 *
 * Sources are clips played as cameras (`-re`, looped): one ffmpeg each, as
 * with real cameras, without a network in between.
 *
 *   node --import tsx bench/live-latency.ts [--quick] [--batch N] [--threads N] [--device cpu|cuda|auto] [--json-out FILE]
 *
 * Prints a table, then one JSON line (the last line of stdout).
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Frame } from '../src/contracts/frame.ts';
import type { FrameResult } from '../src/contracts/results.ts';
import { DEFAULTS } from '../src/config/schema.ts';
import { InferenceEngine } from '../src/inference/inference-engine.ts';
import { loadModel } from '../src/inference/model-loader.ts';
import { tuningFromSettings } from '../src/ingest/source-watchdog.ts';
import type { DeviceChoice } from '../src/inference/ort-session.ts';
import { LivePipeline } from '../src/pipeline/live-pipeline.ts';
import { createLogger } from '../src/shared/logger.ts';
import { Metrics } from '../src/shared/metrics.ts';
import { DEFAULT_CACHE_DIR, ensureClip, ensureModel } from './fixtures.ts';

export interface LiveLatencyOptions {
  /** Short phases, fewer stream counts: a smoke run, not a benchmark. */
  quick?: boolean;
  /** Frames per batch (default 8). */
  batch?: number;
  /** ONNX Runtime intra-op threads, 0 = one per physical core this process may use (within a cgroup v2 CPU quota). */
  threads?: number;
  device?: DeviceChoice;
  /** Stream counts at `fps` (default 1, 4, 8; quick: 1, 4). */
  streams?: readonly number[];
  /** Sampled frames per second per stream (default 5). */
  fps?: number;
  /** Measured seconds per phase, after a warm-up (default 12; quick 4). */
  seconds?: number;
  cacheDir?: string;
  log?: (line: string) => void;
}

export interface LatencyPhase {
  name: string;
  streams: number;
  fpsPerStream: number;
  /** Frames per second offered to inference. */
  offeredFps: number;
  results: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** p99 over one batch time. */
  p99OverBatch: number;
  decoded: number;
  processed: number;
  dropped: number;
  /** dropped / decoded. */
  dropRate: number;
  /** 1 - capacity / offered, floored at 0: what overload must drop. */
  expectedDropRate: number;
}

export interface LiveLatencyReport {
  bench: 'live-latency';
  model: 'resnet18';
  untrained: true;
  provider: string;
  batch: number;
  /** One inference batch of `batch` frames, median, ms. */
  batchMs: number;
  /** Frames per second inference takes at most (batch / batchMs). */
  capacityFps: number;
  phases: LatencyPhase[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function counterSum(metrics: Metrics, name: string): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  return (await metric.get()).values.reduce((s, v) => s + v.value, 0);
}

async function measureBatchMs(engine: InferenceEngine, batch: number, width: number, height: number, repeats: number): Promise<number> {
  const frames: Frame[] = Array.from({ length: batch }, (_, i) => ({
    streamId: 'b',
    runId: 'b',
    seq: i,
    ptsMs: 0,
    capturedAt: 0,
    width,
    height,
    data: Buffer.alloc(width * height * 3, (i * 37) & 255),
  }));
  await engine.infer(frames); // warm-up: first run allocates
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await engine.infer(frames);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export async function runLiveLatencyBench(opts: LiveLatencyOptions = {}): Promise<LiveLatencyReport> {
  const quick = opts.quick ?? false;
  const log = opts.log ?? (() => undefined);
  const batch = opts.batch ?? 8;
  const fps = opts.fps ?? 5;
  const seconds = opts.seconds ?? (quick ? 4 : 12);
  const warmupMs = quick ? 1500 : 3000;
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  const modelFile = await ensureModel(cacheDir, 'resnet18', log);
  // 30 fps source: enough frames for any per-stream rate the overload phase asks for.
  const clip = await ensureClip(cacheDir, { width: 320, height: 240, fps: 30, seconds: 20 }, log);
  const model = loadModel(modelFile);
  const engine = await InferenceEngine.start(model, { device: opts.device ?? 'cpu', threads: opts.threads ?? 0, topK: 5, embeddings: false });
  try {
    const { inputWidth: w, inputHeight: h } = model.preprocess;
    const batchMs = await measureBatchMs(engine, batch, w, h, quick ? 5 : 15);
    const capacityFps = (batch * 1000) / batchMs;
    log(`one batch of ${batch}: ${batchMs.toFixed(1)} ms (capacity ${capacityFps.toFixed(1)} frames/s on ${engine.provider})`);

    const plans: Array<{ name: string; streams: number; fps: number }> = (opts.streams ?? (quick ? [1, 4] : [1, 4, 8])).map((n) => ({
      name: `${n} x ${fps} fps`,
      streams: n,
      fps,
    }));
    // Overload: twice what inference takes, over 4 streams (at most 30 fps each, the clip's rate).
    const offered = 2 * capacityFps;
    const overloadStreams = Math.max(4, Math.ceil(offered / 30));
    plans.push({ name: `overload 2x (${overloadStreams} streams)`, streams: overloadStreams, fps: Math.round((offered / overloadStreams) * 10) / 10 });

    const phases: LatencyPhase[] = [];
    for (const plan of plans) {
      log(`phase ${plan.name}: ${seconds} s`);
      const metrics = new Metrics({ processMetrics: false });
      const results: FrameResult[] = [];
      let measuring = false;
      const pipeline = new LivePipeline({
        model,
        engine,
        batch,
        live: { fps: plan.fps, fileFps: DEFAULTS.sampling.fps, bufferFrames: DEFAULTS.live.bufferFrames, batchWaitMs: DEFAULTS.live.batchWaitMs },
        watchdog: tuningFromSettings(DEFAULTS.watchdog),
        events: DEFAULTS.events,
        allowlist: undefined,
        metrics,
        logger: createLogger({ level: 'silent' }),
        sink: {
          publishFrame: (r) => {
            if (measuring) results.push(r);
          },
          publishEvent: () => undefined,
          publishStatus: () => undefined,
        },
      });
      pipeline.start();
      for (let i = 0; i < plan.streams; i++) pipeline.addSource({ id: `cam${i}`, url: clip, live: true, loop: true, fps: plan.fps });
      await new Promise((r) => setTimeout(r, warmupMs));
      const d0 = await counterSum(metrics, 'streamsight_frames_decoded_total');
      const p0 = await counterSum(metrics, 'streamsight_frames_processed_total');
      const x0 = await counterSum(metrics, 'streamsight_frames_dropped_total');
      measuring = true;
      await new Promise((r) => setTimeout(r, seconds * 1000));
      measuring = false;
      const decoded = (await counterSum(metrics, 'streamsight_frames_decoded_total')) - d0;
      const processed = (await counterSum(metrics, 'streamsight_frames_processed_total')) - p0;
      const dropped = (await counterSum(metrics, 'streamsight_frames_dropped_total')) - x0;
      await pipeline.close();
      const lat = results.map((r) => r.latencyMs).sort((a, b) => a - b);
      const offeredFps = plan.streams * plan.fps;
      phases.push({
        name: plan.name,
        streams: plan.streams,
        fpsPerStream: plan.fps,
        offeredFps,
        results: lat.length,
        p50Ms: percentile(lat, 50),
        p99Ms: percentile(lat, 99),
        maxMs: lat.at(-1) ?? NaN,
        p99OverBatch: Math.round((percentile(lat, 99) / batchMs) * 100) / 100,
        decoded,
        processed,
        dropped,
        dropRate: decoded > 0 ? Math.round((dropped / decoded) * 1000) / 1000 : 0,
        expectedDropRate: Math.round(Math.max(0, 1 - capacityFps / offeredFps) * 1000) / 1000,
      });
    }
    return {
      bench: 'live-latency',
      model: 'resnet18',
      untrained: true,
      provider: engine.provider,
      batch,
      batchMs: Math.round(batchMs * 10) / 10,
      capacityFps: Math.round(capacityFps * 10) / 10,
      phases,
    };
  } finally {
    await engine.close();
  }
}

export function formatLiveLatency(report: LiveLatencyReport): string {
  const head = ['phase', 'offered fps', 'results', 'p50 ms', 'p99 ms', 'p99 / batch', 'drop rate', 'expected drop'];
  const rows = report.phases.map((p) => [
    p.name,
    p.offeredFps.toFixed(1),
    String(p.results),
    p.p50Ms.toFixed(0),
    p.p99Ms.toFixed(0),
    p.p99OverBatch.toFixed(2),
    p.dropRate.toFixed(3),
    p.expectedDropRate.toFixed(3),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    `live latency, resnet18 (UNTRAINED, synthesized), ${report.provider}, batch ${report.batch}: one batch ${report.batchMs} ms, capacity ${report.capacityFps} frames/s`,
    line(head),
    ...rows.map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      batch: { type: 'string' },
      threads: { type: 'string' },
      device: { type: 'string' },
      'json-out': { type: 'string' },
    },
  });
  const report = await runLiveLatencyBench({
    quick: values.quick,
    ...(values.batch ? { batch: Number(values.batch) } : {}),
    ...(values.threads ? { threads: Number(values.threads) } : {}),
    ...(values.device ? { device: values.device as DeviceChoice } : {}),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${formatLiveLatency(report)}\n`);
  const json = JSON.stringify(report);
  if (values['json-out']) writeFileSync(values['json-out'], `${json}\n`);
  process.stdout.write(`${json}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
