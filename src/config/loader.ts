import { readFileSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, sep } from 'node:path';
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

/** The package's own folder (package.json, config/, models/): two levels up from src/config/ and from dist/config/. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface LoadConfigOptions {
  /** `--config FILE`: read after the defaults file and the user config; it must exist. */
  file?: string | undefined;
  /** Default process.env. Also where HOME and the XDG folders are read. */
  env?: NodeJS.ProcessEnv;
  /** Settings from flags, already in config shape (`{ model: { batch: 4 } }`). */
  flags?: RawSettings;
  /** The package folder the defaults file and the models folder are found in; for tests. Default PACKAGE_ROOT. */
  packageRoot?: string;
}

/**
 * Reads, the later winning: the package's config/default.yaml, the user
 * config (`$XDG_CONFIG_HOME/streamsight/config.yaml`) when it exists, the
 * `--config FILE`, the environment, then the flags. Validates once and
 * freezes. `models.cacheDir` is always set (see defaultModelsCacheDir). This
 * is the only reader of process.env and of config files.
 */
export function loadConfig(options: LoadConfigOptions = {}): Readonly<Config> {
  const env = options.env ?? process.env;
  const root = options.packageRoot ?? PACKAGE_ROOT;
  const defaultsFile = join(root, 'config', 'default.yaml');
  const userFile = userConfigFile(env);
  const layers: RawSettings[] = [
    { models: { cacheDir: defaultModelsCacheDir(env, root) } },
    existsSync(defaultsFile) ? readConfigFile(defaultsFile) : {},
    userFile !== undefined && existsSync(userFile) ? readConfigFile(userFile) : {},
    options.file !== undefined ? readConfigFile(options.file) : {},
    settingsFromEnv(env),
    options.flags ?? {},
  ];
  const merged = layers.reduce((acc, layer) => deepMerge(acc, layer), {});
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') || '(root)';
    throw new ConfigError(`config key "${path}": ${issue?.message ?? 'invalid'}`);
  }
  return deepFreeze(parsed.data);
}

/**
 * The user config file: `$XDG_CONFIG_HOME/streamsight/config.yaml`, else
 * `$HOME/.config/streamsight/config.yaml`; undefined when the environment
 * names neither (a relative XDG path is ignored, as the XDG spec says).
 */
export function userConfigFile(env: NodeJS.ProcessEnv): string | undefined {
  const base = xdgDir(env, 'XDG_CONFIG_HOME', '.config');
  return base === undefined ? undefined : join(base, 'streamsight', 'config.yaml');
}

/**
 * Where `models pull` downloads to and registry names are looked up, unless
 * `models.cacheDir` (STREAMSIGHT_MODELS_DIR, `--models-dir`) says otherwise:
 * a checkout keeps the repository's `models/` folder; an installed package
 * uses `$XDG_CACHE_HOME/streamsight/models` (default
 * `~/.cache/streamsight/models`), since its own folder may be read-only and
 * is replaced by every upgrade.
 */
export function defaultModelsCacheDir(env: NodeJS.ProcessEnv, root: string = PACKAGE_ROOT): string {
  if (isCheckout(root)) return join(root, 'models');
  return join(xdgDir(env, 'XDG_CACHE_HOME', '.cache') ?? join(homedir(), '.cache'), 'streamsight', 'models');
}

/**
 * A checkout is a package folder with `.git` in it (a folder, or a file in a
 * git worktree) that is not inside a `node_modules` folder. What npm installs
 * (a registry package, a tarball, `npm install -g`) has no `.git`.
 */
export function isCheckout(root: string = PACKAGE_ROOT): boolean {
  return !root.split(sep).includes('node_modules') && existsSync(join(root, '.git'));
}

/** The proxies `models pull` goes through, from the environment. */
export interface ProxySettings {
  /** Proxy for http:// URLs (`http_proxy`, then `HTTP_PROXY`): an http:// URL, maybe with user:password. */
  readonly http: URL | undefined;
  /** Proxy for https:// URLs (`https_proxy`, then `HTTPS_PROXY`), reached over http and asked to CONNECT. */
  readonly https: URL | undefined;
  /** `no_proxy`, then `NO_PROXY`, split on commas and blanks: host names (suffixes), IPs, CIDR ranges, `*`; each may end in `:port`. */
  readonly noProxy: readonly string[];
}

/**
 * Proxy settings as curl reads them (lower-case name first). A proxy without
 * a scheme is taken as http://; any other scheme than http is refused, since
 * only plain-HTTP proxies (with CONNECT for https) are spoken.
 */
export function proxySettingsFromEnv(env: NodeJS.ProcessEnv = process.env): ProxySettings {
  const pick = (lower: string): [string, string] | undefined => {
    for (const name of [lower, lower.toUpperCase()]) {
      const value = env[name]?.trim();
      if (value) return [name, value];
    }
    return undefined;
  };
  const noProxy =
    pick('no_proxy')?.[1]
      .split(/[\s,]+/)
      .filter((e) => e !== '') ?? [];
  return Object.freeze({ http: proxyUrl(pick('http_proxy')), https: proxyUrl(pick('https_proxy')), noProxy: Object.freeze(noProxy) });
}

function proxyUrl(found: [string, string] | undefined): URL | undefined {
  if (found === undefined) return undefined;
  const [name, value] = found;
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch (err) {
    // The value may hold a password: it is not repeated.
    throw new ConfigError(`environment variable ${name} is not a proxy URL (expected http://host:port)`, { cause: err });
  }
  if (url.protocol !== 'http:') {
    throw new ConfigError(
      `environment variable ${name}: ${url.protocol.slice(0, -1)} proxies are not supported, only http://host:port (https targets go through it with CONNECT)`,
    );
  }
  return url;
}

function xdgDir(env: NodeJS.ProcessEnv, name: string, underHome: string): string | undefined {
  const value = env[name];
  if (value !== undefined && isAbsolute(value)) return value;
  const home = env.HOME;
  return home !== undefined && isAbsolute(home) ? join(home, underHome) : undefined;
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
