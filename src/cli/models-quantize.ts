/**
 * `streamsight models quantize`: the command shell around quantizeModel
 * (inference/quantize/quantize-model.ts): flags, progress bar, writing the
 * file atomically, the agreement report.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { findLocalModel, LOCAL_NAME, registerLocalModel } from '../inference/local-models.ts';
import type { LoadModelOptions } from '../inference/model-loader.ts';
import { loadManifest } from '../inference/model-registry.ts';
import { quantizeModel, type QuantizePhase } from '../inference/quantize/quantize-model.ts';
import { formatQuantizeReport } from '../inference/quantize/report-text.ts';
import { OutputError, UsageError } from '../shared/errors.ts';
import { createProgress, type Progress, type ProgressMode } from '../shared/progress.ts';
import { nonNegativeInt, positiveInt, preprocessOptions, type PreprocessFlags } from './options.ts';

const PHASE_LABELS: Record<QuantizePhase, string> = {
  decode: 'decoding frames',
  calibrate: 'calibrating ranges',
  'bias-correction': 'bias correction',
  compare: 'FP32 vs INT8 on held-out frames',
};

export interface QuantizeFlags extends PreprocessFlags {
  calibrate: string[];
  out: string;
  name?: string;
  force?: boolean;
  config?: string;
  frames?: number;
  percentile?: number;
  biasCorrection: boolean;
  weightZeroPoint?: '0' | '-1';
  batch?: number;
  threads?: number;
  labels?: string;
  modelsDir?: string;
  progress?: ProgressMode;
  json?: boolean;
}

function percentileArg(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 50 || n > 100) throw new InvalidArgumentError(`--percentile must be a number in (50, 100], got "${value}"`);
  return n;
}

export interface QuantizeCommandDeps {
  cacheDirOf: (flag: string | undefined) => string;
  /** What analyze would load the model with: labels and preprocessing from the flags and the config. */
  loadOptions: (model: string, flags: QuantizeFlags) => LoadModelOptions;
}

