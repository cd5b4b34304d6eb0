import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../shared/logger.ts';
import { closeConnection, connect, waitReady, type ConnectionRole } from './redis-connections.ts';
import { redisNames, type RedisNames } from './redis-keys.ts';

export type RedisSettings = Config['redis'] & { url: string };

/**
 * The connections one process holds: the queue's Redis, the frame store's
 * (the same one unless `frameStoreUrl` is set), and any extra ones for
 * blocking reads. `close()` closes them all, in reverse order of opening.
 */
export class RedisLinks {
  private readonly opened: Redis[] = [];
  private closed = false;
  readonly names: RedisNames;
  readonly queue: Redis;
  readonly frames: Redis;

  private constructor(
    readonly settings: RedisSettings,
    private readonly role: ConnectionRole,
    private readonly name: string,
    private readonly logger: Logger,
  ) {
    this.names = redisNames(settings.prefix);
    this.queue = this.open(settings.url, `${name}:queue`);
    this.frames = settings.frameStoreUrl ? this.open(settings.frameStoreUrl, `${name}:frames`) : this.queue;
  }

  /**
   * Connects; producers wait up to `unavailableTimeoutMs` for Redis at start
   * (then RedisUnavailableError), workers wait as long as it takes.
   */
  static async open(settings: RedisSettings, role: ConnectionRole, name: string, logger: Logger): Promise<RedisLinks> {
    const links = new RedisLinks(settings, role, name, logger);
    const patience = role === 'producer' ? settings.unavailableTimeoutMs : Number.MAX_SAFE_INTEGER / 2;
    try {
      await waitReady(links.queue, settings.url, Math.min(patience, 2 ** 31 - 1));
      if (links.frames !== links.queue) await waitReady(links.frames, settings.frameStoreUrl!, Math.min(patience, 2 ** 31 - 1));
    } catch (err) {
      await links.close();
      throw err;
    }
    return links;
  }

  /** An extra connection of the given role (for XREAD BLOCK, which holds its connection). */
  extra(label: string, role: ConnectionRole = 'worker'): Redis {
    return this.open(this.settings.url, `${this.name}:${label}`, role);
  }

  /** True while every connection is up (for /readyz). */
  get ready(): boolean {
    return this.opened.every((c) => c.status === 'ready');
  }

  private open(url: string, name: string, role: ConnectionRole = this.role): Redis {
    const client = connect(url, role, name, this.logger);
    this.opened.push(client);
    return client;
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of [...this.opened].reverse()) await closeConnection(c);
  }
}
