import type { Frame } from '../contracts/frame.ts';
import type { StreamInfo, StreamState } from '../contracts/results.ts';
import type { SourcePlan, SourceSpec } from '../pipeline/source-plan.ts';
import type { LiveStream, StreamTransport } from '../pipeline/stream-registry.ts';
import { ModelNotServedError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { IngestSession } from './ingest-session.ts';
import type { ResultFeed } from './result-feed.ts';

export interface DistributedSourcesOptions {
  session: IngestSession;
  /** The results read by this process's gateway (every ingest's streams, this one's included). */
  feed: ResultFeed;
  model: { name: string; untrained?: boolean | undefined };
  logger: Logger;
}

/**
 * The transport of `serve --redis`: a stream is decoded here and its frames
 * go to `streamsight worker`s as jobs (ingest-session.ts); its results, like
 * every other ingest's, come back through the feed. Streams other ingests
 * announce on the shared results stream are listed too (their snapshots are
 * not here: 404; removing one: 409 `not_here`).
 */
export class DistributedSources implements StreamTransport {
  constructor(private readonly opts: DistributedSourcesOptions) {}

  /** The workers run one model; none is loaded here. */
  loadsModel(): boolean {
    return false;
  }

  async open(spec: SourceSpec, plan: SourcePlan): Promise<LiveStream> {
    const { model, logger, session } = this.opts;
    // Jobs carry one model name and the workers run that one model.
    if (spec.model?.name !== undefined && spec.model.name !== model.name) {
      throw new ModelNotServedError(`model.name is not supported with --redis: workers run one model (${model.name})`);
    }
    if (spec.model?.preprocess !== undefined) {
      throw new ModelNotServedError('model.preprocess is not supported with --redis: workers preprocess as the config says (model.preprocess)');
    }
    const abort = new AbortController();
    let state: StreamState = 'starting';
    let latest: Frame | undefined;
    // Throws at once for a tuning the watchdog refuses (WatchdogTuningError).
    const running = session.run(spec, abort.signal, { onFrame: (frame) => (latest = frame), onState: (s) => (state = s) }, plan);
    const done = running.then(
      (report) => {
        if (report.lost.length > 0) logger.error({ stream: spec.id, lost: report.lost.length, first: report.lost.slice(0, 5) }, 'frames got no result');
      },
      (err: unknown) => {
        state = 'failed';
        logger.error({ err, stream: spec.id }, 'ingest of the stream failed');
      },
    );
    return {
      get state(): StreamState {
        return state;
      },
      model,
      get latest(): Frame | undefined {
        return latest;
      },
      // Without waiting for results still in flight.
      stop: async () => {
        abort.abort();
        await done;
      },
    };
  }

  others(): StreamInfo[] {
    return this.opts.feed.others();
  }

  readiness(): { ready: boolean; reasons: string[] } {
    return this.opts.feed.readiness();
  }

  /** The session is the caller's (closed after the gateway). */
  async close(): Promise<void> {}
}
