import { protocolWhitelistFor } from '../gateway/source-allowlist.ts';
import { hostGuardRulesFor, type HostGuardRules } from '../ingest/host-guard.ts';
import { describeSource, type SourceKind } from '../ingest/source-kind.ts';
import type { WatchdogTuning } from '../ingest/source-watchdog.ts';
import type { SourceSpec } from '../pipeline/live-pipeline.ts';

/** How the distributed ingest opens one source; what embedded serve decides for the same spec. */
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
  watchdog: WatchdogTuning | undefined;
  /** An http(s) source: the hosts its ffmpeg may reach through the host guard proxy (its own and the allowlist's). */
  hostGuard: HostGuardRules | undefined;
}

export interface PlanDefaults {
  /** Frames per second of live sources (config `live.fps`). */
  liveFps: number;
  /** Frames per second of files (config `sampling.fps`). */
  fileFps: number;
  /** Stall detection and backoff of every stream (config `watchdog`). */
  watchdog?: WatchdogTuning | undefined;
  /** Host patterns of the allowlist (config `allowlist.hosts`): http(s) sources may reach them as well as their own host. */
  allowedHosts?: readonly string[] | undefined;
  /** Largest frame decoded, pixels as stored (config `decode.maxPixels`); unset: ffmpeg's own limit. */
  maxPixels?: number | undefined;
}

/**
 * Pure: a source spec (config, `--source`, POST /api/streams) to how it is
 * decoded. The same rules as embedded `serve`: network URLs are live
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
function mergeTuning(base: WatchdogTuning | undefined, over: WatchdogTuning | undefined): WatchdogTuning | undefined {
  if (!over) return base;
  const defined = <T extends object>(o: T | undefined): Partial<T> =>
    Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
  return { ...defined(base), ...defined(over), backoff: { ...defined(base?.backoff), ...defined(over.backoff) } };
}
