import { hostGuardRulesFor, type HostGuardRules } from '../ingest/host-guard.ts';
import { protocolWhitelistFor } from '../ingest/source-allowlist.ts';
import { describeSource, type RtspTransport, type SourceKind } from '../ingest/source-kind.ts';
import type { Config, Hwaccel, SourceSkipUnchangedConfig } from '../config/schema.ts';
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
  /** Overrides of the server's `live.skipUnchanged` for this stream (any subset of enabled, threshold, maxSkipMs). */
  skipUnchanged?: SourceSkipUnchangedConfig | undefined;
  /** Decoder threads of this stream's ffmpeg; default the server's (`live.decodeThreads`). */
  decodeThreads?: number | undefined;
  /** Hardware decoding of this stream; default the server's (`live.hwaccel`). */
  hwaccel?: Hwaccel | undefined;
}

/** The change gate of a stream (`--skip-unchanged`), resolved: see change-gate.ts. */
export interface SkipUnchanged {
  enabled: boolean;
  /** Fraction of blocks that must change for a frame to be inferred, 0..1. */
  threshold: number;
  /** A frame is inferred anyway after this long without inference, ms. */
  maxSkipMs: number;
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
  /** The change gate of a live stream; undefined: every sampled frame is inferred (files, or skipUnchanged off). */
  skipUnchanged: Omit<SkipUnchanged, 'enabled'> | undefined;
  /** Decoder threads (`-threads` before `-i`); undefined: ffmpeg's own choice. */
  decodeThreads: number | undefined;
  /** Niceness of the stream's ffmpeg (live streams: config `live.decodeNice`); undefined: as this process. */
  decodeNice: number | undefined;
  /** Hardware decoding; `none` (software) unless asked. */
  hwaccel: Hwaccel;
  /** One-pass resize and RGB conversion (config `live.fastScale`); live streams only. */
  fastScale: boolean;
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
  /** The change gate of live streams (config `live.skipUnchanged`); default off. */
  skipUnchanged?: SkipUnchanged | undefined;
  /** Decoder threads of live streams (config `live.decodeThreads`); default ffmpeg's choice. Files keep ffmpeg's choice. */
  decodeThreads?: number | undefined;
  /** Niceness of live streams' ffmpeg (config `live.decodeNice`); default as this process. Files keep this process's. */
  decodeNice?: number | undefined;
  /** Hardware decoding of live streams (config `live.hwaccel`); default none. */
  hwaccel?: Hwaccel | undefined;
  /** One-pass resize and RGB conversion of live streams (config `live.fastScale`); default false. */
  fastScale?: boolean | undefined;
}

/** Config `live.skipUnchanged`, `live.decodeThreads`, `live.decodeNice`, `live.hwaccel`, `live.fastScale` as plan defaults. */
export function liveDecodeDefaults(config: Readonly<Config>): Pick<PlanDefaults, 'skipUnchanged' | 'decodeThreads' | 'decodeNice' | 'hwaccel' | 'fastScale'> {
  return {
    skipUnchanged: { ...config.live.skipUnchanged },
    decodeThreads: config.live.decodeThreads,
    decodeNice: config.live.decodeNice,
    hwaccel: config.live.hwaccel,
    fastScale: config.live.fastScale,
  };
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
    skipUnchanged: live ? gateOf(defaults.skipUnchanged, spec.skipUnchanged) : undefined,
    // A file analysed as fast as it decodes keeps ffmpeg's threads; a live source decodes at its own pace.
    decodeThreads: live ? (spec.decodeThreads ?? defaults.decodeThreads) : spec.decodeThreads,
    // Live decoders yield the CPU to inference; a file's decoding is the work itself.
    decodeNice: live ? defaults.decodeNice : undefined,
    hwaccel: spec.hwaccel ?? (live ? (defaults.hwaccel ?? 'none') : 'none'),
    fastScale: live && (defaults.fastScale ?? false),
  };
}

/** The server's change gate with a stream's overrides on top; undefined when off. */
function gateOf(base: SkipUnchanged | undefined, over: SourceSkipUnchangedConfig | undefined): Omit<SkipUnchanged, 'enabled'> | undefined {
  const enabled = over?.enabled ?? base?.enabled ?? false;
  if (!enabled) return undefined;
  // Defaults of change-gate.ts's callers when the server passed none (a library caller); the config's are the same.
  return { threshold: over?.threshold ?? base?.threshold ?? 0.01, maxSkipMs: over?.maxSkipMs ?? base?.maxSkipMs ?? 5000 };
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
      ...(s.skipUnchanged ? { skipUnchanged: s.skipUnchanged } : {}),
      ...(s.decodeThreads !== undefined ? { decodeThreads: s.decodeThreads } : {}),
      ...(s.hwaccel ? { hwaccel: s.hwaccel } : {}),
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
