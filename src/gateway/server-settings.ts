import { once } from 'node:events';
import type { Server } from 'node:http';
import type { Config } from '../config/schema.ts';
import { UsageError } from '../shared/errors.ts';
import type { WsGatewayOptions } from './ws-gateway.ts';

type ServerConfig = Config['server'];

/** The WebSocket gateway's limits and access rules, from the `server` section of the config. */
export function wsGatewaySettings(
  server: ServerConfig,
): Pick<WsGatewayOptions, 'token' | 'allowedOrigins' | 'maxMessageBytes' | 'clientQueueMessages' | 'heartbeatIntervalMs' | 'replayLimit'> {
  return {
    token: server.token,
    allowedOrigins: server.allowedOrigins,
    maxMessageBytes: server.maxMessageBytes,
    clientQueueMessages: server.clientQueueMessages,
    heartbeatIntervalMs: server.heartbeatIntervalMs,
    replayLimit: server.replayLimit,
  };
}

/** Listens on the configured address; a port in use is one clear line. Returns the port bound. */
export async function listenOn(http: Server, server: ServerConfig): Promise<number> {
  try {
    http.listen(server.port, server.host);
    await once(http, 'listening');
  } catch (err) {
    throw new UsageError(`cannot listen on ${server.host}:${server.port}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const address = http.address();
  return typeof address === 'object' && address ? address.port : server.port;
}
