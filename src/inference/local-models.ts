/**
 * Models the user brought (`models import`, `models quantize --name`): each
 * is a file `<cacheDir>/<name>.onnx` listed in `<cacheDir>/local-models.json`
 * with its sha256, so `--model NAME` finds it like a registry model. Files
 * and the list are written to a temporary name and renamed into place, so
 * a crash leaves the old state or the new one, never half of either.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, UsageError } from '../shared/errors.ts';

export const LOCAL_MODELS_FILE = 'local-models.json';

/** The same rule as registry names: what the user types after --model. */
export const LOCAL_NAME = /^[a-z0-9][a-z0-9._-]*$/;

export const LocalModelSchema = z
  .object({
    name: z.string().regex(LOCAL_NAME),
    /** File name inside the cache folder. */
    file: z.string().min(1),
    bytes: z.number().int().positive(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    /** The file it was made from, as given. */
    from: z.string(),
    /** `import` or `quantize`. */
    how: z.enum(['import', 'quantize']),
    precision: z.enum(['fp32', 'int8']),
    addedAt: z.string(),
  })
  .strict();
export type LocalModel = z.infer<typeof LocalModelSchema>;

const LocalModelsSchema = z.object({ schemaVersion: z.literal(1), models: z.array(LocalModelSchema) }).strict();

/** The list; empty when the folder has none yet. Throws ConfigError for a damaged list. */
export function loadLocalModels(cacheDir: string): LocalModel[] {
  const file = join(cacheDir, LOCAL_MODELS_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ConfigError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  let parsed;
  try {
    parsed = LocalModelsSchema.safeParse(JSON.parse(text));
  } catch (err) {
    throw new ConfigError(`${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`invalid ${file}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`, { cause: parsed.error });
  }
  return parsed.data.models;
}

export function findLocalModel(cacheDir: string, name: string): LocalModel | undefined {
  return loadLocalModels(cacheDir).find((m) => m.name === name);
}

export interface RegisterOptions {
  name: string;
  /** The model file's content, written as `<name>.onnx`. */
  bytes: Uint8Array;
  from: string;
  how: LocalModel['how'];
  precision: LocalModel['precision'];
  /** Names the caller may not take (the registry's). */
  reserved: readonly string[];
  /** Replace a local model of the same name. */
  replace?: boolean;
}

/** Writes the file and lists it. Throws UsageError for a bad or taken name. */
export function registerLocalModel(cacheDir: string, opts: RegisterOptions): LocalModel & { path: string } {
  const { name } = opts;
  if (!LOCAL_NAME.test(name)) throw new UsageError(`--name "${name}": use lowercase letters, digits, ".", "_" or "-", starting with a letter or digit`);
  if (opts.reserved.includes(name)) throw new UsageError(`--name "${name}" is a registry model's name; pick another`);
  const models = loadLocalModels(cacheDir);
  if (!opts.replace && models.some((m) => m.name === name)) {
    throw new UsageError(`a local model named "${name}" exists; give --force to replace it`);
  }
  mkdirSync(cacheDir, { recursive: true });
  const file = `${name}.onnx`;
  const path = join(cacheDir, file);
  writeAtomically(path, opts.bytes);
  const entry: LocalModel = {
    name,
    file,
    bytes: opts.bytes.length,
    sha256: createHash('sha256').update(opts.bytes).digest('hex'),
    from: opts.from,
    how: opts.how,
    precision: opts.precision,
    addedAt: new Date().toISOString(),
  };
  const list = { schemaVersion: 1, models: [...models.filter((m) => m.name !== name), entry] };
  writeAtomically(join(cacheDir, LOCAL_MODELS_FILE), JSON.stringify(list, null, 2) + '\n');
  return { ...entry, path };
}

function writeAtomically(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
