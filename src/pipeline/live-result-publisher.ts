import type { FrameResult, LabelEvent, StreamStatus } from '../contracts/results.ts';
import type { HysteresisOptions } from '../events/hysteresis-config.ts';
import { LabelEventDetector } from '../events/label-event-detector.ts';
import type { Metrics } from '../shared/metrics.ts';
import { ReusedFrames, type ReusedFrame } from './reused-frames.ts';
import { labelsForStream, type StreamModelOptions } from './stream-model-options.ts';

/** Where results, label events and states go (the WebSocket gateway, the library's `server.events`). */
export interface ResultSink {
  publishFrame(result: FrameResult): void;
  publishEvent(event: LabelEvent): void;
  publishStatus(status: StreamStatus): void;
}

/** A frame's result as inference returns it: labels best first, scores unrounded, no latency yet. */
export type InferredFrame = Omit<FrameResult, 'latencyMs'>;

export interface LiveResultPublisherOptions {
  sink: ResultSink;
  /** Hysteresis of label start/end events (config `events`). */
  events: HysteresisOptions;
  metrics: Metrics;
  /**
   * Longest a reused frame (`--skip-unchanged`) waits for the result of the
   * frame it repeats, ms (reused-frames.ts); default 10 s. Past it, it goes
   * out with the stream's last labels.
   */
  reuseHoldMs?: number | undefined;
}

/** What a reused frame repeats: its stream's last inferred result, labels rounded and not yet cut by the stream's options. */
interface LastInferred {
  labels: FrameResult['labels'];
  model: string;
  embedding: Float32Array | undefined;
}

/**
 * Results to what a live server publishes, the same in both modes
 * (embedded inference, or results read back from workers): each frame's
 * labels as its stream publishes them (scores to 6 decimals, the stream's
 * `topK`/`minScore`), `streamsight_frames_processed_total` and
 * `streamsight_latency_seconds` once per frame, label start/end events
 * (ended at a stream's end or removal), and states. Frames must come once
 * each: the distributed mode takes redeliveries out first.
 */
export class LiveResultPublisher {
  private readonly detector: LabelEventDetector;
  private readonly options = new Map<string, StreamModelOptions>();
  /** Streams removed here: their results still in flight are not published. */
  private readonly gone = new Set<string>();
  private readonly reused: ReusedFrames;
  private readonly last = new Map<string, LastInferred>();
  private expiry: NodeJS.Timeout | undefined;

  constructor(private readonly opts: LiveResultPublisherOptions) {
    this.detector = new LabelEventDetector(opts.events);
    this.reused = new ReusedFrames(opts.reuseHoldMs ?? 10_000);
  }

  /** A stream added here, with its own label options (at most topK, none under minScore); its earlier removal is forgotten. */
  track(stream: string, options: StreamModelOptions | undefined): void {
    this.gone.delete(stream);
    if (options && (options.topK !== undefined || options.minScore !== undefined)) this.options.set(stream, { ...options });
    else this.options.delete(stream);
  }

  /** A stream removed here: its open labels end now, and its results still in flight are dropped. */
  forget(stream: string): void {
    this.gone.add(stream);
    this.options.delete(stream);
    this.reused.forget(stream);
    this.last.delete(stream);
    for (const e of this.detector.flush(stream)) this.emitEvent(e);
    this.detector.forget(stream);
  }

  /** True for a stream removed here and not added again. */
  isGone(stream: string): boolean {
    return this.gone.has(stream);
  }

  /** An inferred frame; reused frames waiting for it (or for an older one) are published around it, in seq order. */
  publishFrame(frame: InferredFrame): void {
    if (this.gone.has(frame.stream)) return;
    const { metrics, sink } = this.opts;
    const released = this.reused.published(frame.stream, frame.run, frame.seq);
    for (const f of released.before) this.emitReused(f);
    const rounded = frame.labels.map((l) => ({ index: l.index, label: l.label, score: Math.round(l.score * 1e6) / 1e6 }));
    this.last.set(frame.stream, { labels: rounded, model: frame.model, embedding: frame.embedding });
    const result: FrameResult = {
      stream: frame.stream,
      run: frame.run,
      seq: frame.seq,
      ptsMs: frame.ptsMs,
      capturedAt: frame.capturedAt,
      labels: labelsForStream(rounded, this.options.get(frame.stream)),
      latencyMs: Date.now() - frame.capturedAt,
      model: frame.model,
      ...(frame.embedding ? { embedding: frame.embedding } : {}),
    };
    // Counted here and nowhere else: the histogram's count is the frames processed, in both modes.
    metrics.framesProcessed.inc({ stream: frame.stream });
    metrics.latencySeconds.observe(Math.max(0, result.latencyMs) / 1000);
    sink.publishFrame(result);
    for (const e of this.detector.push(result)) this.emitEvent(e);
    for (const f of released.after) this.emitReused(f);
  }

  /**
   * A frame the change gate kept from inference (`--skip-unchanged`): it is
   * published with the labels of its reference, marked `reused`, once that
   * reference is published (see reused-frames.ts), and counted in
   * `streamsight_frames_skipped_total{reason="unchanged"}`.
   */
  publishReused(frame: ReusedFrame): void {
    if (this.gone.has(frame.stream)) return;
    for (const f of this.reused.add(frame, Date.now())) this.emitReused(f);
    this.armExpiry();
  }

  /** An inferred frame that will never be published (dropped from a buffer, its batch failed): frames repeating it go now. */
  abandon(stream: string, run: string, seq: number): void {
    for (const f of this.reused.abandoned(stream, run, seq)) this.emitReused(f);
  }

  /** A stream's state; a stream that ended or failed closes its open labels at its last frame. */
  publishStatus(status: StreamStatus): void {
    this.opts.sink.publishStatus(status);
    if (status.state === 'ended' || status.state === 'failed') {
      for (const e of this.detector.flush(status.stream)) this.emitEvent(e);
    }
  }

  private emitReused(f: ReusedFrame): void {
    if (this.gone.has(f.stream)) return;
    const { metrics, sink } = this.opts;
    const last = this.last.get(f.stream);
    if (last === undefined) {
      // Its stream has no result yet to repeat (the reference was dropped): nothing to publish.
      metrics.framesDropped.inc({ stream: f.stream, reason: 'no_reference' });
      return;
    }
    const result: FrameResult = {
      stream: f.stream,
      run: f.run,
      seq: f.seq,
      ptsMs: f.ptsMs,
      capturedAt: f.capturedAt,
      labels: labelsForStream(last.labels, this.options.get(f.stream)),
      latencyMs: Date.now() - f.capturedAt,
      model: last.model,
      ...(last.embedding ? { embedding: last.embedding } : {}),
      reused: true,
    };
    metrics.framesSkipped.inc({ stream: f.stream, reason: 'unchanged' });
    sink.publishFrame(result);
    for (const e of this.detector.push(result)) this.emitEvent(e);
  }

  /** Releases reused frames whose reference did not come within reuseHoldMs. */
  private armExpiry(): void {
    if (this.expiry !== undefined) return;
    const at = this.reused.nextExpiry();
    if (at === undefined) return;
    this.expiry = setTimeout(
      () => {
        this.expiry = undefined;
        for (const f of this.reused.expired(Date.now())) this.emitReused(f);
        this.armExpiry();
      },
      Math.max(0, at - Date.now()),
    );
    // Never what keeps a process alive.
    this.expiry.unref();
  }

  private emitEvent(e: LabelEvent): void {
    this.opts.metrics.labelEvents.inc({ stream: e.stream, label: e.label, kind: e.kind });
    this.opts.sink.publishEvent(e);
  }
}
