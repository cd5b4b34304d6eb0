/**
 * INT8 against FP32, side by side in one run (issue 15):
 *   ceiling     ONNX Runtime alone on ready tensors, FP32 and INT8 in short alternating
 *               windows (best of `repeats` each, so that load from elsewhere hits both
 *               alike), batch 1 and 8;
 *   end to end  analyze --every-frame with each model, against its own ceiling and against
 *               the shared-CPU bound: ffmpeg alone decoding the clip with analyze's own
 *               arguments, its time added to the ceiling's (no overlap possible when
 *               ONNX Runtime already uses every core);
 *   agreement   the report of `models quantize` on held-out frames.
 * The INT8 models are made once by the real CLI (`streamsight models quantize --json`),
 * calibrated on a bench clip, and cached with their report.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { frameGeometry } from '../src/contracts/preprocess.ts';
import { QuantizeOutputSchema, type QuantizeOutput } from '../src/contracts/quantize-report.ts';
import { buildDecodeArgs } from '../src/ingest/ffmpeg-args.ts';
import { loadModel } from '../src/inference/model-loader.ts';
import type { DeviceChoice } from '../src/inference/ort-session.ts';
import { runAnalyzeCli, type AnalyzeRun } from './analyze-run.ts';
import { measureRawCeiling, type CeilingOptions } from './ceiling.ts';
import { CLI_PATH, ensureClip, ensureModel, type ClipSpec } from './fixtures.ts';
import type { Measurement, Ratio } from './report.ts';
import { runTimed } from './timed-process.ts';

export interface QuantizeBenchOptions {
  quick: boolean;
  cacheDir: string;
  /** Batch of the end-to-end runs; the ceilings are measured at 1 and 8. */
  batch: number;
  threads: number;
  device: DeviceChoice;
  log: (line: string) => void;
}

export interface QuantizeBenchResult {
  measurements: Measurement[];
  ratios: Array<{ name: string; numerator: string; denominator: string; goal?: Ratio['goal'] }>;
}

interface Plan {
  archs: string[];
  endToEndArch: string;
  ceiling: Omit<CeilingOptions, 'batch' | 'threads' | 'device'>;
  /** Ceiling windows per side (FP32, INT8), alternating. */
  repeats: number;
  /** End-to-end rounds (ffmpeg, analyze FP32, analyze INT8). */
  e2eRepeats: number;
  calibrationClip: ClipSpec;
  calibrationFrames: number;
  analyzeClip: ClipSpec;
}

const FULL: Plan = {
  archs: ['resnet18', 'resnet50'],
  endToEndArch: 'resnet50',
  ceiling: { minSeconds: 3, minBatches: 3, warmupBatches: 1 },
  repeats: 5,
  e2eRepeats: 2,
  calibrationClip: { width: 640, height: 360, fps: 25, seconds: 20 },
  calibrationFrames: 100,
  analyzeClip: { width: 320, height: 240, fps: 25, seconds: 24 },
};

const QUICK: Plan = {
  archs: ['resnet18'],
  endToEndArch: 'resnet18',
  ceiling: { minSeconds: 1, minBatches: 2, warmupBatches: 1 },
  repeats: 1,
  e2eRepeats: 1,
  calibrationClip: { width: 320, height: 240, fps: 25, seconds: 4 },
  calibrationFrames: 16,
  analyzeClip: { width: 320, height: 240, fps: 25, seconds: 2 },
};

const run = promisify(execFile);

