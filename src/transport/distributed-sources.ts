import type { Frame } from '../contracts/frame.ts';
import type { StreamInfo, StreamState } from '../contracts/results.ts';
import { HttpProblem, type AddStreamRequest, type HttpBackend } from '../gateway/http-api.ts';
import { SnapshotEncoder } from '../gateway/snapshot-encoder.ts';
import { checkSource, protocolWhitelistFor, type SourceAllowlist } from '../gateway/source-allowlist.ts';
import { tuningFromSettings } from '../ingest/source-watchdog.ts';
import type { SourceSpec } from '../pipeline/live-pipeline.ts';
import type { StreamModelOptions } from '../pipeline/stream-model-options.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import type { IngestSession } from './ingest-session.ts';
import type { ResultFeed } from './result-feed.ts';
import type { IngestReport } from './stream-ingest.ts';

export interface DistributedSourcesOptions {
  session: IngestSession;
  /** The results read by this process's gateway (every ingest's streams, this one's included). */
  feed: ResultFeed;
  /** What POST /api/streams may open (the embedded pipeline's rule). */
  allowlist: SourceAllowlist | undefined;
  model: { name: string; untrained?: boolean | undefined };
  logger: Logger;
  metrics: Metrics;
}

interface Owned {
  spec: SourceSpec;
  abort: AbortController;
  done: Promise<IngestReport | undefined>;
  state: StreamState;
  fps: number;
  /** Reads the process's standard input. */
  stdin: boolean;
  /** The latest decoded frame, for snapshots. */
  latest: Frame | undefined;
}

/**
 * `serve --redis`: the sources this process ingests (decoded here, inferred
 * by `streamsight worker`s), behind the same HTTP API as embedded `serve`.
 * POST adds a source after the same allowlist check, DELETE stops one this
 * process ingests, snapshots come from each stream's latest decoded frame.
 * Listed streams are this process's plus those other ingests announce on
 * the shared results stream (their snapshots are not here: 404).
 */
export class DistributedSources implements HttpBackend {
  private readonly owned = new Map<string, Owned>();
  /** Removed here: their results still in flight are skipped by the feed. */
  private readonly removed = new Set<string>();
  private readonly snapshots = new SnapshotEncoder();
  private closed = false;
  private stdinUsed = false;

  constructor(private readonly opts: DistributedSourcesOptions) {}

  get metrics(): Metrics {
    return this.opts.metrics;
  }

  /** For the feed: entries of a stream removed here are not shown any more. */
  isRemoved(id: string): boolean {
    return this.removed.has(id);
  }

  /** How a stream of this process publishes its labels (at most topK, none under minScore); undefined for others'. */
  labelOptionsOf(id: string): StreamModelOptions | undefined {
    return this.owned.get(id)?.spec.model;
  }

  /** Adds a trusted source (config file, command line); throws HttpProblem when refused, RangeError for a watchdog tuning the watchdog refuses. */
  addSource(spec: SourceSpec): StreamInfo {
    if (this.closed) throw new HttpProblem(503, 'closing', 'server is shutting down');
    if (this.hasStream(spec.id)) throw new HttpProblem(409, 'exists', `stream "${spec.id}" already exists`);
    // Jobs carry one model name and the workers run that one model.
    if (spec.model?.name !== undefined && spec.model.name !== this.opts.model.name) {
      throw new HttpProblem(400, 'bad_request', `model.name is not supported with --redis: workers run one model (${this.opts.model.name})`);
    }
    const plan = this.opts.session.plan(spec);
    // Standard input is read once, for the life of the process.
    if (plan.stdin && (this.stdinUsed || [...this.owned.values()].some((o) => o.stdin))) {
      throw new HttpProblem(409, 'stdin_taken', 'only one stream can read standard input');
    }
    const abort = new AbortController();
    const owned: Owned = { spec, abort, state: 'starting', fps: plan.fps, stdin: plan.stdin, latest: undefined, done: Promise.resolve(undefined) };
    const running = this.opts.session.run(spec, abort.signal, {
      onFrame: (frame) => (owned.latest = frame),
      onState: (state) => (owned.state = state),
    });
    if (plan.stdin) this.stdinUsed = true;
    this.removed.delete(spec.id);
    this.owned.set(spec.id, owned);
    owned.done = running.then(
      (report) => {
        if (report.lost.length > 0) this.opts.logger.error({ stream: spec.id, lost: report.lost.length, first: report.lost.slice(0, 5) }, 'frames got no result');
        return report;
      },
      (err: unknown) => {
        owned.state = 'failed';
        this.opts.logger.error({ err, stream: spec.id }, 'ingest of the stream failed');
        return undefined;
      },
    );
    this.opts.logger.info({ stream: spec.id, kind: plan.kind, live: plan.live, fps: plan.fps }, 'stream added');
    return this.info(owned);
  }

  // ---- HttpBackend ----

  listStreams(): StreamInfo[] {
    const mine = [...this.owned.values()].map((o) => this.info(o));
    const others = this.opts.feed.listStreams().filter((s) => !this.owned.has(s.id) && !this.removed.has(s.id));
    return [...mine, ...others];
  }

  hasStream(id: string): boolean {
    return this.owned.has(id) || (!this.removed.has(id) && this.opts.feed.hasStream(id));
  }

  async addStream(request: AddStreamRequest): Promise<StreamInfo> {
    const checked = checkSource(request.url, this.opts.allowlist);
    if (!checked.ok) throw new HttpProblem(403, 'forbidden_source', `source refused: ${checked.reason}`);
    try {
      return this.addSource({
        id: request.id, url: checked.url, fps: request.fps, live: request.live, loop: request.loop,
        // Always the checked scheme's whitelist, also for files: a playlist cannot reach past it.
        protocolWhitelist: protocolWhitelistFor(checked.scheme),
        rtspTransport: request.rtspTransport,
        ...(request.watchdog ? { watchdog: tuningFromSettings(request.watchdog) } : {}),
        ...(request.model ? { model: request.model } : {}),
      });
    } catch (err) {
      // The watchdog's own checks of the merged tuning (e.g. backoffMaxMs below the configured backoffInitialMs).
      if (err instanceof RangeError) throw new HttpProblem(400, 'bad_request', `watchdog: ${err.message}`);
      throw err;
    }
  }

  async removeStream(id: string): Promise<boolean> {
    const owned = this.owned.get(id);
    if (!owned) {
      if (this.hasStream(id)) throw new HttpProblem(409, 'not_here', `stream "${id}" is ingested by another process; remove it there`);
      return false;
    }
    this.owned.delete(id);
    this.removed.add(id);
    owned.abort.abort();
    await owned.done;
    this.opts.feed.forget(id);
    this.snapshots.forget(id);
    this.opts.logger.info({ stream: id }, 'stream removed');
    return true;
  }

  async snapshot(id: string): Promise<Buffer | undefined> {
    const frame = this.owned.get(id)?.latest;
    return frame ? this.snapshots.encode(frame) : undefined;
  }

  readiness(): { ready: boolean; reasons: string[] } {
    if (this.closed) return { ready: false, reasons: ['shutting down'] };
    return this.opts.feed.readiness();
  }

  /** Stops every source (ffmpeg reaped) without waiting for results still in flight. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const o of this.owned.values()) o.abort.abort();
    await Promise.all([...this.owned.values()].map((o) => o.done));
  }

  private info(o: Owned): StreamInfo {
    return { id: o.spec.id, state: o.state, model: this.opts.model.name, fps: o.fps, ...(this.opts.model.untrained ? { untrained: true } : {}) };
  }
}