export function quantizeCommand(deps: QuantizeCommandDeps): Command {
  const cmd = new Command('quantize')
    .description(
      'write a static INT8 copy of a float classifier, calibrated on frames of your own videos (decoded as analyze decodes them); prints how often it agrees with FP32 on held-out frames',
    )
    .argument('<model>', 'registry name or float .onnx file')
    .requiredOption('--calibrate <video...>', 'videos to calibrate on (frames spread over each; every other one held out for the report)')
    .requiredOption('--out <file>', 'where to write the INT8 .onnx file')
    .addOption(new Option('--frames <n>', 'calibration frames in all; as many again are held out [default: 200]').argParser(positiveInt('--frames')))
    .addOption(new Option('--percentile <p>', 'activation ranges keep this percentile of values [default: 99.99]').argParser(percentileArg))
    .addOption(
      new Option(
        '--weight-zero-point <n>',
        'int8 weights are on the symmetric grid -127..127 either way; stored with zero point -1 (offset by one) ONNX Runtime uses its QGEMM kernels, with 0 its symmetric direct convolution; same outputs, -1 measured faster here [default: -1]',
      ).choices(['0', '-1']),
    )
    .option('--no-bias-correction', 'do not fold the measured mean shift of each Conv output into its bias')
    .addOption(new Option('--batch <n>', 'frames per ONNX Runtime run [default: 8]').argParser(positiveInt('--batch')))
    .addOption(
      new Option(
        '--threads <n>',
        'ONNX Runtime intra-op threads, 0 = one per physical core this process may use (within a cgroup v2 CPU quota) [default: 0]',
      ).argParser(nonNegativeInt('--threads')),
    )
    .option('--name <name>', 'also add it to the models folder as NAME (a local model, like models import), so --model NAME works everywhere')
    .option('--force', 'with --name: replace a local model of the same name')
    .option('--labels <file>', 'class names to record in the file, as analyze would use them')
    .option('--models-dir <dir>', 'where downloaded registry models live')
    .option('--config <file>', 'YAML config file whose model.preprocess applies, as analyze would read it')
    .addOption(new Option('--progress <mode>', 'progress on stderr [default: bar on a terminal]').choices(['bar', 'json', 'none']))
    .option('--json', 'print the report as one JSON object');
  for (const o of preprocessOptions()) cmd.addOption(o);
  cmd.addHelpText(
    'after',
    `
The preprocessing flags are those of analyze: calibrate with what analyze will be given.

Examples:
  streamsight models quantize resnet50 --calibrate cam1.mp4 cam2.mp4 --out r50-int8.onnx --name r50-int8
  streamsight analyze --model r50-int8 cam3.mp4`,
  );
  return cmd.action(async (model: string, flags: QuantizeFlags) => {
    const cacheDir = deps.cacheDirOf(flags.modelsDir);
    if (flags.name !== undefined) checkName(cacheDir, flags.name, flags.force ?? false);
    const loadOptions = deps.loadOptions(model, flags);
    const mode: ProgressMode = flags.progress ?? (process.stderr.isTTY ? 'bar' : 'none');
    let phase: QuantizePhase | undefined;
    let bar: Progress | undefined;
    const onProgress = (next: QuantizePhase, done: number, total: number): void => {
      if (next !== phase) {
        bar?.finish();
        phase = next;
        bar = createProgress({ mode, stream: process.stderr, label: PHASE_LABELS[next] });
      }
      bar?.update({ done, total, unit: 'frames' });
    };
    let result: Awaited<ReturnType<typeof quantizeModel>>;
    try {
      result = await quantizeModel({
        model,
        videos: flags.calibrate,
        ...(flags.frames !== undefined ? { frames: flags.frames } : {}),
        ...(flags.percentile !== undefined ? { percentile: flags.percentile / 100 } : {}),
        biasCorrection: flags.biasCorrection,
        ...(flags.weightZeroPoint !== undefined ? { weightZeroPoint: flags.weightZeroPoint === '0' ? (0 as const) : (-1 as const) } : {}),
        ...(flags.batch !== undefined ? { batch: flags.batch } : {}),
        ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
        labelsFile: flags.labels ?? loadOptions.labelsFile,
        preprocess: loadOptions.preprocess,
        cacheDir,
        onProgress,
      });
    } finally {
      bar?.finish();
    }
    writeAtomically(flags.out, result.bytes);
    const registered =
      flags.name === undefined
        ? undefined
        : registerLocalModel(cacheDir, {
            name: flags.name,
            bytes: result.bytes,
            from: model,
            how: 'quantize',
            precision: 'int8',
            reserved: loadManifest().models.map((m) => m.name),
            replace: flags.force ?? false,
          });
    const { report } = result;
    const named = registered ? { name: registered.name, path: registered.path } : {};
    if (flags.json) process.stdout.write(JSON.stringify({ type: 'quantize', out: flags.out, bytes: result.bytes.byteLength, ...named, ...report }) + '\n');
    else {
      process.stdout.write(formatQuantizeReport(report, flags.out, result.bytes.byteLength));
      if (registered) process.stdout.write(`registered as ${registered.name} (${registered.path}): use it with --model ${registered.name}\n`);
    }
  });
}

/** The checks registerLocalModel makes, before minutes of calibration rather than after. */
function checkName(cacheDir: string, name: string, force: boolean): void {
  if (!LOCAL_NAME.test(name)) throw new UsageError(`--name "${name}": use lowercase letters, digits, ".", "_" or "-", starting with a letter or digit`);
  if (loadManifest().models.some((m) => m.name === name)) throw new UsageError(`--name "${name}" is a registry model's name; pick another`);
  if (!force && findLocalModel(cacheDir, name)) throw new UsageError(`a local model named "${name}" exists; give --force to replace it`);
}

function writeAtomically(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new OutputError(`cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}
