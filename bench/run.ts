/**
 * `npm run bench` / `streamsight bench`: measures, in one run and with the
 * same batch, thread count and device everywhere,
 *   ceiling    ONNX Runtime alone on ready tensors (raw session, and the engine analyze uses);
 *   inference  analyze end to end on a clip that is cheap to decode, against the ceiling;
 *   decode     analyze --fps 1 on a long 1080p clip against ffmpeg alone running the same
 *              filter chain, and --keyframes against full decoding;
 *   memory     peak RSS of analyze (node + ffmpeg) on a short and a 10x longer clip;
 *   cameras    the largest N of live 5 frames/s cameras carried, with and without --skip-unchanged (bench/cameras.ts);
 *   quantize   INT8 against FP32: ceilings at batch 1 and 8 (resnet18, resnet50), analyze end to
 *              end against ceiling and shared-CPU bound for each, agreement (bench/quantize.ts).
 * Prints a table, then one JSON line (the last line of stdout).
 *
 * Flags: --quick (smoke run, resnet18 and small clips), --only NAME...,
 * --json-out FILE, --batch N, --threads N, --device auto|cpu|cuda, --cache-dir DIR,
 * --vectors N,... (index suite's vector counts; 1000000 is opt-in).
 */
import { frameGeometry } from '../src/contracts/preprocess.ts';
import { DEFAULTS } from '../src/config/schema.ts';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { buildDecodeArgs } from '../src/ingest/ffmpeg-args.ts';
import { loadModel } from '../src/inference/model-loader.ts';
import type { DeviceChoice } from '../src/inference/ort-session.ts';
import type { Sampling } from '../src/contracts/frame.ts';
import { runAnalyzeCli, type AnalyzeRun } from './analyze-run.ts';
import { measureEngineCeiling, measureRawCeiling, type CeilingOptions } from './ceiling.ts';
import { DEFAULT_CACHE_DIR, ensureClip, ensureModel, type ClipSpec } from './fixtures.ts';
import { formatTable, ratioOf, type BenchReport, type Measurement, type Ratio } from './report.ts';
import { runTimed, type TimedRun } from './timed-process.ts';

export const SUITE_NAMES = ['startup', 'ceiling', 'inference', 'decode', 'memory', 'ws', 'live', 'cameras', 'distributed', 'index', 'quantize'] as const;
export type SuiteName = (typeof SUITE_NAMES)[number];

export interface BenchOptions {
  /** Smoke run: small clips, resnet18 everywhere, one repeat. Its numbers are not benchmarks. */
  quick: boolean;
  /** Suites to run (default all); `inference` also measures the ceiling it is compared with. */
  only?: readonly string[];
  /** Frames per inference call, everywhere (default 8). */
  batch?: number;
  /** ONNX Runtime intra-op threads, everywhere; 0 = one per physical core this process may use (default 0, as analyze). */
  threads?: number;
  device?: DeviceChoice;
  /** Generated clips and synthesized models (default `.bench-cache/` in the repository). */
  cacheDir?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** index suite: vector counts to search instead of 10k and 100k (opt-in 1M: ~16 GB of disk under /tmp, tens of minutes). */
  vectors?: number[];
}

interface Plan {
  inferenceModel: string;
  /** Decode-bound and memory runs: a light model, so decoding dominates. */
  lightModel: string;
  ceiling: Omit<CeilingOptions, 'batch' | 'threads' | 'device'>;
  inferenceClip: ClipSpec;
  decodeClip: ClipSpec;
  memoryClips: { short: ClipSpec; long: ClipSpec };
  /** Decode-bound runs are repeated this many times (interleaved) and the best kept. */
  repeats: number;
}

/**
 * Full run: about 10 minutes on 2 cores, clips excluded (made once, cached).
 * resnet50 at ~17 frames/s on 2 cores: 600 frames is ~35 s of analyze.
 */
const FULL: Plan = {
  inferenceModel: 'resnet50',
  lightModel: 'resnet18',
  ceiling: { minSeconds: 20, minBatches: 10, warmupBatches: 3 },
  inferenceClip: { width: 320, height: 240, fps: 25, seconds: 24 },
  decodeClip: { width: 1920, height: 1080, fps: 30, seconds: 60 },
  memoryClips: { short: { width: 640, height: 360, fps: 30, seconds: 60 }, long: { width: 640, height: 360, fps: 30, seconds: 600 } },
  repeats: 3,
};

