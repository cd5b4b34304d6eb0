/**
 * The gateway assembled as `serve` and `gateway` assemble it (the limited
 * http.Server, the WebSocket gateway, the HTTP routes and the dashboard),
 * on port 0, around a stub backend, with its JSON log lines kept for the
 * test to read.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import { ConfigSchema, type Config } from '../../../src/config/schema.ts';
import type { StreamInfo } from '../../../src/contracts/results.ts';
import { authorizeUpgrade } from '../../../src/gateway/auth.ts';
import { serveDashboardAsset } from '../../../src/gateway/dashboard-assets.ts';
import { createGatewayServer } from '../../../src/gateway/gateway-server.ts';
import { createHttpHandler, type HttpBackend } from '../../../src/gateway/http-api.ts';
import { listenOn, wsGatewaySettings } from '../../../src/gateway/server-settings.ts';
import { WsGateway } from '../../../src/gateway/ws-gateway.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { Metrics } from '../../../src/shared/metrics.ts';
import { STREAMS } from './ws-helpers.ts';

export interface AssembledGateway {
  server: Server;
  gateway: WsGateway;
  port: number;
  /** Every log line written so far, as written (JSON). */
  logs: () => string;
  close: () => Promise<void>;
}

/** The `server` section of the config with `overrides` on its defaults, port 0. */
export function serverSettings(overrides: Partial<Config['server']> = {}): Config['server'] {
  return ConfigSchema.parse({ server: { port: 0, ...overrides } }).server;
}

export async function startAssembled(overrides: Partial<Config['server']> = {}, backendOverrides: Partial<HttpBackend> = {}): Promise<AssembledGateway> {
  const settings = serverSettings(overrides);
  let logText = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logText += chunk.toString('utf8');
      callback();
    },
  });
  // Debug: every line the code could write is captured. The token is known to the logger as `serve` makes it.
  const logger = createLogger({ level: 'debug', destination, secrets: settings.token === undefined ? [] : [settings.token] });
  const streams: StreamInfo[] = STREAMS.map((s) => ({ ...s }));
  const backend: HttpBackend = {
    listStreams: () => streams,
    addStream: () => Promise.reject(new Error('not in this test')),
    removeStream: (id) => Promise.resolve(streams.some((s) => s.id === id)),
    snapshot: () => Promise.resolve(undefined),
    hasStream: (id) => streams.some((s) => s.id === id),
    readiness: () => ({ ready: true, reasons: [] }),
    metrics: new Metrics({ processMetrics: false }),
    ...backendOverrides,
  };
  const server = createGatewayServer(settings);
  const gateway = new WsGateway({
    server,
    ...wsGatewaySettings(settings),
    maxClients: settings.maxClients,
    listStreams: () => streams,
    logger: logger.child({ component: 'gateway' }),
  });
  server.on(
    'request',
    createHttpHandler({
      backend,
      authorize: (req) => authorizeUpgrade(req.headers, req.url, { token: settings.token }).ok,
      serveAsset: serveDashboardAsset,
      logger: logger.child({ component: 'http' }),
    }),
  );
  await listenOn(server, settings);
  return {
    server,
    gateway,
    port: (server.address() as AddressInfo).port,
    logs: () => logText,
    close: async () => {
      await gateway.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
