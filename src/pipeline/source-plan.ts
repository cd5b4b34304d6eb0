import { hostGuardRulesFor, type HostGuardRules } from '../ingest/host-guard.ts';
import { protocolWhitelistFor } from '../ingest/source-allowlist.ts';
import { describeSource, type RtspTransport, type SourceKind } from '../ingest/source-kind.ts';
import type { Config } from '../config/schema.ts';
import { UsageError } from '../shared/errors.ts';
import { overridesFromSettings, type WatchdogOverrides, type WatchdogTuning } from '../ingest/source-watchdog.ts';
import type { StreamModelOptions } from './stream-model-options.ts';

/** A source as the config's `sources[]`, `--source` or POST /api/streams names it. */
export interface SourceSpec {
  id: string;
  url: string;
  /** Sampled frames per second; default 5 for live sources, 1 for files. */
  fps?: number | undefined;
  /** Latest-frame semantics; default: network URLs are live, files are not. */
  live?: boolean | undefined;
  loop?: boolean | undefined;
  /**
   * Protocols ffmpeg may open. Default: for a network URL, what its scheme
   * needs and nothing else (a playlist cannot reach file: or concat:);
   * for a local file (trusted), ffmpeg's own.
   */
  protocolWhitelist?: readonly string[] | undefined;
  /** RTSP lower transport; default tcp. */
  rtspTransport?: RtspTransport | undefined;
  /** Per-stream watchdog overrides (stallTimeoutMs, ...), over the server's. */
  watchdog?: WatchdogOverrides | undefined;
  /** This stream's model (`name`; default: the server's), and how its results are published: at most `topK` labels, none below `minScore`. */
  model?: StreamModelOptions | undefined;
}

/** How a source is opened, in both modes (embedded `serve`, and ingest for `serve --redis` / `ingest`). */
export interface SourcePlan {
  kind: SourceKind;
  /** What ffmpeg gets after `-i`. */
  input: string;
  inputOptions: string[];
  /** Protocols ffmpeg may open; undefined: ffmpeg's own (a trusted local file or device). */
  protocolWhitelist: readonly string[] | undefined;
  /** ffmpeg reads the process's standard input. */
  stdin: boolean;
  /** Latest-frame semantics (per-stream high-water mark), else every frame (ffmpeg paused). */
  live: boolean;
  /** A camera, not a file played live: reconnected by the watchdog whatever the error. */
  camera: boolean;
  /** A file played at its native rate, as a camera would deliver it. */
  realtime: boolean;
  loop: boolean;
  /** False for stdin: a run that ended cannot start again. */
  restartable: boolean;
  /** Sampled frames per second. */
  fps: number;
  /** The server's watchdog tuning with the stream's overrides on top. */
  watchdog: WatchdogTuning;
  /** An http(s) source: the hosts its ffmpeg may reach through the host guard proxy (its own and the allowlist's). */
  hostGuard: HostGuardRules | undefined;
}

export interface PlanDefaults {
  /** Frames per second of live sources (config `live.fps`). */
  liveFps: number;
  /** Frames per second of files (config `sampling.fps`). */
  fileFps: number;
  /** Stall detection and backoff of every stream (config `watchdog`, resolved). */
  watchdog: WatchdogTuning;
  /** Host patterns of the allowlist (config `allowlist.hosts`): http(s) sources may reach them as well as their own host. */
  allowedHosts?: readonly string[] | undefined;
  /** Largest frame decoded, pixels as stored (config `decode.maxPixels`); unset: ffmpeg's own limit. */
  maxPixels?: number | undefined;
}

/**
 * Pure: a source spec (config, `--source`, POST /api/streams) to how it is
 * decoded, whatever runs its inference: network URLs are live
 * cameras, files are not unless asked; a network URL gets its scheme's
 * protocol whitelist and nothing more, and an http(s) one the host guard.
 */
