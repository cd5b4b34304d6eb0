/**
 * Cameras per machine: N live sources (720p and 1080p H.264 clips played as
 * cameras: `-re`, looped, one ffmpeg each) sampled at 5 frames/s through
 * embedded `serve`'s pipeline. N rises until the machine no longer carries
 * them; the largest N that it carries is reported, with the CPU split
 * between decoding (the ffmpeg children's CPU time) and this process
 * (inference thread, ONNX Runtime threads, the pipeline), with and without
 * `--skip-unchanged`, for resnet18 and resnet50 (untrained, synthesized).
 *
 * A point (N cameras) fails when, over its measured seconds:
 *   - the drop rate (frames dropped / decoded) passes 1%, or
 *   - p99 latency of inferred frames passes 3x one batch's time, or
 *   - ffmpeg delivers under 90% of the frames N cameras at 5 frames/s should
 *     give (the decoders cannot keep up: the cameras are not carried either;
 *     10% leaves room for a stream's start).
 *
 * Scenes: `still` cameras show a fixed picture under temporal noise (a lobby
 * at night); `busy` ones testsrc2, which moves everywhere. Two mixes: all
 * still, and one busy camera in four (whose frames must all be inferred).
 * Then what decoding settings cost: decoder threads 1 against ffmpeg's
 * choice on 1080p cameras, and the start of a hwaccel that is not there
 * (the fallback to software) against software from the start.
 *
 *   node --import tsx bench/cameras.ts [--quick] [--batch N] [--threads N] [--json-out FILE]
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Frame } from '../src/contracts/frame.ts';
import type { FrameResult } from '../src/contracts/results.ts';
import { DEFAULTS } from '../src/config/schema.ts';
import { decodeFrames } from '../src/ingest/file-decoder.ts';
import { tuningFromSettings } from '../src/ingest/source-watchdog.ts';
import { InferenceEngine } from '../src/inference/inference-engine.ts';
import { loadModel, type LoadedModel } from '../src/inference/model-loader.ts';
import { LivePipeline } from '../src/pipeline/live-pipeline.ts';
import { createLogger } from '../src/shared/logger.ts';
import { Metrics } from '../src/shared/metrics.ts';
import { DEFAULT_CACHE_DIR, ensureModel, makeAtomically, runToCompletion } from './fixtures.ts';

export type Scene = 'still' | 'busy';
export type Mix = 'still' | 'mixed';
/**
 * What each camera sends. `main`: its main stream, 720p and 1080p
 * alternating, 25 frames/s at 2 and 4 Mbit/s, of which 5 are sampled.
 * `substream`: the stream a camera is set to give for analysis (what
 * detection tools ask cameras for): 720p at 5 frames/s, 1 Mbit/s, so
 * nothing decoded is thrown away.
 */
export type Profile = 'main' | 'substream';

export interface CamerasOptions {
  quick?: boolean;
  batch?: number;
  /** ONNX Runtime intra-op threads, 0 = one per physical core this process may use (within a cgroup v2 CPU quota). */
  threads?: number;
  cacheDir?: string;
  log?: (line: string) => void;
}

export interface CameraPoint {
  model: string;
  profile: Profile;
  mix: Mix;
  skip: boolean;
  /** live.fastScale on. */
  fast: boolean;
  /** live.decodeNice of the point. */
  decodeNice: number;
  cameras: number;
  decoded: number;
  /** decoded / (cameras x 5 frames/s x seconds). */
  delivered: number;
  inferred: number;
  reused: number;
  dropped: number;
  dropRate: number;
  p99Ms: number;
  p99OverBatch: number;
  /** Busy cameras' frames that were reused (must be 0). */
  busyReused: number;
  /** CPU cores used on average by the ffmpeg children, and by this process. */
  decodeCores: number;
  nodeCores: number;
  ok: boolean;
  why: string;
}

