import { DEFAULTS, type Config } from '../config/schema.ts';
import type { SearchRoute } from '../gateway/search-route.ts';
import { LiveGateway } from '../gateway/live-gateway.ts';
import type { SourceAllowlist } from '../ingest/source-allowlist.ts';
import { tuningFromSettings } from '../ingest/source-watchdog.ts';
import { LiveResultPublisher } from '../pipeline/live-result-publisher.ts';
import type { PlanDefaults } from '../pipeline/source-plan.ts';
import { StreamRegistry } from '../pipeline/stream-registry.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { DistributedSources } from './distributed-sources.ts';
import type { IngestSession } from './ingest-session.ts';
import { ResultFeed } from './result-feed.ts';
import type { RedisLinks } from './redis-links.ts';
import { ResultReader } from './result-stream.ts';

/** Sources ingested by this process too (`serve --redis`). */
export interface GatewayIngest {
  session: IngestSession;
  /** The model the workers run (jobs name it; streams list it). */
  model: { name: string; untrained?: boolean | undefined };
  /** What POST /api/streams may open (as in embedded serve). */
  allowlist: SourceAllowlist | undefined;
  plan: PlanDefaults;
}

export interface ResultGatewayOptions {
  server: Config['server'];
  events: Config['events'];
  /** The process's Redis connections; the results read gets a worker-role connection of its own. */
  links: RedisLinks;
  /** `serve --redis`: the sources this process ingests. Absent (`streamsight gateway`): read only. */
  ingest?: GatewayIngest | undefined;
  search?: SearchRoute | undefined;
  logger: Logger;
  metrics: Metrics;
}

export interface ResultGateway {
  port: number;
  /** The streams: this process's (serve --redis) and those other ingests announce. */
  registry: StreamRegistry;
  /** Idempotent: this process's sources (ffmpeg reaped), the results read, WebSocket clients, then HTTP. The links and session are the caller's. */
  close(): Promise<void>;
}

/**
 * The gateway of the distributed mode (`streamsight gateway`, `serve
 * --redis`): the live server's one assembly (gateway/live-gateway.ts) over
 * a stream registry whose results come from the shared results stream,
 * from the moment it starts (the replay ring fills as results come). A
 * port in use is a UsageError, with nothing left open.
 */
export async function openResultGateway(opts: ResultGatewayOptions): Promise<ResultGateway> {
  const { links, logger, metrics, ingest } = opts;
  const gateway = new LiveGateway({ server: opts.server, search: opts.search, logger, metrics });
  const publisher = new LiveResultPublisher({ sink: gateway.ws, events: opts.events, metrics });
  const feed = new ResultFeed({ publisher, redisReady: () => links.ready });
  const registry = new StreamRegistry({
    transport: ingest ? new DistributedSources({ session: ingest.session, feed, model: ingest.model, logger }) : feed,
    publisher,
    allowlist: ingest?.allowlist,
    logger,
    metrics,
    // Read only: nothing is planned (a read-only transport refuses before planning).
    plan: ingest?.plan ?? { liveFps: 0, fileFps: 0, watchdog: tuningFromSettings(DEFAULTS.watchdog) },
  });
  let port: number;
  try {
    port = await gateway.listen(registry);
  } catch (err) {
    await gateway.close();
    throw err;
  }
  const reader = new ResultReader({
    client: links.extra('feed', 'worker'),
    streamKey: links.names.resultsStream,
    from: '$',
    onEntry: (e) => feed.onEntry(e),
    logger,
  });
  let closing: Promise<void> | undefined;
  return {
    port,
    registry,
    close(): Promise<void> {
      closing ??= (async () => {
        await registry.close();
        await reader.close();
        await gateway.close();
      })();
      return closing;
    },
  };
}
