import { InvalidArgumentError, Option } from 'commander';
import type { RawSettings } from '../config/loader.ts';
import { setPath } from '../config/loader.ts';

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

export function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a number > 0, got "${value}"`);
    return n;
  };
}

/** The model flags shared by every command that runs inference. */
export function modelOptions(): Option[] {
  return [
    new Option('--model <name|file>', 'registry name (see `models list`) or path to an .onnx file [default: resnet50]'),
    new Option('--labels <file>', 'class names: text (one per line), JSON array, or Hugging Face config.json'),
    new Option('--device <device>', 'execution provider [default: auto]').choices(['auto', 'cpu', 'cuda']),
    new Option('--batch <n>', 'frames per inference call [default: 8]').argParser(positiveInt('--batch')),
    new Option('--threads <n>', 'ONNX Runtime intra-op threads, 0 = one per core [default: 0]').argParser(nonNegativeInt('--threads')),
    new Option('--models-dir <dir>', 'where downloaded registry models live [default: models/ in a checkout, ~/.cache/streamsight/models installed]'),
    new Option('--config <file>', 'YAML config file, read over config/default.yaml and ~/.config/streamsight/config.yaml'),
    new Option('--log-level <level>', 'log level on stderr [default: info]').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']),
  ];
}

export interface ModelFlags {
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
  return out;
}

/** Flags of how live sources are decoded and gated (`serve`, `ingest`). */
export interface LiveDecodeFlags {
  skipUnchanged?: boolean;
  decodeThreads?: number;
  hwaccel?: string;
}

/** `--skip-unchanged`, `--decode-threads`, `--hwaccel` (serve, ingest). */
export function liveDecodeOptions(): Option[] {
  return [
    new Option(
      '--skip-unchanged',
      'live sources: a frame that did not change since its stream\'s last inferred frame repeats its labels ("reused": true) instead of being inferred (config live.skipUnchanged)',
    ),
    new Option('--decode-threads <n>', "decoder threads per live source's ffmpeg, 0 = ffmpeg's choice [default: 1]").argParser(
      nonNegativeInt('--decode-threads'),
    ),
    new Option('--hwaccel <kind>', 'hardware decoding of live sources; one that cannot start falls back to software [default: none]').choices([
      'auto',
      'none',
      'vaapi',
      'cuda',
    ]),
  ];
}

/** The live decoding flags given, into `settings` (config shape). */
export function liveDecodeSettings(flags: LiveDecodeFlags, settings: RawSettings): RawSettings {
  if (flags.skipUnchanged) setPath(settings, 'live.skipUnchanged.enabled', true);
  if (flags.decodeThreads !== undefined) setPath(settings, 'live.decodeThreads', flags.decodeThreads);
  if (flags.hwaccel !== undefined) setPath(settings, 'live.hwaccel', flags.hwaccel);
  return settings;
}
