/**
 * The model registry: `models/manifest.json` (what can be pulled, from where,
 * with which checksum and preprocessing) and the rules that turn what the
 * user typed (`resnet50`, `./my.onnx`) into a file on disk.
 */
import { readFileSync, statSync, type Stats } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { PreprocessLayer } from './preprocess-resolve.ts';
import { ConfigError, ModelNotFoundError } from '../shared/errors.ts';
import { findLocalModel, loadLocalModels, LOCAL_MODELS_FILE, type LocalModel } from './local-models.ts';

/**
 * The package's own `models/` folder (beside `src/` and `dist/`): the
 * manifest and the label files are always read from here. Downloads go to
 * `models.cacheDir` of the config, which the loader sets to this folder in a
 * checkout and to `~/.cache/streamsight/models` in an installed package
 * (config/loader.ts defaultModelsCacheDir); this folder is only the fallback
 * of callers that pass no cache folder.
 */
export const DEFAULT_MODELS_DIR: string = fileURLToPath(new URL('../../models/', import.meta.url));

export const MANIFEST_FILE = 'manifest.json';

const Rgb = z.tuple([z.number(), z.number(), z.number()]);

export const ManifestEntrySchema = z.object({
  /** What the user types: `streamsight analyze --model resnet50`. */
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lowercase letters, digits, ".", "_" or "-"'),
  arch: z.string().min(1),
  url: z.url({ protocol: /^https?$/ }),
  /** Exact size of the file, in bytes. */
  bytes: z.number().int().positive(),
  /** Lowercase hex sha256 of the whole file. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits'),
  /** Square input side after the centre crop, pixels. */
  inputSize: z.number().int().positive(),
  /** Shorter side resized to this before the crop, pixels. */
  resizeShorter: z.number().int().positive(),
  /** Per-channel mean and std in [0,1] units, RGB order. */
  mean: Rgb,
  std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
  /** Labels file, relative to the models folder. */
  labels: z.string().min(1),
  /** Length of the pooled feature vector in front of the classifier. */
  embeddingDim: z.number().int().positive(),
  /** Where the file comes from, for people. */
  source: z.string().min(1),
  license: z.string().min(1),
});

export const ManifestSchema = z
  .object({
    schemaVersion: z.literal(1),
    models: z.array(ManifestEntrySchema),
  })
  .superRefine((manifest, ctx) => {
    const seen = new Set<string>();
    manifest.models.forEach((entry, i) => {
      if (seen.has(entry.name)) {
        ctx.addIssue({ code: 'custom', path: ['models', i, 'name'], message: `duplicate model name "${entry.name}"` });
      }
      seen.add(entry.name);
    });
  });

export type ManifestEntry = z.infer<typeof ManifestEntrySchema>;
export type Manifest = z.infer<typeof ManifestSchema>;

/**
 * Reads and validates `<modelsDir>/manifest.json`. Throws ConfigError naming
 * the file and the first bad key path.
 */
export function loadManifest(modelsDir: string = DEFAULT_MODELS_DIR): Manifest {
  const file = join(modelsDir, MANIFEST_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read model manifest ${file}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new ConfigError(`invalid model manifest ${file}: ${where}: ${issue?.message ?? 'invalid'}`, {
      cause: parsed.error,
    });
  }
  return deepFreeze(parsed.data);
}

export function findEntry(manifest: Manifest, name: string): ManifestEntry | undefined {
  return manifest.models.find((m) => m.name === name);
}

/** Where `models pull NAME` puts the file, and where resolveModel looks for it. */
export function modelCachePath(name: string, cacheDir: string = DEFAULT_MODELS_DIR): string {
  return join(cacheDir, `${name}.onnx`);
}

/** The preprocessing a manifest entry declares, in the shared contract's shape. */
export function preprocessFromEntry(entry: ManifestEntry): PreprocessLayer {
  return {
    origin: `registry entry ${entry.name}`,
    values: {
      resize: { shorter: entry.resizeShorter },
      crop: { width: entry.inputSize, height: entry.inputSize },
      interpolation: 'bilinear',
      mean: [...entry.mean],
      std: [...entry.std],
      scale: 1 / 255,
      channelOrder: 'RGB',
    },
  };
}

export interface ResolveOptions {
  /** Folder holding manifest.json and label files; default the package's models/. */
  modelsDir?: string;
  /** Folder holding downloaded `<name>.onnx` (the config's `models.cacheDir`); default `modelsDir`. */
  cacheDir?: string;
  /** An already loaded manifest; default loadManifest(modelsDir). */
  manifest?: Manifest;
}