export interface CamerasReport {
  bench: 'cameras';
  batch: number;
  fps: number;
  seconds: number;
  batchMs: Record<string, number>;
  points: CameraPoint[];
  /** Largest N carried, per model / profile / mix / skip / fast scale / decodeNice. */
  largest: Array<{ model: string; profile: Profile; mix: Mix; skip: boolean; fast: boolean; decodeNice: number; cameras: number; capped: boolean }>;
  decodeThreads: Array<{ threads: string; cameras: number; decodeCores: number; decoded: number }>;
  hwaccelStart: Array<{ hwaccel: string; firstFrameMs: number; fellBack: boolean }>;
}

const FPS = 5;
/** Longest wait for every camera of a point to give its first second of frames (a camera that never does fails the point: delivered). */
const START_TIMEOUT_MS = 20_000;
/** A clip per profile and scene: [even cameras, odd cameras]. */
const CLIPS: Record<Profile, Array<{ w: number; h: number; rate: number; kbits: number }>> = {
  main: [
    { w: 1280, h: 720, rate: 25, kbits: 2000 },
    { w: 1920, h: 1080, rate: 25, kbits: 4000 },
  ],
  substream: [
    { w: 1280, h: 720, rate: FPS, kbits: 1000 },
    { w: 1280, h: 720, rate: FPS, kbits: 1000 },
  ],
};

/**
 * Seconds of each camera clip. A looping file's ffmpeg starts again at each
 * end (about 0.15 s of CPU, and a fork of this process); a camera's never
 * does, so the clips outlast a point (warm-up, the cameras' start and the
 * measured seconds): no camera restarts while it is measured.
 */
const CLIP_SECONDS = 30;

/**
 * A scene's clip, made once: CLIP_SECONDS long, x264 ultrafast at a camera's bitrate
 * (capped as a camera's encoder is: the still scene's noise then costs what
 * it costs a camera, and its quality flickers with each key frame), a key
 * frame every 2 s.
 */
function ensureScene(
  cacheDir: string,
  scene: Scene,
  clip: { w: number; h: number; rate: number; kbits: number },
  log: (line: string) => void,
): Promise<string> {
  const { w, h, rate, kbits } = clip;
  const dest = join(cacheDir, `camera-${scene}-${w}x${h}-${rate}fps-${kbits}k-${CLIP_SECONDS}s.mp4`);
  const source = scene === 'busy' ? `testsrc2=size=${w}x${h}:rate=${rate}` : `smptehdbars=size=${w}x${h}:rate=${rate}`;
  const vf = scene === 'still' ? ['-vf', 'noise=alls=12:allf=t'] : [];
  return makeAtomically(
    dest,
    async (tmp) => {
      log(`making ${dest} (once)`);
      await runToCompletion('ffmpeg', [
        '-nostdin',
        '-hide_banner',
        '-loglevel',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        source,
        '-t',
        String(CLIP_SECONDS),
        ...vf,
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-b:v',
        `${kbits}k`,
        '-maxrate',
        `${kbits}k`,
        '-bufsize',
        `${2 * kbits}k`,
        '-g',
        String(2 * rate),
        '-pix_fmt',
        'yuv420p',
        '-f',
        'mp4',
        tmp,
      ]);
    },
    '.mp4',
  );
}

/**
 * CPU seconds (user + system) of this process's children: those reaped
 * (cutime + cstime of this process: a looping file's ffmpeg exits at each
 * run's end) plus the ffmpegs alive now. Only ffmpeg runs as a child while
 * a point is measured.
 */
function ffmpegChildrenCpuSeconds(): number {
  const tick = 100; // USER_HZ on Linux
  const self = readFileSync('/proc/self/stat', 'utf8');
  const own = self.slice(self.lastIndexOf(')') + 2).split(' ');
  let total = (Number(own[13]) + Number(own[14])) / tick;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    if (comm !== 'ffmpeg' || Number(fields[1]) !== process.pid) continue;
    total += (Number(fields[11]) + Number(fields[12])) / tick;
  }
  return total;
}

