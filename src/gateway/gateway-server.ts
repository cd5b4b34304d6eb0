/**
 * The http.Server both gateway assemblies listen on (`serve`, and `gateway`
 * / `serve --redis`), with the connection limits of the config's `server`
 * section applied, so that idle or slow connections cannot hold the
 * process's file descriptors.
 */
import { createServer, type Server } from 'node:http';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../shared/errors.ts';

export type ConnectionLimits = Pick<
  Config['server'],
  'maxConnections' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'maxRequestsPerSocket'
>;

/**
 * How often Node sweeps connections for the header and request timeouts,
 * ms. Node's default (30 s) would let a socket that never sends a byte live
 * up to 30 s past `headersTimeoutMs`; half the timeout, at most 1 s, keeps
 * the overshoot small for the cost of one pass over the connections a
 * second.
 */
export function connectionsCheckingIntervalMs(limits: Pick<ConnectionLimits, 'headersTimeoutMs'>): number {
  return Math.max(100, Math.min(1000, Math.floor(limits.headersTimeoutMs / 2)));
}

/**
 * Throws ConfigError when the header timeout exceeds the request timeout
 * (Node would refuse it with a bare RangeError). For commands that start
 * other things before the server.
 */
export function checkConnectionLimits(limits: Pick<ConnectionLimits, 'headersTimeoutMs' | 'requestTimeoutMs'>): void {
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new ConfigError(`server.headersTimeoutMs (${limits.headersTimeoutMs}) must not exceed server.requestTimeoutMs (${limits.requestTimeoutMs})`);
  }
}

/**
 * A node:http Server with:
 * - `headersTimeout` = `headersTimeoutMs`: a connection that has not sent a
 *   whole request head by then (one that sends nothing included) is answered
 *   408 and closed;
 * - `requestTimeout` = `requestTimeoutMs`: the same for the whole request;
 * - `keepAliveTimeout` = `keepAliveTimeoutMs`: an idle keep-alive connection
 *   is closed after it;
 * - `maxRequestsPerSocket` (0 = no limit): past it the connection is closed;
 * - `maxConnections`: TCP connections at once (HTTP and WebSocket); the next
 *   one is closed as it arrives.
 * WebSocket clients are capped by the gateway itself (`maxClients`).
 * Throws as `checkConnectionLimits` does.
 */
export function createGatewayServer(limits: ConnectionLimits): Server {
  checkConnectionLimits(limits);
  const server = createServer({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: connectionsCheckingIntervalMs(limits),
  });
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  server.maxConnections = limits.maxConnections;
  return server;
}
