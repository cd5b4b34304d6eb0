import { once, EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Frame, FrameGeometry, Sampling } from '../contracts/frame.ts';
import type { StreamState, StreamStatus } from '../contracts/results.ts';
import type { HwaccelKind } from '../ingest/ffmpeg-args.ts';
import type { HostGuardRules } from '../ingest/host-guard.ts';
import type { SourceWatchdog, WatchdogTuning } from '../ingest/source-watchdog.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { FrameGate, LIVE_SKIP_SPREAD } from './change-gate.ts';
import { LatestFrameBuffer } from './latest-frame-buffer.ts';
import type { ReusedFrame } from './reused-frames.ts';
import { watchSource } from './watched-source.ts';

export interface StreamRunnerOptions {
  id: string;
  /** The source as configured; may carry credentials, which are never shown. */
  url: string;
  /** What ffmpeg gets after `-i` (source-kind.ts); default `url`. */
  input?: string | undefined;
  sampling: Sampling;
  geometry: FrameGeometry;
  /**
   * Live: latest-frame semantics, the oldest waiting frame is dropped when
   * the buffer is full, and the source is reconnected whatever went wrong.
   * Not live (a plain file): ffmpeg is paused instead.
   */
  live: boolean;
  /**
   * A camera (not a file played live): reconnected whatever the error, a
   * missing device or junk from a rebooting camera included. Default: `live`.
   */
  camera?: boolean | undefined;
  /** Play a file at its native frame rate, as a camera delivers it. */
  realtime: boolean;
  /** Restart a file at its end, as a new run. */
  loop: boolean;
  /** False for stdin (a run that ended cannot start again); default true. */
  restartable?: boolean | undefined;
  /** Protocols ffmpeg may open; default: ffmpeg's own. */
  protocolWhitelist?: readonly string[] | undefined;
  /** ffmpeg input options before `-i` (e.g. `-rtsp_transport tcp`, `-f v4l2`). */
  inputOptions?: readonly string[] | undefined;
  /** Decoder threads of ffmpeg; default ffmpeg's choice. */
  decodeThreads?: number | undefined;
  /** Niceness of its ffmpeg; default as this process. */
  decodeNice?: number | undefined;
  /** Hardware decoding; one that cannot start falls back to software (the `live` status says so). */
  hwaccel?: HwaccelKind | undefined;
  /** Hosts an http(s) source may reach (host guard proxy); default its own host:port; false: no guard. */
  hostGuard?: HostGuardRules | false | undefined;
  /** ffmpeg's stdin, for a `-` source. */
  stdin?: Readable | undefined;
  /** Frames waiting for inference at most (config `live.bufferFrames`). */
  bufferFrames: number;
  /** Stall detection, stop grace, restart backoff (source-watchdog.ts), resolved; one it refuses throws WatchdogTuningError. */
  watchdog: WatchdogTuning;
  /**
   * The change gate (`--skip-unchanged`): a frame that did not change since
   * the last one sent to inference goes to `onReused` instead of the buffer.
   * Undefined: every frame is inferred.
   */
  skipUnchanged?: { threshold: number; maxSkipMs: number } | undefined;
  /** Called when a frame is waiting (to wake the inference loop). */
  onFrame: () => void;
  /** A frame the gate kept from inference, naming the frame it repeats. */
  onReused?: ((frame: ReusedFrame) => void) | undefined;
  /** A frame that was waiting for inference and was dropped (buffer full, stream stopped). */
  onDropped?: ((frame: Frame) => void) | undefined;
  onStatus: (status: StreamStatus) => void;
  logger: Logger;
  metrics?: Metrics;
  /** For tests: the jitter's random source. */
  random?: () => number;
}

/**
 * One source in `serve`: the watchdog keeps ffmpeg running (stalls,
 * restarts, backoff, states); this feeds the stream's bounded buffer and
 * the metrics. Every decoded frame is either processed (taken for
 * inference) or dropped and counted: decoded = processed + dropped (+ the
 * few still waiting).
 */
export class StreamRunner {
  readonly buffer: LatestFrameBuffer;
  /** The latest decoded frame, for snapshots. */
  latest: Frame | undefined;
  private readonly space = new EventEmitter();
  private readonly watchdog: SourceWatchdog;
  private readonly gate: FrameGate | undefined;
  private stopped = false;