const QUICK: Plan = {
  inferenceModel: 'resnet18',
  lightModel: 'resnet18',
  ceiling: { minSeconds: 1, minBatches: 3, warmupBatches: 1 },
  inferenceClip: { width: 320, height: 240, fps: 25, seconds: 2 },
  decodeClip: { width: 1920, height: 1080, fps: 30, seconds: 3 },
  memoryClips: { short: { width: 640, height: 360, fps: 30, seconds: 4 }, long: { width: 640, height: 360, fps: 30, seconds: 12 } },
  repeats: 1,
};

function clipLabel(c: ClipSpec): string {
  return `${c.width}x${c.height} ${c.fps}fps ${c.seconds}s testsrc2 x264 ultrafast`;
}

function ffmpegVersion(): string {
  try {
    const first = execFileSync('ffmpeg', ['-version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
    return /ffmpeg version (\S+)/.exec(first)?.[1] ?? 'unknown';
  } catch {
    return 'not found';
  }
}

class Recorder {
  readonly measurements: Measurement[] = [];
  readonly ratios: Ratio[] = [];

  add(name: string, value: number, unit: string, detail: string): Measurement {
    const m = { name, value, unit, detail };
    this.measurements.push(m);
    return m;
  }

  ratio(name: string, numerator: Measurement, denominator: Measurement, goal?: Ratio['goal']): Ratio {
    const r = ratioOf(name, numerator, denominator, goal);
    this.ratios.push(r);
    return r;
  }
}

function best<T>(runs: T[], key: (t: T) => number): T {
  return runs.reduce((a, b) => (key(b) < key(a) ? b : a));
}

const MiB = 1024 * 1024;

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const startedAt = new Date();
  const t0 = performance.now();
  const log = options.log ?? ((): void => undefined);
  const plan = options.quick ? QUICK : FULL;
  const batch = options.batch ?? 8;
  const threads = options.threads ?? 0;
  const device: DeviceChoice = options.device ?? 'auto';
  const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
  const only = new Set<string>(options.only ?? SUITE_NAMES);
  for (const name of only) {
    if (!(SUITE_NAMES as readonly string[]).includes(name)) throw new RangeError(`--only: unknown measurement "${name}" (known: ${SUITE_NAMES.join(', ')})`);
  }
  const loadBefore = loadavg()[0]!;
  const rec = new Recorder();
  const errors: BenchReport['errors'] = [];
  const common = { batch, threads, device };

  const suite = async (name: string, body: () => Promise<void>): Promise<void> => {
    const started = performance.now();
    log(`[bench] ${name}...`);
    try {
      await body();
      log(`[bench] ${name}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      errors.push({ suite: name, message });
      log(`[bench] ${name} FAILED: ${message}`);
    }
  };

  // 0: start-up: --help and analyze's first frame against node -e 0.
  if (only.has('startup')) {
    await suite('startup', async () => {
      const { runStartupBench } = await import('./startup.ts');
      const model = await ensureModel(cacheDir, plan.inferenceModel, log);
      const clip = await ensureClip(cacheDir, plan.inferenceClip, log);
      const r = await runStartupBench({ model, modelName: plan.inferenceModel, clip, repeats: options.quick ? 2 : 7, device, threads, log });
      rec.measurements.push(...r.measurements);
      const { node, help, analyzeHelp, helpTsx, analyzeFirstFrame } = r.byName;
      rec.ratio('startup.help/node', help, node, { op: '<=', value: 5 });
      rec.ratio('startup.analyzeHelp/node', analyzeHelp, node);
      rec.ratio('startup.helpTsx/node', helpTsx, node);
      rec.ratio('startup.analyzeFirstFrame/node', analyzeFirstFrame, node);
    });
  }

  // 1 and 2: ceiling and inference-bound analyze, same model, batch, threads.
  let ceilingRaw: Measurement | undefined;
  let ceilingEngine: Measurement | undefined;
  const wantInference = only.has('inference');
  if (only.has('ceiling') || wantInference) {
    await suite('ceiling', async () => {
      const path = await ensureModel(cacheDir, plan.inferenceModel, log);
      const model = loadModel(path);
      const opts: CeilingOptions = { ...plan.ceiling, ...common };
      const raw = await measureRawCeiling(model, opts);
      const what = `${plan.inferenceModel}, batch ${batch}, ${raw.provider}, ${raw.frames} frames after ${plan.ceiling.warmupBatches} warm-up batches`;
      ceilingRaw = rec.add('ceiling.raw.fps', raw.framesPerSecond, 'frames/s', `InferenceSession.run on a ready tensor: ${what}`);
      rec.add('ceiling.raw.batchMs', raw.runMsPerBatch, 'ms', 'mean session.run per batch');
      const eng = await measureEngineCeiling(model, opts);
      ceilingEngine = rec.add(
        'ceiling.engine.fps',
        eng.framesPerSecond,
        'frames/s',
        `InferenceEngine (worker thread, normalise, top-k) on ready rgb24 frames, 2 batches in flight: ${plan.inferenceModel}, ${eng.frames} frames`,
      );
      rec.add('ceiling.engine.runMs', eng.runMsPerBatch, 'ms', 'mean session.run per batch inside the engine');
      rec.ratio('ceiling.engine/raw', ceilingEngine, ceilingRaw);
    });
  }
  if (wantInference) {
    await suite('inference', async () => {
      const model = await ensureModel(cacheDir, plan.inferenceModel, log);
      const clip = await ensureClip(cacheDir, plan.inferenceClip, log);
      const run = await runAnalyzeCli({ model, clip, sampling: ['--every-frame'], ...common });
      const what = `analyze --every-frame ${plan.inferenceModel} on ${clipLabel(plan.inferenceClip)}, ${run.summary.frames} frames`;
      const fps = rec.add('inference.analyze.fps', run.summary.framesPerSecond, 'frames/s', `${what} (its summary: decode to last line written)`);
      const wallFps = rec.add(
        'inference.analyze.wallFps',
        run.summary.frames / run.wallSeconds,
        'frames/s',
        'the same, frames / wall time of the whole command incl. startup and model load',
      );
      rec.add('inference.analyze.wallSeconds', run.wallSeconds, 's', 'wall time of that command');
      if (ceilingRaw) {
        rec.ratio('inference.analyze/ceiling.raw', fps, ceilingRaw, { op: '>=', value: 0.9, aim: 0.95 });
        rec.ratio('inference.analyze.wall/ceiling.raw', wallFps, ceilingRaw);
      }
      if (ceilingEngine) rec.ratio('inference.analyze/ceiling.engine', fps, ceilingEngine);
      // What decoding this clip costs on its own: on a machine where ONNX Runtime already
      // uses every core, ffmpeg's CPU time is taken from inference, not hidden behind it.
      const pre = loadModel(model).preprocess;
      const geometry = frameGeometry(pre);
      const ff = await runTimed('ffmpeg', ['-nostdin', '-hide_banner', ...buildDecodeArgs({ input: clip, sampling: { mode: 'every' }, geometry })]);
      const ffm = rec.add(
        'inference.ffmpeg.seconds',
        ff.wallSeconds,
        's',
        `ffmpeg alone decoding that clip with analyze's args (every frame), stdout drained by node`,
      );
      if (ceilingRaw) {
        // frames/s if inference and decoding shared the cores with no waste: 1 / (1/ceiling + t_ffmpeg/frames).
        const shared = rec.add(
          'inference.sharedCpuBound.fps',
          1 / (1 / ceilingRaw.value + ffm.value / run.summary.frames),
          'frames/s',
          "derived: the ceiling if decoding's time (all cores) is added to inference's, no overlap possible: 1/(1/ceiling + ffmpeg s/frame)",
        );
        rec.ratio('inference.sharedCpuBound/ceiling.raw', shared, ceilingRaw);
        rec.ratio('inference.analyze/sharedCpuBound', fps, shared);
      }
    });
  }

  // 3: decode-bound.
  if (only.has('decode')) {
    await suite('decode', async () => {
      const modelPath = await ensureModel(cacheDir, plan.lightModel, log);
      const clip = await ensureClip(cacheDir, plan.decodeClip, log);
      const pre = loadModel(modelPath).preprocess;
      const geometry = frameGeometry(pre);
      // The wrapper (src/ingest/ffmpeg-process.ts) prepends these two.
      const ffmpegArgs = (sampling: Sampling): string[] => ['-nostdin', '-hide_banner', ...buildDecodeArgs({ input: clip, sampling, geometry })];
      const runs = { ffFps: [] as TimedRun[], anFps: [] as AnalyzeRun[], ffKey: [] as TimedRun[], anKey: [] as AnalyzeRun[] };
      // Interleaved, so that load from elsewhere hits both sides alike.
      for (let i = 0; i < plan.repeats; i++) {
        runs.ffFps.push(await runTimed('ffmpeg', ffmpegArgs({ mode: 'fps', fps: 1 })));
        runs.anFps.push(await runAnalyzeCli({ model: modelPath, clip, sampling: ['--fps', '1'], ...common }));
        runs.ffKey.push(await runTimed('ffmpeg', ffmpegArgs({ mode: 'keyframes' })));
        runs.anKey.push(await runAnalyzeCli({ model: modelPath, clip, sampling: ['--keyframes'], ...common }));
      }
      const ffFps = best(runs.ffFps, (r) => r.wallSeconds);
      const anFps = best(runs.anFps, (r) => r.wallSeconds);
      const ffKey = best(runs.ffKey, (r) => r.wallSeconds);
      const anKey = best(runs.anKey, (r) => r.wallSeconds);
      const clipText = clipLabel(plan.decodeClip);
      const n = `best of ${plan.repeats}`;
      const ff = rec.add(
        'decode.ffmpeg.fps1.seconds',
        ffFps.wallSeconds,
        's',
        `ffmpeg alone, analyze's own args (buildDecodeArgs, fps 1), stdout drained by node: ${clipText}, ${n}`,
      );
      const an = rec.add(
        'decode.analyze.fps1.wallSeconds',
        anFps.wallSeconds,
        's',
        `analyze --fps 1 ${plan.lightModel}, whole command incl. startup: ${anFps.summary.frames} frames, ${n}`,
      );
      const anPipe = rec.add(
        'decode.analyze.fps1.seconds',
        anFps.summary.seconds,
        's',
        'the same run, its summary seconds (excludes node start-up and model load)',
      );
      const ffk = rec.add('decode.ffmpeg.keyframes.seconds', ffKey.wallSeconds, 's', `ffmpeg alone, keyframes args (-skip_frame nokey), ${n}`);
      const ank = rec.add(
        'decode.analyze.keyframes.wallSeconds',
        anKey.wallSeconds,
        's',
        `analyze --keyframes ${plan.lightModel}, whole command: ${anKey.summary.frames} frames, ${n}`,
      );
      rec.add('decode.analyze.keyframes.seconds', anKey.summary.seconds, 's', 'the same run, its summary seconds');
      rec.ratio('decode.analyze.wall/ffmpeg', an, ff, { op: '<=', value: 1.15, aim: 1.1 });
      rec.ratio('decode.analyze.pipeline/ffmpeg', anPipe, ff);
      // What inference of the sampled frames costs on its own, with the same batch and threads:
      // where ffmpeg already uses every core, this time adds to ffmpeg's rather than hiding behind it.
      const light = await measureRawCeiling(loadModel(modelPath), { ...plan.ceiling, minSeconds: plan.ceiling.minSeconds / 4, ...common });
      const lightFps = rec.add(
        'decode.lightCeiling.fps',
        light.framesPerSecond,
        'frames/s',
        `raw ceiling of ${plan.lightModel} (as ceiling.raw.fps), ${light.frames} frames`,
      );
      const floor = rec.add(
        'decode.sharedCpuBound.seconds',
        ff.value + anFps.summary.frames / lightFps.value,
        's',
        'derived: ffmpeg alone + inference of the sampled frames at that ceiling, run one after the other (all cores each)',
      );
      rec.ratio('decode.sharedCpuBound/ffmpeg', floor, ff);
      rec.ratio('decode.analyze.pipeline/sharedCpuBound', anPipe, floor);
      rec.ratio('decode.analyze.keyframes/fps1', ank, an);
      rec.ratio('decode.ffmpeg.keyframes/fps1', ffk, ff);
    });
  }

  // 4: peak memory against clip length.
  if (only.has('memory')) {
    await suite('memory', async () => {
      const model = await ensureModel(cacheDir, plan.lightModel, log);
      const peaks: Record<'short' | 'long', Measurement> = {} as Record<'short' | 'long', Measurement>;
      const hwms: Record<'short' | 'long', Measurement> = {} as Record<'short' | 'long', Measurement>;
      const halves: { first?: Measurement; second?: Measurement } = {};
      for (const which of ['short', 'long'] as const) {
        const spec = plan.memoryClips[which];
        const clip = await ensureClip(cacheDir, spec, log);
        const run = await runAnalyzeCli({ model, clip, sampling: ['--fps', '1'], ...common, sampleMemory: true });
        const mem = run.memory!;
        const what = `analyze --fps 1 ${plan.lightModel} on ${clipLabel(spec)} (${run.summary.frames} frames, ${mem.samples} samples every 100 ms)`;
        peaks[which] = rec.add(`memory.${which}.peakTotalMiB`, mem.totalRssBytes / MiB, 'MiB', `peak VmRSS of node + ffmpeg/ffprobe at one instant: ${what}`);
        hwms[which] = rec.add(`memory.${which}.nodeHwmMiB`, mem.rootHwmBytes / MiB, 'MiB', 'VmHWM (kernel high-water mark) of the node process');
        rec.add(`memory.${which}.childrenPeakMiB`, mem.childrenRssBytes / MiB, 'MiB', 'peak VmRSS of its children (ffmpeg)');
        if (which === 'long') {
          halves.first = rec.add(
            'memory.long.firstHalfPeakMiB',
            mem.firstHalfTotalBytes / MiB,
            'MiB',
            'peak total (node + children) in the first half of the long run, by time from spawn (includes start-up: meaningful only when the run is much longer, not in --quick)',
          );
          halves.second = rec.add(
            'memory.long.secondHalfPeakMiB',
            mem.secondHalfTotalBytes / MiB,
            'MiB',
            'the same, second half: above the first if memory grows with length',
          );
        }
      }
      rec.ratio('memory.long/short.total', peaks.long, peaks.short, { op: '<=', value: 1.1 });
      rec.ratio('memory.long.secondHalf/firstHalf', halves.second!, halves.first!, { op: '<=', value: 1.05 });
      rec.ratio('memory.long/short.nodeHwm', hwms.long, hwms.short);
    });
  }

  // 5: the WebSocket gateway's fan-out, and what 10 clients that stop reading do to the others.
  if (only.has('ws')) {
    await suite('ws', async () => {
      const { runWsFanoutBench } = await import('./ws-fanout.ts');
      const r = await runWsFanoutBench({ clients: options.quick ? 200 : 1000, seconds: options.quick ? 3 : 10, slowClients: options.quick ? 5 : 10, log });
      rec.measurements.push(...r.measurements);
      const m = (name: string): Measurement => {
        const found = r.measurements.find((x) => x.name === name);
        if (!found) throw new Error(`ws bench did not report ${name}`);
        return found;
      };
      rec.ratio('ws.slow/normal.messagesPerSecond', m('ws.slow.messagesPerSecond'), m('ws.normal.messagesPerSecond'), { op: '>=', value: 0.95 });
      rec.ratio('ws.slow/normal.delayP99Ms', m('ws.slow.delayP99Ms'), m('ws.normal.delayP99Ms'));
    });
  }

  // 5b: live streams: frame-to-result latency against one batch time, and under 2x overload.
  if (only.has('live')) {
    await suite('live', async () => {
      const { runLiveLatencyBench } = await import('./live-latency.ts');
      const r = await runLiveLatencyBench({ quick: options.quick, batch, threads, device, cacheDir, log });
      const batchMs = rec.add('live.batchMs', r.batchMs, 'ms', `one inference batch of ${r.batch} frames, ${r.model} (untrained), median`);
      for (const p of r.phases) {
        const key = `live.${p.name.startsWith('overload') ? 'overload' : `streams${p.streams}`}`;
        rec.add(`${key}.p50Ms`, p.p50Ms, 'ms', `frame out of ffmpeg to result: ${p.name}, ${p.offeredFps.toFixed(1)} frames/s offered, ${p.results} results`);
        const p99 = rec.add(`${key}.p99Ms`, p.p99Ms, 'ms', `the same, p99`);
        rec.add(`${key}.dropRate`, p.dropRate, '', `dropped / decoded (expected from capacity: ${p.expectedDropRate.toFixed(3)})`);
        rec.ratio(`${key}.p99/batch`, p99, batchMs, key.endsWith('overload') ? { op: '<=', value: 3 } : undefined);
      }
    });
  }

  // 5c: cameras per machine: the largest N of 5 frames/s live sources carried, with and without --skip-unchanged.
  if (only.has('cameras')) {
    await suite('cameras', async () => {
      const { runCamerasBench, formatCameras } = await import('./cameras.ts');
      const r = await runCamerasBench({ quick: options.quick, batch, threads, cacheDir, log });
      log(formatCameras(r));
      for (const [m, ms] of Object.entries(r.batchMs))
        rec.add(`cameras.${m}.batchMs`, ms, 'ms', `one inference batch of ${r.batch} frames, ${m} (untrained), median of 5`);
      const byKey = new Map<string, Measurement>();
      for (const l of r.largest) {
        const profile = l.profile === 'main' ? '' : `.${l.profile}`;
        const nice = l.decodeNice === DEFAULTS.live.decodeNice ? '' : `.nice${l.decodeNice}`;
        const key = `cameras${profile}.${l.model}.${l.mix}.${l.skip ? 'skip' : 'every'}${l.fast ? '.fast' : ''}${nice}`;
        const best = r.points.find(
          (p) =>
            p.model === l.model &&
            p.profile === l.profile &&
            p.mix === l.mix &&
            p.skip === l.skip &&
            p.fast === l.fast &&
            p.decodeNice === l.decodeNice &&
            p.cameras === l.cameras,
        );
        const m = rec.add(
          `${key}.largestN`,
          l.cameras,
          'cameras',
          `largest N of cameras sampled at ${r.fps} frames/s (${l.profile === 'main' ? '720p/1080p H.264 at 25 frames/s' : `720p H.264 substreams at ${r.fps} frames/s`}, ${l.mix === 'still' ? 'all still scenes' : 'one busy in four'}${nice ? `, decoders at niceness ${l.decodeNice}` : ''}) with drops <= 1%, p99 <= 3x batch, >= 90% of frames delivered${l.capped ? '; the cap of the bench was reached' : ''}`,
        );
        byKey.set(key, m);
        if (best) {
          rec.add(`${key}.decodeCores`, best.decodeCores, 'cores', `ffmpeg children's CPU at N=${l.cameras}`);
          rec.add(`${key}.nodeCores`, best.nodeCores, 'cores', `this process's CPU (inference, ONNX Runtime, pipeline) at N=${l.cameras}`);
        }
      }
      for (const m of Object.keys(r.batchMs)) {
        const skip = byKey.get(`cameras.${m}.still.skip`);
        const every = byKey.get(`cameras.${m}.still.every`);
        if (skip && every && every.value > 0) rec.ratio(`cameras.${m}.still.skip/every`, skip, every, { op: '>=', value: 5 });
        // With live.fastScale on both sides: the gate's gain once decoding is cheaper.
        const fastSkip = byKey.get(`cameras.${m}.still.skip.fast`);
        const fastEvery = byKey.get(`cameras.${m}.still.every.fast`);
        if (fastSkip && fastEvery && fastEvery.value > 0) rec.ratio(`cameras.${m}.still.skip/every.fast`, fastSkip, fastEvery, { op: '>=', value: 5 });
        // Cameras that send the sampled rate: nothing decoded is thrown away.
        const subSkip = byKey.get(`cameras.substream.${m}.still.skip.fast`);
        const subEvery = byKey.get(`cameras.substream.${m}.still.every.fast`);
        if (subSkip && subEvery && subEvery.value > 0) rec.ratio(`cameras.substream.${m}.still.skip/every.fast`, subSkip, subEvery, { op: '>=', value: 5 });
        const lowSkip = byKey.get(`cameras.substream.${m}.still.skip.fast.nice19`);
        const lowEvery = byKey.get(`cameras.substream.${m}.still.every.fast.nice19`);
        if (lowSkip && lowEvery && lowEvery.value > 0)
          rec.ratio(`cameras.substream.${m}.still.skip/every.fast.nice19`, lowSkip, lowEvery, { op: '>=', value: 5 });
      }
      const busyReused = r.points.filter((p) => p.mix === 'mixed').reduce((s, p) => s + p.busyReused, 0);
      rec.add('cameras.mixed.busyReused', busyReused, 'frames', 'frames of busy cameras reused by the gate over every mixed point (must be 0)');
      for (const d of r.decodeThreads)
        rec.add(
          `cameras.decodeThreads.${d.threads.split(' ')[0]}.cores`,
          d.decodeCores,
          'cores',
          `ffmpeg CPU, ${d.cameras} x 1080p busy camera(s), decoder threads ${d.threads}`,
        );
      for (const h of r.hwaccelStart)
        rec.add(
          `cameras.hwaccel.${h.hwaccel}.firstFrameMs`,
          h.firstFrameMs,
          'ms',
          `1080p stream start to first frame, hwaccel ${h.hwaccel}${h.fellBack ? ' (not there: fell back to software)' : ''}`,
        );
    });
  }

  // 6: distributed (BullMQ + Redis) against embedded, and what the queue costs per frame.
  if (only.has('distributed')) {
    await suite('distributed', async () => {
      const { runDistributedBench } = await import('./distributed.ts');
      const r = await runDistributedBench({ quick: options.quick, cacheDir, log });
      const what = `${r.model}, ${r.frames} frames`;
      const emb = rec.add('distributed.embedded.threads2.fps', r.embeddedFps.threads2, 'frames/s', `analyze embedded, 2 inference threads, ${what}`);
      const dist = rec.add('distributed.workers2x1.fps', r.distributedFps.workers2x1, 'frames/s', `analyze --redis with 2 workers x 1 thread, ${what}`);
      const one = rec.add('distributed.workers1x1.fps', r.distributedFps.workers1x1, 'frames/s', `analyze --redis with 1 worker x 1 thread, ${what}`);
      rec.ratio('distributed/embedded.threads2', dist, emb, { op: '>=', value: 0.9 });
      rec.ratio('distributed.workers2/workers1', dist, one);
      for (const q of r.queueCost) {
        rec.add(`distributed.queue.batch${q.batch}.redisCpuUsPerFrame`, q.redisCpuUsPerFrame, 'us/frame', 'Redis CPU time per frame (INFO cpu)');
        rec.add(`distributed.queue.batch${q.batch}.bytesPerFrame`, q.bytesPerFrame, 'bytes/frame', 'Redis network bytes in + out per frame (INFO stats)');
        rec.add(
          `distributed.queue.batch${q.batch}.framesPerSecondPerRedisCore`,
          q.framesPerSecondPerRedisCore,
          'frames/s',
          'frames one Redis core could carry at this cost',
        );
      }
    });
  }

  // 7: indexing against analyze alone, and vector search latency and recall.
  if (only.has('index')) {
    await suite('index', async () => {
      const { runIndexSearchBench } = await import('./index-search.ts');
      const r = await runIndexSearchBench({ quick: options.quick, sizes: options.vectors ?? (options.quick ? [5_000] : [10_000, 100_000]), log });
      if (r.indexing) {
        const an = rec.add('index.analyze.fps', r.indexing.analyzeFps, 'frames/s', `analyze alone, ${r.indexing.model}, ${r.indexing.frames} frames`);
        const ix = rec.add('index.index.fps', r.indexing.indexFps, 'frames/s', 'streamsight index on the same files');
        rec.ratio('index.index/analyze', ix, an, { op: '>=', value: 0.95 });
      }
      for (const sr of r.search) {
        const k = `index.search.${sr.vectors}`;
        const ivf = rec.add(
          `${k}.p50Ms`,
          sr.p50Ms,
          'ms',
          `IVF search, ${sr.vectors} x ${sr.dim}-d, nprobe ${sr.nprobe}, ${sr.candidates} candidates re-ranked`,
        );
        rec.add(`${k}.p99Ms`, sr.p99Ms, 'ms', `the same, p99 (${sr.queries} queries)`);
        rec.add(`${k}.recallAt10`, sr.recallAt10, '', `recall@10 against exact search (${sr.queries} queries)`);
        for (const w of sr.sweep) rec.add(`${k}.nprobe${w.nprobe}.p50Ms`, w.p50Ms, 'ms', `nprobe ${w.nprobe}: p50 (recall@10 ${w.recallAt10})`);
        const exact = rec.add(`${k}.exactP50Ms`, sr.exactP50Ms, 'ms', 'exact search (sqlite-vec scan)');
        rec.add(`${k}.buildSeconds`, sr.buildSeconds, 's', 'index build (k-means + codes)');
        rec.add(`${k}.insertSeconds`, sr.insertSeconds, 's', 'generating and storing the vectors');
        rec.add(`${k}.fileMiB`, sr.fileBytes / MiB, 'MiB', 'index file size');
        rec.add(`${k}.rssMiB`, sr.rssBytes / MiB, 'MiB', 'resident memory after the searches');
        rec.add(`${k}.peakRssMiB`, sr.peakRssBytes / MiB, 'MiB', 'peak resident memory of the bench process');
        rec.add(`${k}.ivfMemoryMiB`, sr.ivfMemoryBytes / MiB, 'MiB', 'IVF cells held in memory');
        if (sr.ivfDiskBytes !== null) rec.add(`${k}.ivfDiskMiB`, sr.ivfDiskBytes / MiB, 'MiB', 'IVF codes and cells in the file');
        rec.ratio(`${k}.ivf/exact.p50`, ivf, exact);
      }
    });
  }

  // 8: INT8 against FP32 (models quantize).
  if (only.has('quantize')) {
    await suite('quantize', async () => {
      const { runQuantizeBench } = await import('./quantize.ts');
      const r = await runQuantizeBench({ quick: options.quick, cacheDir, batch, threads, device, log });
      rec.measurements.push(...r.measurements);
      const m = (name: string): Measurement => {
        const found = r.measurements.find((x) => x.name === name);
        if (!found) throw new Error(`quantize bench did not report ${name}`);
        return found;
      };
      for (const q of r.ratios) rec.ratio(q.name, m(q.numerator), m(q.denominator), q.goal);
    });
  }

  const cpuList = cpus();
  return {
    type: 'bench',
    version: 1,
    quick: options.quick,
    startedAt: startedAt.toISOString(),
    totalSeconds: (performance.now() - t0) / 1000,
    machine: {
      cpus: cpuList.length,
      cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
      memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
      node: process.versions.node,
      onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
      ffmpeg: ffmpegVersion(),
      loadAverageBefore: loadBefore,
      loadAverageAfter: loadavg()[0]!,
    },
    settings: { batch, threads, device, repeats: plan.repeats },
    measurements: rec.measurements,
    ratios: rec.ratios,
    errors,
  };
}

