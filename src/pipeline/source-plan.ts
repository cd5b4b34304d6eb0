import { hostGuardRulesFor, type HostGuardRules } from '../ingest/host-guard.ts';
import { protocolWhitelistFor } from '../ingest/source-allowlist.ts';
import { describeSource, type RtspTransport, type SourceKind } from '../ingest/source-kind.ts';
import type { WatchdogOverrides, WatchdogTuning } from '../ingest/source-watchdog.ts';
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