  constructor(private readonly opts: StreamRunnerOptions) {
    this.buffer = new LatestFrameBuffer(opts.bufferFrames);
    this.gate = opts.skipUnchanged ? new FrameGate({ ...opts.skipUnchanged, spread: LIVE_SKIP_SPREAD }) : undefined;
    this.watchdog = watchSource({
      id: opts.id,
      url: opts.url,
      input: opts.input,
      live: opts.camera ?? opts.live,
      loop: opts.loop,
      restartable: opts.restartable,
      sampling: opts.sampling,
      geometry: opts.geometry,
      realtime: opts.realtime,
      protocolWhitelist: opts.protocolWhitelist,
      inputOptions: opts.inputOptions,
      decodeThreads: opts.decodeThreads,
      decodeNice: opts.decodeNice,
      hwaccel: opts.hwaccel,
      hostGuard: opts.hostGuard,
      stdin: opts.stdin,
      watchdog: opts.watchdog,
      logger: opts.logger,
      metrics: opts.metrics,
      ...(opts.random ? { random: opts.random } : {}),
      onFrame: (frame) => this.onFrame(frame),
      onState: (state, detail) => opts.onStatus(detail === undefined ? { stream: opts.id, state } : { stream: opts.id, state, detail }),
    });
  }

  get id(): string {
    return this.opts.id;
  }

  /** True when this stream reads the process's standard input. */
  get readsStdin(): boolean {
    return this.opts.stdin !== undefined;
  }

  get state(): StreamState {
    return this.watchdog.state;
  }

  get fps(): number {
    return this.opts.sampling.mode === 'fps' ? this.opts.sampling.fps : 0;
  }

  /** ffmpeg runs started so far (restarts + 1). */
  get runs(): number {
    return this.watchdog.runs;
  }

  get restarts(): number {
    return this.watchdog.restarts;
  }

  /** The source as it may be shown (credentials redacted). */
  get displayUrl(): string {
    return this.watchdog.displayUrl;
  }

  /** ffmpeg's last log lines of the last run that ended (redacted), for an error report. */
  ffmpegLog(): string[] {
    return this.watchdog.log();
  }

  start(): void {
    this.watchdog.start();
  }

  /** Takes waiting frames for inference (and lets a paused file go on). */
  take(max: number): Frame[] {
    const frames = this.buffer.take(max);
    // Also for take(0): the batch loop takes frames straight from the buffer (pickBatch), then calls
    // take(0) so that a file waiting for room goes on. Waking it only when this call took frames
    // left such a file paused forever (its ffmpeg never ended: the stream stayed `live`).
    if (this.buffer.length < this.buffer.capacity) this.space.emit('space');
    return frames;
  }

  /** Idempotent: stops ffmpeg and waits until it is reaped. Frames still waiting count as dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.space.emit('space');
    await this.watchdog.stop();
    const left = this.buffer.clear();
    if (left > 0) this.opts.metrics?.framesDropped.inc({ stream: this.id, reason: 'stream_stopped' }, left);
    this.opts.metrics?.queueDepth.set({ stream: this.id }, 0);
  }

  private async onFrame(frame: Frame): Promise<void> {
    const { opts } = this;
    this.latest = frame;
    // A live stream's time is its capture clock; a file served not live, its own timeline.
    const ref = this.gate?.check(frame, opts.live ? frame.capturedAt : frame.ptsMs);
    if (ref !== undefined) {
      const { streamId: stream, runId: run, seq, ptsMs, capturedAt } = frame;
      opts.onReused?.({ stream, run, seq, ptsMs, capturedAt, ref });
      return;
    }
    if (!opts.live) {
      // A file: wait for room rather than drop (ffmpeg's pipe fills and it pauses).
      while (this.buffer.length >= this.buffer.capacity && !this.stopped) await once(this.space, 'space');
      if (this.stopped) {
        opts.metrics?.framesDropped.inc({ stream: this.id, reason: 'stream_stopped' });
        return;
      }
    }
    const evicted = this.buffer.push(frame);
    if (evicted) {
      opts.metrics?.framesDropped.inc({ stream: this.id, reason: 'buffer_full' });
      opts.onDropped?.(evicted);
    }
    opts.metrics?.queueDepth.set({ stream: this.id }, this.buffer.length);
    opts.onFrame();
  }
}
