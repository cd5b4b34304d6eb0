/**
 * The ffmpeg watchdog: keeps one source decoding, for as long as it is
 * asked to, whatever the camera or the network does (frigate's
 * `video.py`/`watchdog.py` are the model).
 *
 * State machine (docs/PROTOCOL.md "Server to client": `status` messages):
 *
 *   starting ──first frame──▶ live ──run fails / stalls / stream ends──▶ reconnecting
 *       │                      ▲  │                                          │
 *       │                      │  └──file ends (no loop)──▶ ended            │
 *       │                      └────────────first frame of a new run─────────┘
 *       └──(any state) not retryable, or maxRestarts failures in a row──▶ failed
 *
 * - A run is one ffmpeg process. Each restart is a new run (new runId, seq
 *   from 0) after a backoff delay (exponential, jittered, capped; reset after
 *   a healthy stretch of frames: restart-backoff.ts).
 * - Stall: no frame for `startTimeoutMs` after a spawn, or for
 *   `stallTimeoutMs` after the last one, restarts the run. Time the consumer
 *   holds a frame (a file waiting for inference) does not count.
 * - Stopping a run asks ffmpeg to quit (SIGTERM), then kills it after
 *   `stopGraceMs`; a run only ends once its process has been reaped, so no
 *   restart ever leaves an ffmpeg or a pipe behind.
 * - ffmpeg's last log lines (showinfo lines excluded) are kept, redacted,
 *   for the error report; nothing shown carries the URL's credentials.
 * - An http(s) source's ffmpeg reaches the network only through the
 *   stream's host guard proxy (host-guard-proxy.ts), one per stream for
 *   its whole life: a request to a host the stream may not reach stops the
 *   run at once (E_SOURCE_HOST_REFUSED, the host in the status detail).
 *   ffmpeg opens an https source over plain http to the proxy, which
 *   speaks TLS to the camera (so ffmpeg needs no tls or httpproxy).
 * - A restarted run of a live HLS playlist passes no frame on until the
 *   playlist (seen through the proxy) lists a new segment: a playlist left
 *   behind by a dead camera is not decoded again as if it were live
 *   (playlist-growth.ts). Its run then stalls, and the stream stays
 *   `reconnecting` until the camera is back.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Frame, FrameGeometry, Sampling } from '../contracts/frame.ts';
import type { StreamState } from '../contracts/results.ts';
import type { SourceWatchdogConfig, WatchdogConfig } from '../config/schema.ts';
import { isStreamSightError, StreamSightError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { decodeFrames } from './file-decoder.ts';
import type { HwaccelKind } from './ffmpeg-args.ts';
import { downgradeHttpsUrl, hostGuardRulesFor, targetOfUrl, type HostGuardRules } from './host-guard.ts';
import { HostGuardProxy, HostRefusedError } from './host-guard-proxy.ts';
import { stripLogPrefix } from './ffmpeg-log.ts';
import { PlaylistGrowth } from './playlist-growth.ts';
import { RestartBackoff } from './restart-backoff.ts';
import { redactorFor } from './url-redaction.ts';

/** A run delivered no frame for too long; the watchdog restarts it. */
export class SourceStalledError extends StreamSightError {
  readonly code = 'E_SOURCE_STALLED';
  override readonly retryable = true;
  override readonly exitCode = 5;
}

/**
 * The tunables of the watchdog, resolved: every key set (config key
 * `watchdog` through tuningFromSettings, with a source's overrides merged
 * on top by source-plan.ts). Their units and defaults are the config
 * schema's (src/config/schema.ts), the one place defaults are stated.
 */
export interface WatchdogTuning {
  /** A live run with no frame for this long is restarted, ms. Must exceed the sampling period (1000 / fps). */
  stallTimeoutMs: number;
  /** A new run gets this long to deliver its first frame (RTSP probing takes seconds), ms. */
  startTimeoutMs: number;
  /** ffmpeg gets this long to quit after SIGTERM before SIGKILL, ms. */
  stopGraceMs: number;
  /** Restart delays (restart-backoff.ts); the delay doubles per failure in a row. */
  backoff: BackoffTuning;
  /** Failures in a row (no healthy stretch between) before the stream is `failed`; 0 = never give up. */
  maxRestarts: number;
  /** ffmpeg log lines kept for the error report. */
  logLines: number;
  /**
   * ffmpeg starts in any 60 s, at most. A start past it waits until the
   * oldest of them is a minute old, whatever the backoff says (a source
   * that fails at once with no backoff, a looping one-frame file).
   */
  maxStartsPerMinute: number;
}

