import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../shared/errors.ts';
import { ConfigSchema, type Config } from './schema.ts';

/** A nested object of settings, before validation. */
export type RawSettings = { [key: string]: unknown };

/** Environment variables read, and the config key each sets. */
export const ENV_KEYS: Readonly<Record<string, { path: string; type: 'string' | 'number' }>> = {
  STREAMSIGHT_MODEL: { path: 'model.name', type: 'string' },
  STREAMSIGHT_LABELS: { path: 'model.labels', type: 'string' },
  STREAMSIGHT_DEVICE: { path: 'model.device', type: 'string' },
  STREAMSIGHT_BATCH: { path: 'model.batch', type: 'number' },
  STREAMSIGHT_THREADS: { path: 'model.threads', type: 'number' },
  STREAMSIGHT_MODELS_DIR: { path: 'models.cacheDir', type: 'string' },
  STREAMSIGHT_LOG_LEVEL: { path: 'log.level', type: 'string' },
  STREAMSIGHT_PORT: { path: 'server.port', type: 'number' },
  STREAMSIGHT_TOKEN: { path: 'server.token', type: 'string' },
  REDIS_URL: { path: 'redis.url', type: 'string' },
  STREAMSIGHT_REDIS_PREFIX: { path: 'redis.prefix', type: 'string' },
};

export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../../config/default.yaml', import.meta.url));

export interface LoadConfigOptions {
  /** A YAML file; when absent, config/default.yaml. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Settings from flags, already in config shape (`{ model: { batch: 4 } }`). */
  flags?: RawSettings;
}

/**
 * Loads file, then environment, then flags (later wins), validates once and
 * freezes. This is the only reader of process.env and of config files.
 */
export function loadConfig(options: LoadConfigOptions = {}): Readonly<Config> {
  const file = options.file ?? DEFAULT_CONFIG_FILE;
  const fromFile = options.file !== undefined || existsSync(file) ? readConfigFile(file) : {};
  const fromEnv = settingsFromEnv(options.env ?? process.env);
  const merged = deepMerge(deepMerge(fromFile, fromEnv), options.flags ?? {});
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') || '(root)';
    throw new ConfigError(`config key "${path}": ${issue?.message ?? 'invalid'}`);
  }
  return deepFreeze(parsed.data);
}

function readConfigFile(file: string): RawSettings {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`config file ${file} must hold a mapping of keys`);
  }
  return value as RawSettings;
}

/** Pure: environment variables to nested settings. */
export function settingsFromEnv(env: NodeJS.ProcessEnv): RawSettings {
  const out: RawSettings = {};
  for (const [name, { path, type }] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (type === 'number') {
      value = Number(raw);
      if (!Number.isFinite(value)) throw new ConfigError(`environment variable ${name} (config key "${path}"): expected a number, got "${raw}"`);
    }
    setPath(out, path, value);
  }
  return out;
}

export function setPath(target: RawSettings, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as RawSettings;
  }
  node[keys[keys.length - 1] as string] = value;
}

function isPlainObject(v: unknown): v is RawSettings {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepMerge(base: RawSettings, over: RawSettings): RawSettings {
  const out: RawSettings = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? deepMerge(prev, value) : value;
  }
  return out;
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
