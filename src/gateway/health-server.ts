/**
 * The HTTP endpoint of the roles that have no gateway of their own (`worker`,
 * `ingest`): what a container health check and Prometheus read.
 *
 * - `GET /healthz` (and `/readyz`): 200 `{"status":"ok"}` while the process
 *   can do its work, 503 `{"status":"not ready","reasons":[...]}` while it
 *   cannot (starting, Redis unreachable, stopping);
 * - `GET /metrics`: the process's Prometheus registry, text format;
 * - anything else: 404, and 405 for a method other than GET/HEAD.
 *
 * Connection limits and timeouts are the config's `server` section, as for
 * the gateway (createGatewayServer).
 */
import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { UsageError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { createGatewayServer, type ConnectionLimits } from './gateway-server.ts';

export interface Readiness {
  ready: boolean;
  /** Why not, one short phrase each; empty when ready. */
  reasons: string[];
}

export interface HealthServerOptions {
  /** Address to listen on (127.0.0.1: the container's own health check only; 0.0.0.0: Prometheus too). */
  host: string;
  /** TCP port; 0 picks a free one (see `port` after listen). */
  port: number;
  /** Asked on every /healthz; must not throw. */
  readiness: () => Readiness;
  metrics: Metrics;
  limits: ConnectionLimits;
  logger: Logger;
}

export class HealthServer {
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
  ) {}

  /** Listens; a port in use (or a bad address) is a UsageError naming it. */
  static async listen(opts: HealthServerOptions): Promise<HealthServer> {
    const server = createGatewayServer(opts.limits);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      answer(req, res, opts).catch((err: unknown) => {
        opts.logger.error({ err, path: req.url }, 'health endpoint failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'internal', message: 'health endpoint failed' } }));
      });
    });
    try {
      server.listen(opts.port, opts.host);
      await once(server, 'listening');
    } catch (err) {
      throw new UsageError(`--health-port: cannot listen on ${opts.host}:${opts.port}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
    const address = server.address();
    return new HealthServer(server, opts.host, typeof address === 'object' && address ? address.port : opts.port);
  }

  /** `http://host:port`, for the start-up line. */
  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** Idempotent: stops listening and drops open connections (health checks and scrapes retry). */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }
}

async function answer(req: IncomingMessage, res: ServerResponse, opts: HealthServerOptions): Promise<void> {
  const method = req.method ?? 'GET';
  const path = (req.url ?? '/').split('?')[0];
  if (method !== 'GET' && method !== 'HEAD') return json(res, 405, { error: { code: 'method_not_allowed', message: `${method} not allowed` } });
  if (path === '/healthz' || path === '/readyz') {
    const r = opts.readiness();
    return json(res, r.ready ? 200 : 503, r.ready ? { status: 'ok' } : { status: 'not ready', reasons: r.reasons });
  }
  if (path === '/metrics') {
    const { contentType, body } = await opts.metrics.render();
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
    res.end(body);
    return;
  }
  return json(res, 404, { error: { code: 'not_found', message: 'this port serves /healthz, /readyz and /metrics' } });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
