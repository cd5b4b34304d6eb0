/**
 * `models import`: checks that a file is an image classifier StreamSight can
 * run, settles its preprocessing (flags, a preset, then what the file says)
 * and labels, writes both into the file's metadata (`streamsight.preprocess`,
 * `streamsight.labels`), and lists the copy as a local model, so that
 * `--model NAME` gives the same input everywhere without flags.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { preprocessValues, type PreprocessOverrides, type PresetName } from '../contracts/preprocess.ts';
import { InputNotFoundError } from '../shared/errors.ts';
import { STREAMSIGHT_LABELS_KEY } from './labels.ts';
import { registerLocalModel, type LocalModel } from './local-models.ts';
import { loadModel, type LoadedModel } from './model-loader.ts';
import { loadManifest } from './model-registry.ts';
import { decodeModel, encodeModel } from './onnx-proto.ts';
import type { PreprocessLayer } from './preprocess-resolve.ts';
import { PREPROCESS_METADATA_KEY } from './preprocess-sources.ts';

export interface ImportOptions {
  name: string;
  /** Folder of local and registry models (config `models.cacheDir`). */
  cacheDir: string;
  preset?: PresetName | undefined;
  /** Preprocessing flags; over the preset. */
  overrides?: PreprocessOverrides | undefined;
  labelsFile?: string | undefined;
  /** Replace a local model of the same name. */
  replace?: boolean | undefined;
  /** Written as the entry's precision (models quantize passes int8). */
  precision?: LocalModel['precision'];
  how?: LocalModel['how'];
}

export interface ImportResult {
  entry: LocalModel & { path: string };
  /** The model as `--model NAME` now loads it. */
  model: LoadedModel;
  /** The model as it was settled before the metadata was written: origins name the flag, preset or file that set each field. */
  settled: LoadedModel;
}

/**
 * Imports `file`. Throws ModelInvalidError when it is not a classifier with
 * an image input, UsageError for a bad name or a preprocessing that cannot
 * feed the model, InputNotFoundError when it cannot be read.
 */
export function importModel(file: string, opts: ImportOptions): ImportResult {
  let raw: Uint8Array;
  try {
    raw = readFileSync(file);
  } catch (err) {
    throw new InputNotFoundError(`cannot read model ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  // The flags, then the preset's values for what they leave out (preprocess-resolve.ts expands it).
  const values: PreprocessOverrides = { ...opts.overrides, ...(opts.preset === undefined ? {} : { preset: opts.preset }) };
  const layers: PreprocessLayer[] = Object.keys(values).length > 0 ? [{ origin: 'flags', values }] : [];
  // Everything the file and the files beside it say, under the flags and the preset: as analyze would load it.
  const settled = loadModel(resolve(file), { labelsFile: opts.labelsFile, preprocess: layers });

  const proto = decodeModel(raw);
  const kept = (proto.metadata_props ?? []).filter((p) => p.key !== PREPROCESS_METADATA_KEY && p.key !== STREAMSIGHT_LABELS_KEY);
  kept.push({ key: PREPROCESS_METADATA_KEY, value: JSON.stringify(preprocessValues(settled.preprocess)) });
  if (settled.labelsSource !== 'none (class_N)') kept.push({ key: STREAMSIGHT_LABELS_KEY, value: JSON.stringify(settled.labels) });
  proto.metadata_props = kept;

  const entry = registerLocalModel(opts.cacheDir, {
    name: opts.name,
    bytes: encodeModel(proto),
    from: resolve(file),
    how: opts.how ?? 'import',
    precision: opts.precision ?? 'fp32',
    reserved: loadManifest().models.map((m) => m.name),
    replace: opts.replace ?? false,
  });
  return { entry, model: loadModel(opts.name, { cacheDir: opts.cacheDir }), settled };
}