export function planSource(spec: SourceSpec, defaults: PlanDefaults): SourcePlan {
  // inputOptions carry the limits: a file's demuxers (no playlists), the pixel limit.
  const source = describeSource(spec.url, { rtspTransport: spec.rtspTransport, maxPixels: defaults.maxPixels });
  const live = spec.live ?? source.live;
  const trusted = source.kind === 'file' || source.kind === 'stdin' || source.kind === 'v4l2';
  return {
    kind: source.kind,
    input: source.input,
    inputOptions: source.inputOptions,
    protocolWhitelist: spec.protocolWhitelist ?? (trusted ? undefined : protocolWhitelistFor(source.scheme)),
    stdin: source.stdin,
    live,
    camera: live && source.kind !== 'file',
    realtime: live && source.kind === 'file',
    loop: spec.loop ?? false,
    restartable: !source.stdin,
    fps: spec.fps ?? (live ? defaults.liveFps : defaults.fileFps),
    watchdog: mergeTuning(defaults.watchdog, spec.watchdog),
    hostGuard: source.kind === 'http' ? hostGuardRulesFor(source.input, defaults.allowedHosts ?? []) : undefined,
  };
}

/** Pipeline-wide watchdog tuning with a stream's overrides on top (backoff merged key by key). */
function mergeTuning(base: WatchdogTuning, over: WatchdogOverrides | undefined): WatchdogTuning {
  if (!over) return base;
  const defined = <T extends object>(o: T | undefined): { [K in keyof T]?: Exclude<T[K], undefined> } =>
    Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
  return { ...base, ...defined(over), backoff: { ...base.backoff, ...defined(over.backoff) } };
}

/** The enabled `sources[]` of the config as the pipeline takes them. */
export function configuredSources(config: Readonly<Config>): SourceSpec[] {
  return config.sources
    .filter((s) => s.enabled)
    .map((s) => ({
      id: s.id,
      url: s.url,
      fps: s.fps,
      live: s.live,
      loop: s.loop,
      rtspTransport: s.rtspTransport,
      ...(s.watchdog ? { watchdog: overridesFromSettings(s.watchdog) } : {}),
      ...(s.model ? { model: s.model } : {}),
    }));
}

/** Command-line source options (`serve`, `ingest`): `--source NAME=URL` pairs, and what a source does not say itself. */
export interface SourceFlags {
  /** `NAME=URL`, each checked by the flag parser to hold a `=` with text on both sides. */
  source: readonly string[];
  fps?: number | undefined;
  live?: boolean | undefined;
  loop?: boolean | undefined;
  rtspTransport?: RtspTransport | undefined;
}

const SOURCE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * The sources a command starts: the config's (the flags filling in what a
 * source leaves unset), then each `--source`. A bad or repeated name, or a
 * second reader of standard input, is a UsageError (one line).
 */
export function commandSources(config: Readonly<Config>, flags: SourceFlags): SourceSpec[] {
  const specs: SourceSpec[] = configuredSources(config).map((s) => ({
    ...s,
    fps: s.fps ?? flags.fps,
    live: s.live ?? (flags.live ? true : undefined),
    loop: s.loop ?? flags.loop,
    rtspTransport: s.rtspTransport ?? flags.rtspTransport,
  }));
  for (const pair of flags.source) {
    const eq = pair.indexOf('=');
    const id = pair.slice(0, eq);
    if (!SOURCE_ID.test(id)) throw new UsageError(`--source name "${id}": 1-64 letters, digits, _ . - (starting with a letter or digit)`);
    if (specs.some((s) => s.id === id)) throw new UsageError(`--source ${id}: a stream with this name is already configured`);
    specs.push({ id, url: pair.slice(eq + 1), fps: flags.fps, live: flags.live ? true : undefined, loop: flags.loop, rtspTransport: flags.rtspTransport });
  }
  if (specs.filter((s) => s.url === '-').length > 1) throw new UsageError('only one source can read standard input (-)');
  return specs;
}