async function counterSum(metrics: Metrics, name: string): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  return (await metric.get()).values.reduce((s, v) => s + v.value, 0);
}

async function measureBatchMs(engine: InferenceEngine, model: LoadedModel, batch: number): Promise<number> {
  const { inputWidth: w, inputHeight: h } = model.preprocess;
  const frames: Frame[] = Array.from({ length: batch }, (_, i) => ({
    streamId: 'b',
    runId: 'b',
    seq: i,
    ptsMs: 0,
    capturedAt: 0,
    width: w,
    height: h,
    data: Buffer.alloc(w * h * 3, (i * 37) & 255),
  }));
  await engine.infer(frames);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await engine.infer(frames);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[2]!;
}

interface PointPlan {
  model: LoadedModel;
  engine: InferenceEngine;
  batch: number;
  batchMs: number;
  mix: Mix;
  skip: boolean;
  cameras: number;
  seconds: number;
  warmupMs: number;
  clips: Record<Scene, string[]>;
  decodeThreads?: number;
  /** live.fastScale: resize and RGB conversion in one swscale pass. */
  fast?: boolean;
  /** live.decodeNice; default the product's. */
  decodeNice?: number;
  profile?: Profile;
}

/** Camera i: busy when the mix has busy ones and i % 4 === 0; 720p and 1080p alternating. */
function cameraOf(mix: Mix, i: number): { scene: Scene; res: number } {
  return { scene: mix === 'mixed' && i % 4 === 0 ? 'busy' : 'still', res: i % 2 };
}

async function runPoint(p: PointPlan): Promise<CameraPoint> {
  const metrics = new Metrics({ processMetrics: false });
  const results: FrameResult[] = [];
  /** Frames each camera gave before the measured seconds. */
  const started = new Map<string, number>();
  let measuring = false;
  const pipeline = new LivePipeline({
    model: p.model,
    engine: p.engine,
    batch: p.batch,
    live: {
      fps: FPS,
      fileFps: DEFAULTS.sampling.fps,
      bufferFrames: DEFAULTS.live.bufferFrames,
      batchWaitMs: DEFAULTS.live.batchWaitMs,
      skipUnchanged: { ...DEFAULTS.live.skipUnchanged, enabled: p.skip },
      decodeThreads: p.decodeThreads ?? DEFAULTS.live.decodeThreads,
      decodeNice: p.decodeNice ?? DEFAULTS.live.decodeNice,
      hwaccel: 'none',
      fastScale: p.fast ?? false,
    },
    watchdog: tuningFromSettings(DEFAULTS.watchdog),
    events: DEFAULTS.events,
    allowlist: undefined,
    metrics,
    logger: createLogger({ level: 'silent' }),
    sink: {
      publishFrame: (r) => {
        if (measuring) results.push(r);
        else started.set(r.stream, (started.get(r.stream) ?? 0) + 1);
      },
      publishEvent: () => undefined,
      publishStatus: () => undefined,
    },
  });
  pipeline.start();
  const busy = new Set<string>();
  for (let i = 0; i < p.cameras; i++) {
    const { scene, res } = cameraOf(p.mix, i);
    if (scene === 'busy') busy.add(`cam${i}`);
    await pipeline.addSource({ id: `cam${i}`, url: p.clips[scene][res]!, live: true, loop: true, fps: FPS });
  }
  // Every camera running first: starting N ffmpegs (probing, opening the
  // decoder: ~0.15 s of CPU each) is not what a camera costs once it runs.
  const startBy = performance.now() + START_TIMEOUT_MS;
  while (performance.now() < startBy && (started.size < p.cameras || Math.min(...started.values()) < FPS)) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, p.warmupMs));
  const d0 = await counterSum(metrics, 'streamsight_frames_decoded_total');
  const x0 = await counterSum(metrics, 'streamsight_frames_dropped_total');
  const ff0 = ffmpegChildrenCpuSeconds();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, p.seconds * 1000));
  measuring = false;
  const wall = (performance.now() - t0) / 1000;
  const ff1 = ffmpegChildrenCpuSeconds();
  const cpu = process.cpuUsage(cpu0);
  const decoded = (await counterSum(metrics, 'streamsight_frames_decoded_total')) - d0;
  const dropped = (await counterSum(metrics, 'streamsight_frames_dropped_total')) - x0;
  await pipeline.close();
  const inferredResults = results.filter((r) => !r.reused);
  const lat = inferredResults.map((r) => r.latencyMs).sort((a, b) => a - b);
  const p99 = lat.length === 0 ? NaN : lat[Math.min(lat.length - 1, Math.floor(0.99 * lat.length))]!;
  const delivered = decoded / (p.cameras * FPS * p.seconds);
  const dropRate = decoded > 0 ? dropped / decoded : 0;
  const p99OverBatch = p99 / p.batchMs;
  const why = [
    results.length === 0 ? 'no results' : '',
    dropRate > 0.01 ? `drops ${(dropRate * 100).toFixed(1)}%` : '',
    p99OverBatch > 3 ? `p99 ${p99OverBatch.toFixed(1)}x batch` : '',
    delivered < 0.9 ? `decoders deliver ${(delivered * 100).toFixed(0)}%` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return {
    model: p.model.name,
    profile: p.profile ?? 'main',
    mix: p.mix,
    skip: p.skip,
    fast: p.fast ?? false,
    decodeNice: p.decodeNice ?? DEFAULTS.live.decodeNice,
    cameras: p.cameras,
    decoded,
    delivered: Math.round(delivered * 1000) / 1000,
    inferred: inferredResults.length,
    reused: results.length - inferredResults.length,
    dropped,
    dropRate: Math.round(dropRate * 1000) / 1000,
    p99Ms: Math.round(p99),
    p99OverBatch: Math.round(p99OverBatch * 100) / 100,
    busyReused: results.filter((r) => r.reused && busy.has(r.stream)).length,
    decodeCores: Math.round(((ff1 - ff0) / wall) * 100) / 100,
    nodeCores: Math.round(((cpu.user + cpu.system) / 1e6 / wall) * 100) / 100,
    ok: why === '',
    why: why || 'carried',
  };
}

