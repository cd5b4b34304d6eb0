import type { Config } from '../config/schema.ts';
import type { StreamInfo } from '../contracts/results.ts';
import { authorizeUpgrade } from '../gateway/auth.ts';
import { serveDashboardAsset } from '../gateway/dashboard-assets.ts';
import { createHttpHandler, type HttpBackend } from '../gateway/http-api.ts';
import { createGatewayServer } from '../gateway/gateway-server.ts';
import type { SearchRoute } from '../gateway/search-route.ts';
import { listenOn, wsGatewaySettings } from '../gateway/server-settings.ts';
import { WsGateway } from '../gateway/ws-gateway.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { ResultFeed, type ResultFeedOptions } from './result-feed.ts';
import type { RedisLinks } from './redis-links.ts';
import { ResultReader } from './result-stream.ts';

export interface ResultGatewayOptions {
  server: Config['server'];
  events: Config['events'];
  /** The process's Redis connections; the results read gets a worker-role connection of its own. */
  links: RedisLinks;
  /** The HTTP backend made around the feed (`serve --redis`: the sources it ingests); default the feed (read only). */
  backend?: ((feed: ResultFeed) => HttpBackend) | undefined;
  /** Streams whose entries the feed skips. */
  ignore?: ((stream: string) => boolean) | undefined;
  /** A stream's own label options (topK, minScore), applied by the feed. */
  labelOptions?: ResultFeedOptions['labelOptions'];
  search?: SearchRoute | undefined;
  logger: Logger;
  metrics: Metrics;
}

export interface ResultGateway {
  port: number;
  feed: ResultFeed;
  /** Idempotent: the results read, WebSocket clients, then HTTP. The links are the caller's. */
  close(): Promise<void>;
}

/**
 * The gateway half of the distributed mode (`streamsight gateway`, `serve
 * --redis`): HTTP + WebSocket on the configured address, fed by the shared
 * results stream from the moment it starts (the replay ring fills as
 * results come). A port in use is a UsageError, with nothing left open.
 */
export async function openResultGateway(opts: ResultGatewayOptions): Promise<ResultGateway> {
  const { links, logger, metrics } = opts;
  const http = createGatewayServer(opts.server);
  const gateway: WsGateway = new WsGateway({
    server: http, ...wsGatewaySettings(opts.server), maxClients: opts.server.maxClients,
    listStreams: (): StreamInfo[] => backend.listStreams(), logger: logger.child({ component: 'gateway' }), metrics,
  });
  const feed: ResultFeed = new ResultFeed({ sink: gateway, events: opts.events, metrics, redisReady: () => links.ready, ignore: opts.ignore, labelOptions: opts.labelOptions });
  const backend: HttpBackend = opts.backend ? opts.backend(feed) : feed;
  http.on('request', createHttpHandler({
    backend,
    ...(opts.search ? { search: opts.search } : {}),
    authorize: (req) => authorizeUpgrade(req.headers, req.url, { token: opts.server.token }).ok,
    serveAsset: serveDashboardAsset,
    logger: logger.child({ component: 'http' }),
  }));
  let port: number;
  try {
    port = await listenOn(http, opts.server);
  } catch (err) {
    await gateway.close();
    throw err;
  }
  const reader = new ResultReader({ client: links.extra('feed', 'worker'), streamKey: links.names.resultsStream, from: '$', onEntry: (e) => feed.onEntry(e), logger });
  let closing: Promise<void> | undefined;
  return {
    port,
    feed,
    close(): Promise<void> {
      closing ??= (async () => {
        await reader.close();
        await gateway.close();
        http.closeAllConnections();
        await new Promise<void>((resolve) => http.close(() => resolve()));
      })();
      return closing;
    },
  };
}