/** Restart delays: config `watchdog.backoffInitialMs`, `backoffMaxMs`, `backoffJitter`, `healthyAfterMs`. */
export interface BackoffTuning {
  initialMs: number;
  maxMs: number;
  jitter: number;
  healthyAfterMs: number;
}

/**
 * A source's overrides of the server's tuning (config `sources[].watchdog`,
 * POST /api/streams): any subset; a key left unset keeps the server's.
 * maxStartsPerMinute is the server's alone.
 */
export type WatchdogOverrides = {
  [K in Exclude<keyof WatchdogTuning, 'backoff' | 'maxStartsPerMinute'>]?: WatchdogTuning[K] | undefined;
} & {
  backoff?: { [K in keyof BackoffTuning]?: BackoffTuning[K] | undefined } | undefined;
};

/** Each restart delay is twice the one before (up to backoffMaxMs). */
const BACKOFF_MULTIPLIER = 2;

/** The window of maxStartsPerMinute, ms. */
const START_WINDOW_MS = 60_000;

/**
 * How long a start must wait so that at most `max` starts fall in any
 * START_WINDOW_MS, given the times of the previous ones (ascending, ms); pure.
 */
export function startRateWait(previousStarts: readonly number[], max: number, nowMs: number): number {
  if (previousStarts.length < max) return 0;
  const oldestCounted = previousStarts[previousStarts.length - max]!;
  return Math.max(0, oldestCounted + START_WINDOW_MS - nowMs);
}

export interface SourceWatchdogOptions extends WatchdogTuning {
  id: string;
  /** The source as configured (may carry credentials: it is never shown as is). */
  url: string;
  /** What ffmpeg gets after `-i` (source-kind.ts); default `url`. */
  input?: string | undefined;
  /** A camera: a stream that ends or fails is reconnected, whatever the error. */
  live: boolean;
  /** Restart a file at its end, as a new run, with no backoff. */
  loop: boolean;
  /** False for stdin: a run that ends cannot be started again. Default true. */
  restartable?: boolean | undefined;
  sampling: Sampling;
  geometry: FrameGeometry;
  realtime?: boolean | undefined;
  protocolWhitelist?: readonly string[] | undefined;
  inputOptions?: readonly string[] | undefined;
  /** Decoder threads of each run's ffmpeg; default ffmpeg's choice. */
  decodeThreads?: number | undefined;
  /** Niceness of each run's ffmpeg; default as this process. */
  decodeNice?: number | undefined;
  /**
   * Hardware decoding (`-hwaccel`); default none. When it cannot start
   * (no device), the run goes on in software, so do later runs, and the
   * `live` state's detail says why (`software decoding: ...`).
   */
  hwaccel?: HwaccelKind | undefined;
  /**
   * Hosts an http(s) source's ffmpeg may reach, through the host guard
   * proxy. Default for an http(s) input: its own host:port only. `false`
   * turns the guard off (no proxy). Ignored for other inputs.
   */
  hostGuard?: HostGuardRules | false | undefined;
  stdin?: Readable | undefined;
  ffmpegPath?: string | undefined;
  /** Each frame, in order. A returned promise holds ffmpeg (its pipe fills) and pauses the stall clock. */
  onFrame: (frame: Frame) => void | Promise<void>;
  /** Every state change; `detail` is redacted. */
  onState: (state: StreamState, detail: string | undefined) => void;
  /** A run is about to be started again (not the first run). */
  onRestart?: ((info: RestartInfo) => void) | undefined;
  logger: Logger;
  /** For tests: the random source of the jitter. */
  random?: () => number;
}