export interface PrintOptions {
  stdout: NodeJS.WritableStream;
  /** Also write the JSON object to this file. */
  jsonOut?: string;
}

/** The table, then the JSON line (always the last line of stdout). */
export async function printReport(report: BenchReport, opts: PrintOptions): Promise<void> {
  const json = JSON.stringify(report);
  if (opts.jsonOut !== undefined) writeFileSync(opts.jsonOut, json + '\n');
  await new Promise<void>((resolve, reject) => {
    opts.stdout.write(`${formatTable(report)}\n${json}\n`, (err) => (err ? reject(err) : resolve()));
  });
}

function intFlag(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

const USAGE = `usage: npm run bench -- [--quick] [--only ${SUITE_NAMES.join('|')} ...] [--json-out FILE]
                       [--batch N] [--threads N] [--device auto|cpu|cuda] [--cache-dir DIR]
                       [--vectors N,...] (index suite: vector counts instead of 10000,100000)`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string', multiple: true },
      'json-out': { type: 'string' },
      batch: { type: 'string' },
      threads: { type: 'string' },
      device: { type: 'string' },
      'cache-dir': { type: 'string' },
      vectors: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const device = values.device;
  if (device !== undefined && device !== 'auto' && device !== 'cpu' && device !== 'cuda')
    throw new RangeError(`--device must be auto, cpu or cuda, got "${device}"`);
  const batch = intFlag('--batch', values.batch, 1);
  const threads = intFlag('--threads', values.threads, 0);
  const vectors = values.vectors?.split(',').map((v) => intFlag('--vectors', v, 1000)!);
  const report = await runBench({
    quick: values.quick ?? false,
    ...(values.only ? { only: values.only.flatMap((o) => o.split(',')) } : {}),
    ...(batch !== undefined ? { batch } : {}),
    ...(threads !== undefined ? { threads } : {}),
    ...(device !== undefined ? { device } : {}),
    ...(values['cache-dir'] !== undefined ? { cacheDir: values['cache-dir'] } : {}),
    ...(vectors !== undefined ? { vectors } : {}),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  await printReport(report, { stdout: process.stdout, ...(values['json-out'] !== undefined ? { jsonOut: values['json-out'] } : {}) });
  return report.errors.length > 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
      process.exitCode = 2;
    },
  );
}
