import type { StreamInfo } from '../contracts/results.ts';
import { decodeEmbedding, type ResultEntry } from '../contracts/transport.ts';
import type { LiveResultPublisher } from '../pipeline/live-result-publisher.ts';
import type { LiveStream, StreamTransport } from '../pipeline/stream-registry.ts';
import { SeenFrames } from './seen-frames.ts';

export interface ResultFeedOptions {
  /** Where frames and states go (the registry's publisher: labels, metrics, label events). */
  publisher: LiveResultPublisher;
  /** True while Redis is reachable (for /readyz). */
  redisReady: () => boolean;
}

/**
 * Where results come from in the distributed mode: entries of the shared
 * results stream, each frame taken once per (stream, run, seq) whatever the
 * redeliveries, to the publisher; and the streams the ingests announce.
 * It is also the transport of `streamsight gateway`, which only reads:
 * streams are added where an ingest runs (`serve --redis`, `ingest`), so
 * adding and removing are refused (405 `not_here`).
 */
export class ResultFeed implements StreamTransport {
  readonly readOnly = {
    add: 'this gateway only reads results: add sources with `streamsight serve --redis` or `streamsight ingest`',
    remove: 'this gateway only reads results: remove sources where they are ingested (`streamsight serve --redis` or `streamsight ingest`)',
  };
  private readonly seen = new SeenFrames();
  private readonly streams = new Map<string, StreamInfo>();

  constructor(private readonly opts: ResultFeedOptions) {}

  onEntry(entry: ResultEntry): void {
    const { publisher } = this.opts;
    // Removed here while its last entries were in flight.
    if (publisher.isGone(entry.stream)) return;
    if (entry.kind === 'status') {
      const prev = this.streams.get(entry.stream);
      this.streams.set(entry.stream, { id: entry.stream, state: entry.state, model: entry.model ?? prev?.model ?? '', fps: entry.fps ?? prev?.fps ?? 0 });
      publisher.publishStatus({ stream: entry.stream, state: entry.state, ...(entry.detail ? { detail: entry.detail } : {}) });
      return;
    }
    if (entry.kind === 'failed') {
      // Frames repeating one of these are not held waiting for it.
      for (const seq of entry.seqs) publisher.abandon(entry.stream, entry.run, seq);
      return;
    }
    if (entry.kind === 'reused') {
      for (const f of entry.frames) {
        if (!this.seen.firstTime(entry.stream, entry.run, f.seq)) continue;
        publisher.publishReused({ stream: entry.stream, run: entry.run, seq: f.seq, ptsMs: f.ptsMs, capturedAt: f.capturedAt, ref: f.ref });
      }
      return;
    }
    if (!this.streams.has(entry.stream))
      this.streams.set(entry.stream, { id: entry.stream, state: 'live', model: entry.model, fps: 0, ...(entry.untrained ? { untrained: true } : {}) });
    for (const f of entry.frames) {
      if (!this.seen.firstTime(entry.stream, entry.run, f.seq)) continue;
      publisher.publishFrame({
        stream: entry.stream,
        run: entry.run,
        seq: f.seq,
        ptsMs: f.ptsMs,
        capturedAt: f.capturedAt,
        labels: f.labels,
        model: entry.model,
        ...(f.embedding !== undefined ? { embedding: decodeEmbedding(f.embedding) } : {}),
      });
    }
  }

  /** Every stream announced on the results stream. */
  others(): StreamInfo[] {
    return [...this.streams.values()];
  }

  readiness(): { ready: boolean; reasons: string[] } {
    return this.opts.redisReady() ? { ready: true, reasons: [] } : { ready: false, reasons: ['Redis unreachable'] };
  }

  loadsModel(): boolean {
    return false;
  }

  /** Never called: the registry refuses first (readOnly). */
  open(): Promise<LiveStream> {
    return Promise.reject(new TypeError('ResultFeed opens no source'));
  }

  async close(): Promise<void> {}
}