export interface RestartInfo {
  /** Why the previous run ended (redacted). */
  reason: string;
  /** Wait before the new run, ms (0 for a looping file). */
  delayMs: number;
  /** Failures in a row so far. */
  failures: number;
  /** ffmpeg's last log lines of the previous run (redacted). */
  log: string[];
}

/** How a run ended. */
export type RunOutcome = { kind: 'ended'; frames: number } | { kind: 'error'; error: unknown; frames: number };

export type RunDecision = 'restart' | 'backoff' | 'ended' | 'failed';

/**
 * What to do after a run; pure. `failures` counts failures in a row
 * including this one.
 */
export function decideAfterRun(o: {
  live: boolean;
  loop: boolean;
  restartable: boolean;
  outcome: RunOutcome;
  failures: number;
  maxRestarts: number;
}): RunDecision {
  const { outcome } = o;
  if (outcome.kind === 'ended') {
    if (o.loop && o.restartable && outcome.frames > 0) return 'restart';
    // A camera's stream does not end: the server closed it, reconnect.
    if (o.live && o.restartable && !o.loop) return giveUp(o) ? 'failed' : 'backoff';
    if (o.loop && o.restartable) return giveUp(o) ? 'failed' : 'backoff'; // a looping file that yields nothing
    return 'ended';
  }
  const err = outcome.error;
  if (!isStreamSightError(err)) return 'failed'; // a bug: logged with its stack, never retried in a loop
  if (err.code === 'E_FFMPEG_MISSING' || !o.restartable) return 'failed';
  // A camera that is unplugged, rebooting or serving junk comes back: retry all of it.
  const retry = o.live || err.retryable;
  if (!retry) return 'failed';
  return giveUp(o) ? 'failed' : 'backoff';
}

function giveUp(o: { failures: number; maxRestarts: number }): boolean {
  return o.maxRestarts > 0 && o.failures > o.maxRestarts;
}

/** A bounded ring of the last log lines. */
class LogTail {
  private lines: string[] = [];
  constructor(private readonly size: number) {}
  push(line: string): void {
    if (this.size <= 0) return;
    this.lines.push(line);
    if (this.lines.length > this.size) this.lines.shift();
  }
  take(): string[] {
    const out = this.lines;
    this.lines = [];
    return out;
  }
}

export class SourceWatchdog {
  state: StreamState = 'starting';
  /** Runs started (the first included). */
  runs = 0;
  /** Runs started again after the first. */
  restarts = 0;
  private readonly abort = new AbortController();
  private readonly backoff: RestartBackoff;
  private readonly redact: (text: string) => string;
  private readonly tuning: Omit<WatchdogTuning, 'backoff'>;
  /** When the last maxStartsPerMinute runs started (ms), oldest first. */
  private readonly starts: number[] = [];
  private lastLog: string[] = [];
  private done: Promise<void> | undefined;
  private proxy: HostGuardProxy | undefined;
  /** The run in progress, for the proxy to stop it on a refused request. */
  private currentRun: AbortController | undefined;
  /** Why the guard could not reach an allowed host in this run (ffmpeg only sees a 502). */
  private upstreamError: string | undefined;
  /** The playlists of this run, as the proxy relayed them. */
  private playlists = new PlaylistGrowth();
  /** The hwaccel runs use: the configured one until it failed to start, then none. */
  private hwaccel: HwaccelKind | undefined;
  /** Why decoding is in software although a hwaccel was asked for (the `live` state's detail). */
  private decodeNote: string | undefined;

