import type { FrameResult, LabelEvent, StreamStatus } from '../contracts/results.ts';
import type { HysteresisOptions } from '../events/hysteresis-config.ts';
import { LabelEventDetector } from '../events/label-event-detector.ts';
import type { Metrics } from '../shared/metrics.ts';
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

  constructor(private readonly opts: LiveResultPublisherOptions) {
    this.detector = new LabelEventDetector(opts.events);
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
    for (const e of this.detector.flush(stream)) this.emitEvent(e);
    this.detector.forget(stream);
  }

  /** True for a stream removed here and not added again. */
  isGone(stream: string): boolean {
    return this.gone.has(stream);
  }

  publishFrame(frame: InferredFrame): void {
    if (this.gone.has(frame.stream)) return;
    const { metrics, sink } = this.opts;
    const rounded = frame.labels.map((l) => ({ index: l.index, label: l.label, score: Math.round(l.score * 1e6) / 1e6 }));
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
  }

  /** A stream's state; a stream that ended or failed closes its open labels at its last frame. */
  publishStatus(status: StreamStatus): void {
    this.opts.sink.publishStatus(status);
    if (status.state === 'ended' || status.state === 'failed') {
      for (const e of this.detector.flush(status.stream)) this.emitEvent(e);
    }
  }

  private emitEvent(e: LabelEvent): void {
    this.opts.metrics.labelEvents.inc({ stream: e.stream, label: e.label, kind: e.kind });
    this.opts.sink.publishEvent(e);
  }
}
