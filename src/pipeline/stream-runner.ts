import { randomUUID } from 'node:crypto';
import { once, EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Frame, FrameGeometry, Sampling } from '../contracts/frame.ts';
import type { StreamState, StreamStatus } from '../contracts/results.ts';
import { decodeFrames } from '../ingest/file-decoder.ts';
import { isStreamSightError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { LatestFrameBuffer } from './latest-frame-buffer.ts';

export interface StreamRunnerOptions {
  id: string;
  url: string;
  sampling: Sampling;
  geometry: FrameGeometry;
  /**
   * Live: latest-frame semantics, the oldest waiting frame is dropped when
   * the buffer is full. Not live (a plain file): ffmpeg is paused instead.
   */
  live: boolean;
  /** Play a file at its native frame rate, as a camera delivers it. */
  realtime: boolean;
  /** Restart a file at its end, as a new run. */
  loop: boolean;
  /** Protocols ffmpeg may open (sources from the HTTP API); default: ffmpeg's own. */
  protocolWhitelist?: string[];
  /** Frames waiting for inference at most; default 4. */
  bufferFrames?: number;
  /** Restart backoff after a failure: first and largest delay, ms. Defaults 1000 and 30000. */
  backoffMs?: { initial: number; max: number };
  /** Called when a frame is waiting (to wake the inference loop). */
  onFrame: () => void;
  onStatus: (status: StreamStatus) => void;
  logger: Logger;
  metrics?: Metrics;
}

/**
 * One source: runs ffmpeg, feeds the stream's bounded buffer, restarts the
 * decoder (a new run) on loop or after a retryable failure, and reports its
 * state: starting, live, reconnecting, ended, failed.
 */
export class StreamRunner {
  readonly buffer: LatestFrameBuffer;
  state: StreamState = 'starting';
  /** The latest decoded frame, for snapshots. */
  latest: Frame | undefined;
  runs = 0;
  private readonly abort = new AbortController();
  private readonly space = new EventEmitter();
  private done: Promise<void> | undefined;

  constructor(private readonly opts: StreamRunnerOptions) {
    this.buffer = new LatestFrameBuffer(opts.bufferFrames ?? 4);
  }

  get id(): string {
    return this.opts.id;
  }

  get fps(): number {
    return this.opts.sampling.mode === 'fps' ? this.opts.sampling.fps : 0;
  }

  start(): void {
    this.done ??= this.loop();
  }

  /** Takes waiting frames for inference (and lets a paused file go on). */
  take(max: number): Frame[] {
    const frames = this.buffer.take(max);
    if (frames.length > 0) this.space.emit('space');
    return frames;
  }

  /** Idempotent: stops ffmpeg and waits until the decode loop has ended. */
  async stop(): Promise<void> {
    this.abort.abort(new Error('stream stopped'));
    this.space.emit('space');
    await this.done;
    this.opts.metrics?.queueDepth.set({ stream: this.id }, 0);
  }

  private setState(state: StreamState, detail?: string): void {
    if (this.state === state && detail === undefined) return;
    const previous = this.state;
    this.state = state;
    const m = this.opts.metrics;
    if (m) {
      m.streamState.set({ stream: this.id, state: previous }, 0);
      m.streamState.set({ stream: this.id, state }, 1);
    }
    this.opts.onStatus(detail === undefined ? { stream: this.id, state } : { stream: this.id, state, detail });
  }

  private async loop(): Promise<void> {
    const { opts } = this;
    const signal = this.abort.signal;
    const backoff = opts.backoffMs ?? { initial: 1000, max: 30_000 };
    let delay = backoff.initial;
    this.setState('starting');
    while (!signal.aborted) {
      const runId = randomUUID();
      this.runs++;
      if (this.runs > 1) opts.metrics?.decoderRestarts.inc({ stream: this.id });
      let frames = 0;
      try {
        const decode = decodeFrames(opts.url, {
          streamId: opts.id, runId, sampling: opts.sampling, geometry: opts.geometry, realtime: opts.realtime, signal,
          ...(opts.protocolWhitelist ? { protocolWhitelist: opts.protocolWhitelist } : {}),
        });
        for await (const frame of decode) {
          if (frames++ === 0) {
            this.setState('live');
            delay = backoff.initial; // healthy again
          }
          this.latest = frame;
          opts.metrics?.framesDecoded.inc({ stream: this.id });
          if (!opts.live) {
            // A file: wait for room rather than drop (ffmpeg's pipe fills and it pauses).
            while (this.buffer.length >= this.buffer.capacity && !signal.aborted) await once(this.space, 'space');
            if (signal.aborted) break;
          }
          if (this.buffer.push(frame)) opts.metrics?.framesDropped.inc({ stream: this.id, reason: 'buffer_full' });
          opts.metrics?.queueDepth.set({ stream: this.id }, this.buffer.length);
          opts.onFrame();
        }
        if (signal.aborted) break;
        if (opts.loop) continue;
        this.setState('ended');
        return;
      } catch (err) {
        if (signal.aborted) break;
        const message = err instanceof Error ? err.message : String(err);
        const retry = isStreamSightError(err) ? err.retryable || (opts.live && err.code === 'E_DECODE') : false;
        if (!retry && !isStreamSightError(err)) opts.logger.error({ err, stream: this.id }, 'stream failed with an unexpected error');
        if (!retry) {
          this.setState('failed', message);
          return;
        }
        this.setState('reconnecting', message);
        // Exponential backoff with jitter (0.5x .. 1x) so many cameras do not retry in lockstep.
        const wait = delay * (0.5 + Math.random() / 2);
        delay = Math.min(delay * 2, backoff.max);
        // An abort ends the wait early; the loop condition then stops.
        await sleep(wait, undefined, { signal }).catch(() => undefined);
      }
    }
  }
}
