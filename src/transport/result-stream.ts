import type { Redis } from 'ioredis';
import { ResultEntrySchema, type ResultEntry } from '../contracts/transport.ts';
import type { Logger } from '../shared/logger.ts';

/**
 * Results as Redis Stream entries: one entry per job (field `e`, JSON),
 * appended with `XADD key MAXLEN ~ N` so a stream nobody reads stays bounded
 * (trimmed in whole macro nodes, hence about N). Delivery is at least once:
 * readers dedupe on (stream, run, seq).
 */
export class ResultPublisher {
  constructor(
    private readonly client: Redis,
    private readonly maxLen: number,
  ) {}

  async publish(streamKey: string, entry: ResultEntry): Promise<void> {
    await this.client.xadd(streamKey, 'MAXLEN', '~', this.maxLen, '*', 'e', JSON.stringify(entry));
  }
}

export interface ResultReaderOptions {
  /** A connection of its own: XREAD BLOCK holds it. Worker role (waits across reconnects). */
  client: Redis;
  streamKey: string;
  /** `$`: only entries added from now on; `0`: from the start. */
  from: '$' | '0';
  onEntry: (entry: ResultEntry) => void;
  logger: Logger;
  /** Entries per read. */
  count?: number;
  /** How long one XREAD blocks, ms; bounds how long close() waits. */
  blockMs?: number;
}

/**
 * Reads a results stream until closed. A malformed entry is logged and
 * skipped (it came from another version or a bug, retrying cannot help); a
 * lost connection is retried. After a Redis restart stream IDs start again
 * from the clock, which keeps them above the last one read.
 */
export class ResultReader {
  private lastId: string;
  private closed = false;
  private readonly done: Promise<void>;

  constructor(private readonly opts: ResultReaderOptions) {
    this.lastId = opts.from;
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    const { client, streamKey, logger } = this.opts;
    while (!this.closed) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        // `$` is resolved once to the stream's last ID: given to every XREAD, an
        // entry added between two reads would be missed.
        if (this.lastId === '$') this.lastId = await lastEntryId(client, streamKey);
        reply = (await client.xread('COUNT', this.opts.count ?? 256, 'BLOCK', this.opts.blockMs ?? 500, 'STREAMS', streamKey, this.lastId)) as
          [string, [string, string[]][]][] | null;
      } catch (err) {
        if (this.closed) break;
        logger.debug({ err: (err as Error).message, stream: streamKey }, 'results read failed; retrying');
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      if (!reply) continue;
      for (const [, entries] of reply) {
        for (const [id, fields] of entries) {
          this.lastId = id;
          const raw = fields[fields.indexOf('e') + 1];
          let parsed: ResultEntry;
          try {
            parsed = ResultEntrySchema.parse(JSON.parse(raw ?? ''));
          } catch (err) {
            logger.warn({ id, stream: streamKey, err: (err as Error).message }, 'malformed results entry skipped');
            continue;
          }
          this.opts.onEntry(parsed);
        }
      }
    }
  }

  /**
   * Idempotent; resolves when the current read has returned (within blockMs),
   * or after blockMs + 1 s when Redis is away and the read hangs on the
   * reconnect: the caller's closing of the connection then ends it.
   */
  async close(): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.done, new Promise<void>((r) => (timer = setTimeout(r, (this.opts.blockMs ?? 500) + 1000)))]);
    clearTimeout(timer);
  }
}

/** The ID of a stream's last entry; `0-0` when it is empty or absent (every later entry is above it). */
async function lastEntryId(client: Redis, streamKey: string): Promise<string> {
  const last = (await client.xrevrange(streamKey, '+', '-', 'COUNT', 1)) as [string, string[]][];
  return last[0]?.[0] ?? '0-0';
}
