import type { FrameResult, LabelEvent, StreamInfo, StreamStatus } from '../contracts/results.ts';
import { decodeEmbedding, type ResultEntry } from '../contracts/transport.ts';
import type { HysteresisOptions } from '../events/hysteresis-config.ts';
import { LabelEventDetector } from '../events/label-event-detector.ts';
import { HttpProblem, type AddStreamRequest, type HttpBackend } from '../gateway/http-api.ts';
import { labelsForStream, type StreamModelOptions } from '../pipeline/stream-model-options.ts';
import type { Metrics } from '../shared/metrics.ts';
import { SeenFrames } from './seen-frames.ts';

/** Where the feed sends what it reads (the WebSocket gateway). */
export interface FeedSink {
  publishFrame(result: FrameResult): void;
  publishEvent(event: LabelEvent): void;
  publishStatus(status: StreamStatus): void;
}

export interface ResultFeedOptions {
  sink: FeedSink;
  events: HysteresisOptions;
  metrics: Metrics;
  /** True while Redis is reachable (for /readyz). */
  redisReady: () => boolean;
  /** Streams whose entries are skipped (removed over HTTP while their last results were in flight). */
  ignore?: ((stream: string) => boolean) | undefined;
  /** A stream's own label options (at most topK, none under minScore), for its frames and label events. */
  labelOptions?: ((stream: string) => StreamModelOptions | undefined) | undefined;
}

/**
 * `streamsight gateway`: entries of the shared results stream turned into
 * what the embedded gateway publishes (frames, label events, status), with
 * each frame taken once per (stream, run, seq) whatever the redeliveries.
 * Also the HTTP backend of `streamsight gateway`, which only reads: streams
 * are added where an ingest runs (`serve --redis`, `ingest`), so POST and
 * DELETE /api/streams answer 405 and say so.
 */
export class ResultFeed implements HttpBackend {
  private readonly seen = new SeenFrames();
  private readonly detector: LabelEventDetector;
  private readonly streams = new Map<string, StreamInfo>();

  constructor(private readonly opts: ResultFeedOptions) {
    this.detector = new LabelEventDetector(opts.events);
  }

  get metrics(): Metrics {
    return this.opts.metrics;
  }

  onEntry(entry: ResultEntry): void {
    const { sink, metrics } = this.opts;
    if (this.opts.ignore?.(entry.stream)) return;
    if (entry.kind === 'status') {
      const prev = this.streams.get(entry.stream);
      this.streams.set(entry.stream, { id: entry.stream, state: entry.state, model: entry.model ?? prev?.model ?? '', fps: entry.fps ?? prev?.fps ?? 0 });
      sink.publishStatus({ stream: entry.stream, state: entry.state, ...(entry.detail ? { detail: entry.detail } : {}) });
      if (entry.state === 'ended' || entry.state === 'failed') for (const e of this.detector.flush(entry.stream)) this.emitEvent(e);
      return;
    }
    if (entry.kind !== 'frames') return;
    if (!this.streams.has(entry.stream)) this.streams.set(entry.stream, { id: entry.stream, state: 'live', model: entry.model, fps: 0, ...(entry.untrained ? { untrained: true } : {}) });
    const now = Date.now();
    for (const f of entry.frames) {
      if (!this.seen.firstTime(entry.stream, entry.run, f.seq)) continue;
      const result: FrameResult = {
        stream: entry.stream, run: entry.run, seq: f.seq, ptsMs: f.ptsMs, capturedAt: f.capturedAt,
        labels: labelsForStream(f.labels.map((l) => ({ ...l, score: Math.round(l.score * 1e6) / 1e6 })), this.opts.labelOptions?.(entry.stream)),
        latencyMs: now - f.capturedAt, model: entry.model,
        ...(f.embedding !== undefined ? { embedding: decodeEmbedding(f.embedding) } : {}),
      };
      metrics.framesProcessed.inc({ stream: entry.stream });
      metrics.latencySeconds.observe(result.latencyMs / 1000);
      sink.publishFrame(result);
      for (const e of this.detector.push(result)) this.emitEvent(e);
    }
  }

  private emitEvent(e: LabelEvent): void {
    this.opts.metrics.labelEvents.inc({ stream: e.stream, label: e.label, kind: e.kind });
    this.opts.sink.publishEvent(e);
  }

  listStreams(): StreamInfo[] {
    return [...this.streams.values()];
  }

  hasStream(id: string): boolean {
    return this.streams.has(id);
  }

  /** Forgets a stream (removed where it was ingested): its open labels end now. */
  forget(id: string): void {
    for (const e of this.detector.flush(id)) this.emitEvent(e);
    this.detector.forget(id);
    this.streams.delete(id);
  }

  async addStream(_request: AddStreamRequest): Promise<StreamInfo> {
    throw new HttpProblem(405, 'not_here', 'this gateway only reads results: add sources with `streamsight serve --redis` or `streamsight ingest`');
  }

  async removeStream(_id: string): Promise<boolean> {
    throw new HttpProblem(405, 'not_here', 'this gateway only reads results: remove sources where they are ingested (`streamsight serve --redis` or `streamsight ingest`)');
  }

  async snapshot(_id: string): Promise<Buffer | undefined> {
    return undefined;
  }

  readiness(): { ready: boolean; reasons: string[] } {
    return this.opts.redisReady() ? { ready: true, reasons: [] } : { ready: false, reasons: ['Redis unreachable'] };
  }
}
