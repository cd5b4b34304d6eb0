import { InvalidArgumentError, Option } from 'commander';
import type { RawSettings } from '../config/loader.ts';
import { setPath } from '../config/loader.ts';
import { INTERPOLATIONS, PRESETS, type Interpolation, type PreprocessOverrides, type PresetName, type ResizeSpec } from '../contracts/preprocess.ts';

/** Parsers that turn a bad flag value into one clear line. */
export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
    return n;
  };
}

export function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be an integer >= 0, got "${value}"`);
    return n;
  };
}

/** `--decode-nice`: an integer 0..19. */
function niceness(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 19) throw new InvalidArgumentError(`--decode-nice must be an integer from 0 to 19, got "${value}"`);
  return n;
}

export function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a number > 0, got "${value}"`);
    return n;
  };
}

/** `--resize 232` (shorter side) or `--resize 320x240` (straight to that size). */
export function resizeArg(name: string) {
  return (value: string): ResizeSpec => {
    const m = /^(\d+)(?:x(\d+))?$/.exec(value.trim());
    const [w, h] = [Number(m?.[1]), Number(m?.[2] ?? m?.[1])];
    if (!m || !(w >= 1 && w <= 8192 && h >= 1 && h <= 8192)) throw new InvalidArgumentError(`${name} must be N (shorter side) or WxH, 1..8192, got "${value}"`);
    return m[2] === undefined ? { shorter: w } : { width: w, height: h };
  };
}

/** `--crop 224` or `--crop 224x192` (width x height). */
export function cropArg(name: string) {
  return (value: string): { width: number; height: number } => {
    const r = resizeArg(name)(value);
    return 'shorter' in r ? { width: r.shorter, height: r.shorter } : r;
  };
}

/** `--mean 0.485,0.456,0.406`: three numbers, R,G,B; `positive` for std. */
export function rgbArg(name: string, positive = false) {
  return (value: string): [number, number, number] => {
    const parts = value.split(',').map((p) => p.trim());
    const nums = parts.map(Number);
    if (parts.length !== 3 || parts.some((p) => p === '') || nums.some((n) => !Number.isFinite(n) || (positive && n <= 0))) {
      throw new InvalidArgumentError(`${name} must be three ${positive ? 'positive ' : ''}numbers R,G,B, got "${value}"`);
    }
    return nums as [number, number, number];
  };
}

/** The preprocessing flags (docs/models.md): over the config's model.preprocess and the model's own metadata. */
export function preprocessOptions(): Option[] {
  return [
    new Option('--resize <N|WxH>', "resize the shorter side to N, or straight to WxH [default: the model's]").argParser(resizeArg('--resize')),
    new Option('--crop <N|WxH>', "centre crop, the model's input size [default: the model's]").argParser(cropArg('--crop')),
    new Option('--mean <r,g,b>', "per-channel mean after scaling to [0,1] [default: the model's, else ImageNet]").argParser(rgbArg('--mean')),
    new Option('--std <r,g,b>', "per-channel std [default: the model's, else ImageNet]").argParser(rgbArg('--std', true)),
    new Option('--interpolation <kind>', "resize filter [default: the model's, else bilinear]").choices(INTERPOLATIONS),
    new Option('--preset <library>', "a library's evaluation transform for what the flags above leave out (docs/models.md)").choices(PRESETS),
  ];
}

export interface PreprocessFlags {
  resize?: ResizeSpec;
  crop?: { width: number; height: number };
  mean?: [number, number, number];
  std?: [number, number, number];
  interpolation?: Interpolation;
  preset?: PresetName;
}

/** The preprocessing flags given, as overrides (empty when none). */
export function preprocessFromFlags(flags: PreprocessFlags): PreprocessOverrides {
  const out: PreprocessOverrides = {};
  for (const key of ['resize', 'crop', 'mean', 'std', 'interpolation', 'preset'] as const)
    if (flags[key] !== undefined) Object.assign(out, { [key]: flags[key] });
  return out;
}