  constructor(private readonly opts: SourceWatchdogOptions) {
    this.hwaccel = opts.hwaccel;
    this.redact = redactorFor(opts.url);
    const { stallTimeoutMs, startTimeoutMs, stopGraceMs, maxRestarts, logLines, maxStartsPerMinute, backoff } = opts;
    this.tuning = { stallTimeoutMs, startTimeoutMs, stopGraceMs, maxRestarts, logLines, maxStartsPerMinute };
    for (const [k, v] of Object.entries(this.tuning)) {
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`${k} must be a finite number >= 0, got ${v}`);
    }
    if (this.tuning.stallTimeoutMs <= 0 || this.tuning.startTimeoutMs <= 0) throw new RangeError('stallTimeoutMs and startTimeoutMs must be > 0');
    if (!Number.isSafeInteger(this.tuning.maxStartsPerMinute) || this.tuning.maxStartsPerMinute < 1) {
      throw new RangeError(`maxStartsPerMinute must be a positive integer, got ${this.tuning.maxStartsPerMinute}`);
    }
    // A stall timeout within one sampling period restarts a healthy stream between two frames, forever.
    if (opts.sampling.mode === 'fps') {
      const periodMs = 1000 / opts.sampling.fps;
      if (this.tuning.stallTimeoutMs <= periodMs) {
        throw new RangeError(
          `stallTimeoutMs (${this.tuning.stallTimeoutMs} ms) must be above the sampling period (${Math.round(periodMs)} ms at ${opts.sampling.fps} fps)`,
        );
      }
    }
    this.backoff = new RestartBackoff({ ...backoff, multiplier: BACKOFF_MULTIPLIER });
  }

  /** The source as it may be shown: credentials redacted. */
  get displayUrl(): string {
    return this.redact(this.opts.url);
  }

  /** ffmpeg's last log lines of the last run that ended, redacted. */
  log(): string[] {
    return this.lastLog.slice();
  }

  start(): void {
    this.done ??= this.loop();
  }

  /** Idempotent: stops ffmpeg (SIGTERM, SIGKILL after the grace) and resolves once it is reaped. */
  async stop(): Promise<void> {
    this.abort.abort(new Error('stream stopped'));
    await this.done;
  }

  private setState(state: StreamState, detail?: string): void {
    if (this.state === state && detail === undefined) return;
    this.state = state;
    this.opts.onState(state, detail === undefined ? undefined : this.redact(detail));
  }

  /**
   * The host guard proxy of an http(s) source, started once for the
   * stream's life, and what ffmpeg opens through it (an https URL over
   * plain http: the proxy speaks TLS). Undefined for other sources.
   */
  private async startProxy(): Promise<{ httpProxy: string; input: string } | undefined> {
    const input = this.opts.input ?? this.opts.url;
    if (this.opts.hostGuard === false || targetOfUrl(input) === undefined) return undefined;
    const rules = this.opts.hostGuard ?? hostGuardRulesFor(input);
    const downgraded = downgradeHttpsUrl(input);
    this.proxy = new HostGuardProxy({
      rules,
      tlsTargets: downgraded ? [downgraded.tls] : [],
      onRefused: (target) => {
        this.opts.logger.warn({ stream: this.opts.id, target }, 'host guard refused a request of ffmpeg');
        this.currentRun?.abort(
          new HostRefusedError(`refused: ffmpeg was sent to ${target}, which this stream may not reach (a playlist or redirect pointing at another host)`),
        );
      },
      onUpstreamError: (_target, error) => {
        if (this.currentRun) this.upstreamError = error.message;
      },
      onPlaylist: (url, text) => {
        if (this.currentRun) this.playlists.see(url, text);
      },
    });
    return { httpProxy: await this.proxy.start(), input: downgraded?.url ?? input };
  }

  private async loop(): Promise<void> {
    try {
      await this.loopRuns();
    } finally {
      await this.proxy?.close();
    }
  }

  private async loopRuns(): Promise<void> {
    const signal = this.abort.signal;
    this.opts.onState('starting', undefined);
    let guarded: { httpProxy: string; input: string } | undefined;
    try {
      guarded = await this.startProxy();
    } catch (err) {
      this.opts.logger.error({ err, stream: this.opts.id }, 'host guard proxy cannot listen');
      this.setState('failed', `host guard proxy cannot listen: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    while (!signal.aborted) {
      const wait = startRateWait(this.starts, this.tuning.maxStartsPerMinute, Date.now());
      if (wait > 0) {
        this.opts.logger.warn(
          { stream: this.opts.id, waitMs: wait, maxStartsPerMinute: this.tuning.maxStartsPerMinute },
          'ffmpeg start rate limit reached; waiting',
        );
        this.setState('reconnecting', `ffmpeg started ${this.tuning.maxStartsPerMinute} times within a minute (next start in ${wait} ms)`);
        await sleep(wait, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) break;
      }
      this.starts.push(Date.now());
      if (this.starts.length > this.tuning.maxStartsPerMinute) this.starts.shift();
      this.runs++;
      const { outcome, liveSince } = await this.runOnce(guarded);
      if (signal.aborted) break;
      if (liveSince !== undefined) this.backoff.ranHealthy(liveSince, Date.now());
      const failed = !(outcome.kind === 'ended' && outcome.frames > 0 && this.opts.loop);
      const failures = failed ? this.backoff.failures + 1 : this.backoff.failures;
      const decision = decideAfterRun({
        live: this.opts.live,
        loop: this.opts.loop,
        restartable: this.opts.restartable ?? true,
        outcome,
        failures,
        maxRestarts: this.tuning.maxRestarts,
      });
      const reason = this.reasonOf(outcome);
      if (decision === 'ended') {
        this.setState('ended');
        return;
      }
      if (decision === 'failed') {
        if (outcome.kind === 'error' && !isStreamSightError(outcome.error)) {
          this.opts.logger.error({ err: redactError(outcome.error, this.redact), stream: this.opts.id }, 'stream failed with an unexpected error');
        }
        this.opts.logger.error({ stream: this.opts.id, reason, ffmpegLog: this.lastLog }, 'stream failed; giving up');
        const tail = this.lastLog.length > 0 ? ` | ffmpeg: ${this.lastLog.slice(-3).join(' / ')}` : '';
        this.setState('failed', `${reason}${tail}`.slice(0, 1000));
        return;
      }
      const delayMs = decision === 'restart' ? 0 : this.backoff.next(this.opts.random);
      this.restarts++;
      const info: RestartInfo = { reason, delayMs, failures: this.backoff.failures, log: this.lastLog.slice() };
      this.opts.onRestart?.(info);
      if (decision === 'backoff') {
        this.opts.logger.warn({ stream: this.opts.id, reason, delayMs, failures: info.failures, ffmpegLog: info.log }, 'source down; restarting');
        this.setState('reconnecting', `${reason} (retry in ${delayMs} ms)`);
        // An abort ends the wait early; the loop condition then stops.
        await sleep(delayMs, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  private reasonOf(outcome: RunOutcome): string {
    if (outcome.kind === 'ended') return outcome.frames > 0 ? 'the source ended the stream' : 'the source ended without a frame';
    const err = outcome.error;
    // ffmpeg saw the guard's 502; the guard knows the cause (refused, reset, no route).
    if (this.upstreamError !== undefined && isStreamSightError(err) && err.code === 'E_SOURCE_UNREACHABLE') {
      return this.redact(`${this.opts.url} cannot be reached: ${this.upstreamError}`);
    }
    return this.redact(err instanceof Error ? err.message : String(err));
  }

  /** One ffmpeg process, from spawn to reaped. Never throws. */
  private async runOnce(guarded: { httpProxy: string; input: string } | undefined): Promise<{ outcome: RunOutcome; liveSince: number | undefined }> {
    const { opts, tuning } = this;
    const outer = this.abort.signal;
    const run = new AbortController();
    this.currentRun = run;
    this.upstreamError = undefined;
    const playlists = (this.playlists = new PlaylistGrowth());
    const restarted = this.runs > 1;
    const onOuterAbort = (): void => run.abort(outer.reason);
    outer.addEventListener('abort', onOuterAbort, { once: true });
    const tail = new LogTail(tuning.logLines);
    let lastLine = '';
    let frames = 0;
    /** Frames of a restarted playlist's old segments, not passed on. */
    let replayed = 0;
    let liveSince: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number, what: string): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const hint =
          replayed > 0
            ? `; the playlist has not grown: ${replayed} frames of the segments it listed when this run began were skipped`
            : lastLine
              ? `; ffmpeg's last words: ${lastLine}`
              : '';
        run.abort(new SourceStalledError(`stalled: ${what} for ${ms} ms${hint}`));
      }, ms);
    };
    try {
      const decode = decodeFrames(guarded?.input ?? opts.input ?? opts.url, {
        streamId: opts.id,
        runId: randomUUID(),
        sampling: opts.sampling,
        geometry: opts.geometry,
        realtime: opts.realtime ?? false,
        signal: run.signal,
        stopGraceMs: tuning.stopGraceMs,
        ...(opts.protocolWhitelist ? { protocolWhitelist: [...opts.protocolWhitelist] } : {}),
        ...(opts.inputOptions ? { inputOptions: opts.inputOptions } : {}),
        ...(opts.decodeThreads !== undefined ? { decodeThreads: opts.decodeThreads } : {}),
        ...(opts.decodeNice !== undefined ? { nice: opts.decodeNice } : {}),
        ...(this.hwaccel !== undefined ? { hwaccel: this.hwaccel } : {}),
        onHwaccelFallback: (reason) => {
          // Every later run decodes in software too: the device will not appear by itself.
          this.hwaccel = 'none';
          this.decodeNote = `software decoding: hwaccel ${reason}`;
          opts.logger.warn({ stream: opts.id, reason: this.redact(reason) }, 'hardware decoding unavailable; decoding in software');
        },
        ...(guarded ? { httpProxy: guarded.httpProxy } : {}),
        ...(opts.stdin ? { stdin: opts.stdin } : {}),
        ...(opts.ffmpegPath ? { ffmpegPath: opts.ffmpegPath } : {}),
        onLogLine: (line) => {
          const text = this.redact(line);
          tail.push(text);
          if (stripLogPrefix(text) !== '') lastLine = stripLogPrefix(text);
        },
      });
      arm(tuning.startTimeoutMs, 'no first frame');
      if (run.signal.aborted) throw run.signal.reason;
      for await (const frame of decode) {
        // Possibly pictures published before the restart: held back (the stall clock runs on) until the playlist grows.
        if (restarted && playlists.sawMediaPlaylist && !playlists.grew) {
          replayed++;
          continue;
        }
        clearTimeout(timer);
        if (frames++ === 0) {
          liveSince = Date.now();
          this.setState('live', this.decodeNote);
        }
        await opts.onFrame(frame);
        if (run.signal.aborted) break;
        arm(tuning.stallTimeoutMs, 'no frame');
      }
      if (run.signal.aborted && !outer.aborted) throw run.signal.reason;
      return { outcome: { kind: 'ended', frames }, liveSince };
    } catch (error) {
      return { outcome: { kind: 'error', error, frames }, liveSince };
    } finally {
      this.currentRun = undefined;
      clearTimeout(timer);
      outer.removeEventListener('abort', onOuterAbort);
      this.lastLog = tail.take();
    }
  }
}

