import type { Server } from 'node:http';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { authorizeUpgrade } from './auth.ts';
import { serveDashboardAsset } from './dashboard-assets.ts';
import { createGatewayServer } from './gateway-server.ts';
import { createHttpHandler, type HttpBackend } from './http-api.ts';
import type { SearchRoute } from './search-route.ts';
import { listenOn, wsGatewaySettings } from './server-settings.ts';
import { WsGateway } from './ws-gateway.ts';

export interface LiveGatewayOptions {
  /** Address, limits, token and WebSocket settings (config `server`). */
  server: Config['server'];
  /** GET/POST /api/search when an index is open. */
  search?: SearchRoute | undefined;
  logger: Logger;
  metrics: Metrics;
}

/**
 * The one assembly of a live server's front: HTTP API + WebSocket feed +
 * dashboard on one http.Server, the same for embedded `serve`
 * (library/server.ts), `serve --redis` and `streamsight gateway`
 * (transport/result-gateway.ts). `ws` is where results are published; the
 * HTTP API answers from the backend given to listen() (the stream registry).
 */
export class LiveGateway {
  readonly http: Server;
  readonly ws: WsGateway;
  private backend: HttpBackend | undefined;
  private closing: Promise<void> | undefined;

  /** Throws ConfigError for connection limits Node would refuse. */
  constructor(private readonly opts: LiveGatewayOptions) {
    this.http = createGatewayServer(opts.server);
    this.ws = new WsGateway({
      server: this.http,
      ...wsGatewaySettings(opts.server),
      maxClients: opts.server.maxClients,
      // No stream before the backend is there.
      listStreams: () => this.backend?.listStreams() ?? [],
      logger: opts.logger.child({ component: 'gateway' }),
      metrics: opts.metrics,
    });
  }

  /** Routes HTTP to `backend` and listens on the configured address (a port in use: UsageError). Returns the port bound. */
  async listen(backend: HttpBackend): Promise<number> {
    const { opts } = this;
    this.backend = backend;
    this.http.on(
      'request',
      createHttpHandler({
        backend,
        ...(opts.search ? { search: opts.search } : {}),
        authorize: (req) => authorizeUpgrade(req.headers, req.url, { token: opts.server.token }).ok,
        serveAsset: serveDashboardAsset,
        logger: opts.logger.child({ component: 'http' }),
      }),
    );
    return listenOn(this.http, opts.server);
  }

  /** Idempotent: WebSocket clients (1001), then HTTP connections and the listener. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.ws.close();
      this.http.closeAllConnections();
      if (this.http.listening) await new Promise<void>((resolve) => this.http.close(() => resolve()));
    })();
    return this.closing;
  }
}