/** The model flags shared by every command that runs inference. */
export function modelOptions(): Option[] {
  return [
    ...preprocessOptions(),
    new Option('--model <name|file>', 'registry name (see `models list`) or path to an .onnx file [default: resnet50]'),
    new Option('--labels <file>', 'class names: text (one per line), JSON array, or Hugging Face config.json'),
    new Option('--device <device>', 'execution provider [default: auto]').choices(['auto', 'cpu', 'cuda']),
    new Option('--batch <n>', 'frames per inference call [default: 8]').argParser(positiveInt('--batch')),
    new Option(
      '--threads <n>',
      'ONNX Runtime intra-op threads, 0 = one per physical core this process may use (within a cgroup v2 CPU quota) [default: 0]',
    ).argParser(nonNegativeInt('--threads')),
    new Option('--models-dir <dir>', 'where downloaded registry models live [default: models/ in a checkout, ~/.cache/streamsight/models installed]'),
    new Option('--config <file>', 'YAML config file, read over config/default.yaml and ~/.config/streamsight/config.yaml'),
    new Option('--log-level <level>', 'log level on stderr [default: info]').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']),
  ];
}

export interface ModelFlags extends PreprocessFlags {
  model?: string;
  labels?: string;
  device?: string;
  batch?: number;
  threads?: number;
  topK?: number;
  modelsDir?: string;
  fps?: number;
  logLevel?: string;
}

/** Flags to config shape; only flags actually given, so file and env still apply. */
export function flagsToSettings(flags: ModelFlags): RawSettings {
  const out: RawSettings = {};
  const map: Array<[keyof ModelFlags, string]> = [
    ['model', 'model.name'],
    ['labels', 'model.labels'],
    ['device', 'model.device'],
    ['batch', 'model.batch'],
    ['threads', 'model.threads'],
    ['topK', 'model.topK'],
    ['modelsDir', 'models.cacheDir'],
    ['fps', 'sampling.fps'],
    ['logLevel', 'log.level'],
  ];
  for (const [flag, path] of map) if (flags[flag] !== undefined) setPath(out, path, flags[flag]);
  const { resize, ...rest } = preprocessFromFlags(flags);
  // A shorter side goes in as a bare number, which replaces a config file's {width, height} when merged.
  if (resize !== undefined) setPath(out, 'model.preprocess.resize', 'shorter' in resize ? resize.shorter : resize);
  for (const [key, value] of Object.entries(rest)) setPath(out, `model.preprocess.${key}`, value);
  return out;
}

/** Flags of how live sources are decoded and gated (`serve`, `ingest`). */
export interface LiveDecodeFlags {
  skipUnchanged?: boolean;
  decodeThreads?: number;
  decodeNice?: number;
  hwaccel?: string;
  fastScale?: boolean;
}

/** `--skip-unchanged`, `--decode-threads`, `--decode-nice`, `--hwaccel`, `--fast-scale` (serve, ingest). */
export function liveDecodeOptions(): Option[] {
  return [
    new Option(
      '--skip-unchanged',
      'live sources: a frame that did not change since its stream\'s last inferred frame repeats its labels ("reused": true) instead of being inferred (config live.skipUnchanged)',
    ),
    new Option('--decode-threads <n>', "decoder threads per live source's ffmpeg, 0 = ffmpeg's choice [default: 1]").argParser(
      nonNegativeInt('--decode-threads'),
    ),
    new Option(
      '--decode-nice <n>',
      "how much nicer (0-19) than streamsight live sources' ffmpeg runs: decoders yield the CPU to inference; 0 = the same priority (config live.decodeNice) [default: 10]",
    ).argParser(niceness),
    new Option('--hwaccel <kind>', 'hardware decoding of live sources; one that cannot start falls back to software [default: none]').choices([
      'auto',
      'none',
      'vaapi',
      'cuda',
    ]),
    new Option(
      '--fast-scale',
      'live sources: resize and convert to RGB in one pass (about a third of the decoding CPU of a 1080p camera; frames 0.3 to 2 levels of 255 from the default on average) (config live.fastScale)',
    ),
  ];
}

/** The live decoding flags given, into `settings` (config shape). */
export function liveDecodeSettings(flags: LiveDecodeFlags, settings: RawSettings): RawSettings {
  if (flags.skipUnchanged) setPath(settings, 'live.skipUnchanged.enabled', true);
  if (flags.decodeThreads !== undefined) setPath(settings, 'live.decodeThreads', flags.decodeThreads);
  if (flags.decodeNice !== undefined) setPath(settings, 'live.decodeNice', flags.decodeNice);
  if (flags.hwaccel !== undefined) setPath(settings, 'live.hwaccel', flags.hwaccel);
  if (flags.fastScale) setPath(settings, 'live.fastScale', true);
  return settings;
}