/** An unexpected error as it may be logged: message and stack redacted. */
function redactError(err: unknown, redact: (text: string) => string): unknown {
  if (!(err instanceof Error)) return redact(String(err));
  const copy = new Error(redact(err.message));
  copy.name = err.name;
  if (err.stack) copy.stack = redact(err.stack);
  return copy;
}

/** The config's `watchdog` section (every key resolved by the schema) to the watchdog's tuning. */
export function tuningFromSettings(s: WatchdogConfig): WatchdogTuning {
  return {
    stallTimeoutMs: s.stallTimeoutMs,
    startTimeoutMs: s.startTimeoutMs,
    stopGraceMs: s.stopGraceMs,
    maxRestarts: s.maxRestarts,
    logLines: s.logLines,
    maxStartsPerMinute: s.maxStartsPerMinute,
    backoff: { initialMs: s.backoffInitialMs, maxMs: s.backoffMaxMs, jitter: s.backoffJitter, healthyAfterMs: s.healthyAfterMs },
  };
}

/** A source's watchdog keys (config `sources[].watchdog`, POST /api/streams) to overrides; keys not set stay unset (so they do not override). */
export function overridesFromSettings(s: SourceWatchdogConfig): WatchdogOverrides {
  return {
    stallTimeoutMs: s.stallTimeoutMs,
    startTimeoutMs: s.startTimeoutMs,
    stopGraceMs: s.stopGraceMs,
    maxRestarts: s.maxRestarts,
    logLines: s.logLines,
    backoff: { initialMs: s.backoffInitialMs, maxMs: s.backoffMaxMs, jitter: s.backoffJitter, healthyAfterMs: s.healthyAfterMs },
  };
}
