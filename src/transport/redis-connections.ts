import { Redis, type RedisOptions } from 'ioredis';
import { RedisUnavailableError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { redactUrl } from './redis-keys.ts';

/**
 * Connections the way BullMQ recommends.
 * - Producers (ingest, analyze) fail fast: with no offline queue a command
 *   sent while Redis is away rejects at once, and the caller decides (retry
 *   a file's batch later, drop a live frame and count it).
 * - Workers and blocking readers wait: `maxRetriesPerRequest: null` keeps
 *   commands queued across a reconnect, so a Redis restart is a pause.
 * Both reconnect forever with a capped backoff (50 ms doubling to 2 s).
 */
export type ConnectionRole = 'producer' | 'worker';

const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000);

export function connect(url: string, role: ConnectionRole, name: string, logger?: Logger): Redis {
  const common: RedisOptions = { retryStrategy, connectionName: name, lazyConnect: false };
  const options: RedisOptions =
    role === 'producer' ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1 } : { ...common, maxRetriesPerRequest: null, enableReadyCheck: true };
  const client = new Redis(url, options);
  // ioredis reports each failed reconnect as an 'error' event; without a listener
  // Node would treat it as unhandled. One warning per outage, not one per retry.
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) logger?.warn({ connection: name, url: redactUrl(url), err: err.message }, 'Redis connection lost; reconnecting');
    down = true;
  });
  client.on('ready', () => {
    if (down) logger?.info({ connection: name }, 'Redis connection back');
    down = false;
  });
  return client;
}

/** Resolves when the client is ready; RedisUnavailableError after `timeoutMs`. */
export async function waitReady(client: Redis, url: string, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new RedisUnavailableError(`Redis at ${redactUrl(url)} is not reachable (waited ${Math.round(timeoutMs / 1000)} s)`));
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}

/** Idempotent: QUIT when connected, else just stop reconnecting. */
export async function closeConnection(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    await client.quit().catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
}