export async function runCamerasBench(opts: CamerasOptions = {}): Promise<CamerasReport> {
  const quick = opts.quick ?? false;
  const log = opts.log ?? (() => undefined);
  const batch = opts.batch ?? 8;
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  const seconds = quick ? 2 : 4;
  const warmupMs = quick ? 1500 : 2500;
  const steps = quick ? [1, 2] : [1, 2, 4, 6, 8, 12, 16, 20, 24, 32, 40, 48];
  const clips: Record<Profile, Record<Scene, string[]>> = { main: { still: [], busy: [] }, substream: { still: [], busy: [] } };
  for (const profile of ['main', 'substream'] as const)
    for (const scene of ['still', 'busy'] as const) for (const c of CLIPS[profile]) clips[profile][scene].push(await ensureScene(cacheDir, scene, c, log));

  const points: CameraPoint[] = [];
  const largest: CamerasReport['largest'] = [];
  const batchMsOf: Record<string, number> = {};
  const models = quick ? ['resnet18'] : ['resnet18', 'resnet50'];
  for (const arch of models) {
    const model = loadModel(await ensureModel(cacheDir, arch, log));
    const engine = await InferenceEngine.start(model, { device: 'cpu', threads: opts.threads ?? 0, topK: 5, embeddings: false });
    try {
      const batchMs = await measureBatchMs(engine, model, batch);
      batchMsOf[arch] = Math.round(batchMs * 10) / 10;
      log(`${arch}: one batch of ${batch} ${batchMs.toFixed(0)} ms`);
      type Run = { profile: Profile; mix: Mix; skip: boolean; fast: boolean; decodeNice?: number };
      const runs: Run[] = [
        { profile: 'main', mix: 'still', skip: false, fast: false },
        { profile: 'main', mix: 'still', skip: true, fast: false },
        // The mixed scene with the gate: busy cameras must lose nothing to it.
        ...(arch === 'resnet18' ? [{ profile: 'main' as const, mix: 'mixed' as const, skip: true, fast: false }] : []),
        ...(quick
          ? []
          : [
              // live.fastScale: the decoding side made cheaper, with and without the gate.
              { profile: 'main' as const, mix: 'still' as const, skip: false, fast: true },
              { profile: 'main' as const, mix: 'still' as const, skip: true, fast: true },
              // What the decoders' niceness buys: the same with decoders at streamsight's priority.
              { profile: 'main' as const, mix: 'still' as const, skip: true, fast: true, decodeNice: 0 },
              // Cameras that send what is sampled, decoded the cheapest way (most of a 720p frame's
              // decoding CPU is otherwise its exact RGB conversion: nothing to skip here).
              { profile: 'substream' as const, mix: 'still' as const, skip: false, fast: true },
              { profile: 'substream' as const, mix: 'still' as const, skip: true, fast: true },
              // Decoders at the lowest priority (--decode-nice 19): inference first, decoders get what is left.
              { profile: 'substream' as const, mix: 'still' as const, skip: false, fast: true, decodeNice: 19 },
              { profile: 'substream' as const, mix: 'still' as const, skip: true, fast: true, decodeNice: 19 },
            ]),
      ];
      for (const run of runs) {
        let best = 0;
        let capped = true;
        for (const n of steps) {
          const pt = await runPoint({ model, engine, batch, batchMs, ...run, cameras: n, seconds, warmupMs, clips: clips[run.profile] });
          points.push(pt);
          log(
            `${arch} ${run.profile} ${run.mix}${run.skip ? ' --skip-unchanged' : ''}${run.fast ? ' --fast-scale' : ''}${run.decodeNice !== undefined ? ` --decode-nice ${run.decodeNice}` : ''} N=${n}: ${pt.why} (inferred ${pt.inferred}, reused ${pt.reused}, p99 ${pt.p99Ms} ms, decode ${pt.decodeCores} cores, node ${pt.nodeCores} cores)`,
          );
          if (!pt.ok) {
            capped = false;
            break;
          }
          best = n;
        }
        largest.push({
          model: arch,
          profile: run.profile,
          mix: run.mix,
          skip: run.skip,
          fast: run.fast,
          decodeNice: run.decodeNice ?? DEFAULTS.live.decodeNice,
          cameras: best,
          capped,
        });
      }
    } finally {
      await engine.close();
    }
  }

  // Decoder threads: 1080p busy cameras (every frame decoded and sampled), threads 1 against ffmpeg's choice.
  const decodeThreads: CamerasReport['decodeThreads'] = [];
  {
    const model = loadModel(await ensureModel(cacheDir, 'resnet18', log));
    const engine = await InferenceEngine.start(model, { device: 'cpu', threads: opts.threads ?? 0, topK: 5, embeddings: false });
    try {
      const batchMs = await measureBatchMs(engine, model, batch);
      const cams = quick ? 1 : 2;
      const busy1080 = clips.main.busy[1]!;
      const busyOnly = { still: [busy1080, busy1080], busy: [busy1080, busy1080] };
      for (const t of [1, 0]) {
        const pt = await runPoint({
          model,
          engine,
          batch,
          batchMs,
          mix: 'still',
          skip: false,
          cameras: cams,
          seconds,
          warmupMs,
          clips: busyOnly,
          decodeThreads: t,
        });
        decodeThreads.push({ threads: t === 0 ? "0 (ffmpeg's choice)" : String(t), cameras: cams, decodeCores: pt.decodeCores, decoded: pt.decoded });
        log(`decode threads ${t}: ${pt.decodeCores} cores for ${cams} x 1080p`);
      }
    } finally {
      await engine.close();
    }
  }

  // hwaccel: what a vaapi that is not there costs at a stream's start (the failed start, then software).
  const hwaccelStart: CamerasReport['hwaccelStart'] = [];
  for (const hw of ['none', 'vaapi', 'cuda'] as const) {
    const t = performance.now();
    let fellBack = false;
    const decode = decodeFrames(clips.main.busy[1]!, {
      streamId: 'h',
      runId: 'h',
      sampling: { mode: 'fps', fps: FPS },
      geometry: { resize: { shorter: 256 }, cropWidth: 224, cropHeight: 224 },
      decodeThreads: 1,
      hwaccel: hw,
      onHwaccelFallback: () => (fellBack = true),
    });
    for await (const _ of decode) break;
    hwaccelStart.push({ hwaccel: hw, firstFrameMs: Math.round(performance.now() - t), fellBack });
  }
  return { bench: 'cameras', batch, fps: FPS, seconds, batchMs: batchMsOf, points, largest, decodeThreads, hwaccelStart };
}