/** The INT8 model of `arch` (and its quantize report), made once by the real CLI. */
async function ensureQuantized(
  cacheDir: string,
  arch: string,
  clip: string,
  frames: number,
  log: (l: string) => void,
  weightZeroPoint: 0 | -1 = -1,
): Promise<{ path: string; report: QuantizeOutput }> {
  const float = await ensureModel(cacheDir, arch, log);
  const path = join(cacheDir, `${arch}-int8-${frames}f-wzp${weightZeroPoint}.onnx`);
  const reportPath = `${path}.json`;
  if (!existsSync(path) || !existsSync(reportPath)) {
    log(`quantizing ${arch} on ${frames} frames, weight zero point ${weightZeroPoint} (once; cached in ${cacheDir})`);
    const tmp = `${path}.partial-${process.pid}.onnx`;
    const { stdout } = await run(
      process.execPath,
      [
        CLI_PATH,
        'models',
        'quantize',
        float,
        '--calibrate',
        clip,
        '--frames',
        String(frames),
        '--out',
        tmp,
        '--weight-zero-point',
        String(weightZeroPoint),
        '--json',
        '--progress',
        'none',
      ],
      {
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    writeFileSync(reportPath, stdout);
    renameSync(tmp, path);
  }
  return { path, report: QuantizeOutputSchema.parse(JSON.parse(readFileSync(reportPath, 'utf8'))) };
}

export async function runQuantizeBench(opts: QuantizeBenchOptions): Promise<QuantizeBenchResult> {
  const plan = opts.quick ? QUICK : FULL;
  const measurements: Measurement[] = [];
  const ratios: QuantizeBenchResult['ratios'] = [];
  const add = (name: string, value: number, unit: string, detail: string): Measurement => {
    const m = { name, value, unit, detail };
    measurements.push(m);
    return m;
  };
  const calibClip = await ensureClip(opts.cacheDir, plan.calibrationClip, opts.log);
  const common = { threads: opts.threads, device: opts.device };
  const ceilings = new Map<string, number>();

  for (const arch of plan.archs) {
    const floatPath = await ensureModel(opts.cacheDir, arch, opts.log);
    const q = await ensureQuantized(opts.cacheDir, arch, calibClip, plan.calibrationFrames, opts.log);
    const { agreement } = q.report;
    const heldOut = `${agreement.frames} held-out frames of the calibration clip (testsrc2 ${plan.calibrationClip.width}x${plan.calibrationClip.height}), UNTRAINED ${arch}`;
    add(`quantize.${arch}.top1Agreement`, agreement.top1Agreement, '', `INT8 top-1 = FP32 top-1 on ${heldOut}`);
    add(`quantize.${arch}.top1InTop5`, agreement.top1InTop5, '', 'FP32 top-1 within INT8 top-5, same frames');
    if (agreement.embeddingCosine !== null) {
      add(`quantize.${arch}.embeddingCosineMin`, agreement.embeddingCosine.min, '', 'embedding cosine FP32 vs INT8, minimum');
      add(`quantize.${arch}.embeddingCosineMedian`, agreement.embeddingCosine.median, '', 'embedding cosine FP32 vs INT8, median');
    }

    const fp32 = loadModel(floatPath);
    const int8 = loadModel(q.path);
    // The same INT8 weights stored with zero point 0: ONNX Runtime's other convolution kernel (qdq-graph.ts).
    const int8zp0 = loadModel((await ensureQuantized(opts.cacheDir, arch, calibClip, plan.calibrationFrames, opts.log, 0)).path);
    for (const batch of [1, 8]) {
      // Short windows, FP32 and INT8 alternating, best of each: on a shared machine a burst of
      // load from elsewhere then costs one window of one side, not a whole side.
      const ceilingOpts: CeilingOptions = { ...plan.ceiling, batch, ...common };
      const best = { fp32: 0, int8: 0, int8zp0: 0 };
      for (let i = 0; i < plan.repeats; i++) {
        best.fp32 = Math.max(best.fp32, (await measureRawCeiling(fp32, ceilingOpts)).framesPerSecond);
        best.int8 = Math.max(best.int8, (await measureRawCeiling(int8, ceilingOpts)).framesPerSecond);
        best.int8zp0 = Math.max(best.int8zp0, (await measureRawCeiling(int8zp0, ceilingOpts)).framesPerSecond);
      }
      const what = `${arch} batch ${batch}, InferenceSession.run on a ready tensor, best of ${plan.repeats} windows of ${plan.ceiling.minSeconds} s alternating`;
      const a = add(`quantize.${arch}.b${batch}.fp32.fps`, best.fp32, 'frames/s', `FP32 ceiling: ${what}`);
      const b = add(
        `quantize.${arch}.b${batch}.int8.fps`,
        best.int8,
        'frames/s',
        `INT8 ceiling (QDQ fused by ONNX Runtime, weights stored with zero point -1, the default): ${what}`,
      );
      const c = add(
        `quantize.${arch}.b${batch}.int8zp0.fps`,
        best.int8zp0,
        'frames/s',
        `the same INT8 model with weights stored with zero point 0 (--weight-zero-point 0): ${what}`,
      );
      ratios.push({ name: `quantize.${arch}.b${batch}.int8/fp32`, numerator: b.name, denominator: a.name, goal: { op: '>=', value: 3 } });
      ratios.push({ name: `quantize.${arch}.b${batch}.int8zp0/fp32`, numerator: c.name, denominator: a.name });
      ceilings.set(`${arch}.b${batch}.fp32`, best.fp32);
      ceilings.set(`${arch}.b${batch}.int8`, best.int8);
    }
  }

  // End to end: analyze every frame with each model, the ffmpeg-alone time of the same decode.
  const arch = plan.endToEndArch;
  const clip = await ensureClip(opts.cacheDir, plan.analyzeClip, opts.log);
  const floatPath = await ensureModel(opts.cacheDir, arch, opts.log);
  const int8Path = (await ensureQuantized(opts.cacheDir, arch, calibClip, plan.calibrationFrames, opts.log)).path;
  const pre = loadModel(floatPath).preprocess;
  const geometry = frameGeometry(pre);
  const models = { fp32: floatPath, int8: int8Path } as const;
  // Interleaved repeats, best of each, for the same reason as the ceilings.
  let ffSeconds = Infinity;
  const runs: Record<'fp32' | 'int8', AnalyzeRun | undefined> = { fp32: undefined, int8: undefined };
  for (let i = 0; i < plan.e2eRepeats; i++) {
    const ff = await runTimed('ffmpeg', ['-nostdin', '-hide_banner', ...buildDecodeArgs({ input: clip, sampling: { mode: 'every' }, geometry })]);
    ffSeconds = Math.min(ffSeconds, ff.wallSeconds);
    for (const precision of ['fp32', 'int8'] as const) {
      const r = await runAnalyzeCli({ model: models[precision], clip, sampling: ['--every-frame'], batch: opts.batch, ...common });
      if (runs[precision] === undefined || r.summary.framesPerSecond > runs[precision].summary.framesPerSecond) runs[precision] = r;
    }
  }
  const n = `best of ${plan.e2eRepeats}, interleaved`;
  const ffm = add(
    'quantize.e2e.ffmpeg.seconds',
    ffSeconds,
    's',
    `ffmpeg alone decoding the clip with analyze's args (every frame), stdout drained by node, ${n}`,
  );
  for (const precision of ['fp32', 'int8'] as const) {
    const r = runs[precision]!;
    const fps = add(
      `quantize.e2e.${precision}.analyze.fps`,
      r.summary.framesPerSecond,
      'frames/s',
      `analyze --every-frame ${arch} ${precision.toUpperCase()}, batch ${opts.batch}, ${r.summary.frames} frames of testsrc2 ${plan.analyzeClip.width}x${plan.analyzeClip.height} (its summary), ${n}`,
    );
    const ceilingValue =
      ceilings.get(`${arch}.b${opts.batch}.${precision}`) ??
      (await measureRawCeiling(loadModel(models[precision]), { ...plan.ceiling, batch: opts.batch, ...common })).framesPerSecond;
    const ceiling = add(`quantize.e2e.${precision}.ceiling.fps`, ceilingValue, 'frames/s', `raw ceiling of that model at batch ${opts.batch} (as above)`);
    const bound = add(
      `quantize.e2e.${precision}.sharedCpuBound.fps`,
      1 / (1 / ceilingValue + ffm.value / r.summary.frames),
      'frames/s',
      'derived: 1 / (1/ceiling + ffmpeg s/frame): decoding and inference sharing the cores with no waste',
    );
    ratios.push({ name: `quantize.e2e.${precision}.analyze/ceiling`, numerator: fps.name, denominator: ceiling.name });
    ratios.push({ name: `quantize.e2e.${precision}.analyze/sharedCpuBound`, numerator: fps.name, denominator: bound.name, goal: { op: '>=', value: 0.9 } });
  }
  ratios.push({ name: 'quantize.e2e.analyze.int8/fp32', numerator: 'quantize.e2e.int8.analyze.fps', denominator: 'quantize.e2e.fp32.analyze.fps' });
  return { measurements, ratios };
}