export interface ResolvedModel {
  /** Absolute path of the .onnx file. */
  path: string;
  /** The manifest entry, when the model was named from the registry. */
  entry?: ManifestEntry;
  /** Absolute path of the entry's labels file, when there is an entry. */
  labelsPath?: string;
  /** The local list's entry, for a model added with `models import` / `models quantize --name`. */
  local?: LocalModel;
  source: 'file' | 'registry' | 'local';
}

/**
 * Turns `--model` into a file. Anything that looks like a path (has a
 * separator or ends in `.onnx`) must be an existing file and is used as is;
 * anything else is a registry name and resolves to `<cacheDir>/<name>.onnx`,
 * which must have been pulled, or the name of an imported model
 * (local-models.ts). Throws ModelNotFoundError otherwise, with the
 * known names or the pull command as a hint.
 */
export function resolveModel(nameOrPath: string, options: ResolveOptions = {}): ResolvedModel {
  if (typeof nameOrPath !== 'string' || nameOrPath.trim() === '') {
    throw new TypeError('nameOrPath must be a non-empty string');
  }
  const modelsDir = options.modelsDir ?? DEFAULT_MODELS_DIR;
  const cacheDir = options.cacheDir ?? modelsDir;
  const manifest = options.manifest ?? loadManifest(modelsDir);
  const known = manifest.models.map((m) => m.name);
  const knownHint = known.length > 0 ? `known models: ${known.join(', ')}` : 'the model manifest lists no models';

  if (looksLikePath(nameOrPath)) {
    const path = resolve(nameOrPath);
    const stat = statOrUndefined(path);
    if (!stat) {
      throw new ModelNotFoundError(`model file not found: ${path}`, {
        hint: `give an existing .onnx file or a model name; ${knownHint}`,
      });
    }
    if (!stat.isFile()) {
      throw new ModelNotFoundError(`model path is not a file: ${path}`, { hint: knownHint });
    }
    return { path, source: 'file' };
  }

  const entry = findEntry(manifest, nameOrPath);
  if (!entry) {
    const local = findLocalModel(cacheDir, nameOrPath);
    if (local) return resolveLocal(local, cacheDir);
    const locals = loadLocalModels(cacheDir).map((m) => m.name);
    throw new ModelNotFoundError(`unknown model "${nameOrPath}"`, { hint: locals.length > 0 ? `${knownHint}; imported: ${locals.join(', ')}` : knownHint });
  }
  const path = resolve(modelCachePath(entry.name, cacheDir));
  const stat = statOrUndefined(path);
  const pullHint = `run: streamsight models pull ${entry.name}`;
  if (!stat || !stat.isFile()) {
    throw new ModelNotFoundError(`model ${entry.name} is not downloaded (expected ${path})`, { hint: pullHint });
  }
  // pull only renames a verified file into place, so a size that differs
  // means the file was replaced by hand or the manifest moved to a new build.
  if (stat.size !== entry.bytes) {
    throw new ModelNotFoundError(`model ${entry.name} at ${path} is ${stat.size} bytes, the manifest says ${entry.bytes}`, { hint: pullHint });
  }
  return { path, entry, labelsPath: resolve(modelsDir, entry.labels), source: 'registry' };
}

/** An imported model's file, which must still be the one imported (same size). */
function resolveLocal(local: LocalModel, cacheDir: string): ResolvedModel {
  const path = resolve(cacheDir, local.file);
  const stat = statOrUndefined(path);
  const hint = `import it again: streamsight models import FILE --name ${local.name} --force`;
  if (!stat || !stat.isFile()) throw new ModelNotFoundError(`imported model ${local.name} is missing (expected ${path})`, { hint });
  if (stat.size !== local.bytes) {
    throw new ModelNotFoundError(`imported model ${local.name} at ${path} is ${stat.size} bytes, ${LOCAL_MODELS_FILE} says ${local.bytes}`, { hint });
  }
  return { path, local, source: 'local' };
}

function looksLikePath(s: string): boolean {
  return s.includes('/') || s.includes('\\') || isAbsolute(s) || s.toLowerCase().endsWith('.onnx') || s.startsWith('.');
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new ModelNotFoundError(`cannot read model file ${path}: ${code ?? (err as Error).message}`, { cause: err });
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