/** `off`, `skip`, `+fast` when live.fastScale, `+nice0` when live.decodeNice is not the default. */
function gateLabel(p: { skip: boolean; fast: boolean; decodeNice: number }): string {
  return `${p.skip ? 'skip' : 'off'}${p.fast ? '+fast' : ''}${p.decodeNice !== DEFAULTS.live.decodeNice ? `+nice${p.decodeNice}` : ''}`;
}

export function formatCameras(r: CamerasReport): string {
  const head = [
    'model',
    'cameras send',
    'scenes',
    'gate',
    'N',
    'inferred',
    'reused',
    'drop',
    'p99 ms',
    'p99/batch',
    'delivered',
    'decode cores',
    'node cores',
    'verdict',
  ];
  const rows = r.points.map((p) => [
    p.model,
    p.profile,
    p.mix,
    gateLabel(p),
    String(p.cameras),
    String(p.inferred),
    String(p.reused),
    p.dropRate.toFixed(3),
    Number.isNaN(p.p99Ms) ? '-' : String(p.p99Ms),
    Number.isNaN(p.p99OverBatch) ? '-' : p.p99OverBatch.toFixed(2),
    p.delivered.toFixed(2),
    p.decodeCores.toFixed(2),
    p.nodeCores.toFixed(2),
    p.why + (p.busyReused > 0 ? ` (busy reused ${p.busyReused}!)` : ''),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 4 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const largest = r.largest.map(
    (l) =>
      `${l.model} ${l.profile} ${l.mix} ${l.skip ? '--skip-unchanged' : 'every frame'}${l.fast ? ' --fast-scale' : ''}${l.decodeNice !== DEFAULTS.live.decodeNice ? ` --decode-nice ${l.decodeNice}` : ''}: ${l.cameras}${l.capped ? '+ (cap reached)' : ''}`,
  );
  return [
    `cameras at ${r.fps} frames/s, ${r.seconds} s per point, batch ${r.batch}; one batch: ${Object.entries(r.batchMs)
      .map(([m, ms]) => `${m} ${ms} ms`)
      .join(', ')}`,
    line(head),
    ...rows.map(line),
    'largest N carried:',
    ...largest.map((l) => `  ${l}`),
    `decoder threads (1080p): ${r.decodeThreads.map((d) => `${d.threads}: ${d.decodeCores} cores for ${d.cameras} cameras`).join('; ')}`,
    `stream start to first frame: ${r.hwaccelStart.map((h) => `${h.hwaccel} ${h.firstFrameMs} ms${h.fellBack ? ' (fell back to software)' : ''}`).join('; ')}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, batch: { type: 'string' }, threads: { type: 'string' }, 'json-out': { type: 'string' } },
  });
  const report = await runCamerasBench({
    quick: values.quick,
    ...(values.batch ? { batch: Number(values.batch) } : {}),
    ...(values.threads ? { threads: Number(values.threads) } : {}),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${formatCameras(report)}\n`);
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
