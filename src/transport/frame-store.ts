import type { Redis } from 'ioredis';
import type { Frame } from '../contracts/frame.ts';
import type { FrameRef } from '../contracts/transport.ts';
import type { RedisNames } from './redis-keys.ts';

/**
 * Frame pixels in Redis: one binary value per frame (rgb24 bytes as they
 * left ffmpeg) under `prefix:frame:{run}:seq`, each with a TTL so a frame
 * nobody fetches (its producer died, its job was lost) goes away by itself.
 * The client may point at a separate Redis from the queue's, evicting or not.
 */
export class FrameStore {
  constructor(
    private readonly client: Redis,
    private readonly names: RedisNames,
    private readonly ttlMs: number,
  ) {}

  /** Writes a batch in one round trip (keys of the `send`-th send); returns the references a job carries. */
  async put(frames: readonly Frame[], send = 1): Promise<FrameRef[]> {
    const pipeline = this.client.pipeline();
    const refs: FrameRef[] = frames.map((f) => {
      const key = this.names.frameKey(f.runId, f.seq, send);
      pipeline.set(key, f.data, 'PX', this.ttlMs);
      return { seq: f.seq, ptsMs: f.ptsMs, capturedAt: f.capturedAt, key };
    });
    await execOrThrow(pipeline.exec());
    return refs;
  }

  /** The pixels of each key, null where a frame expired or was never written. */
  async get(keys: readonly string[]): Promise<(Buffer | null)[]> {
    if (keys.length === 0) return [];
    return this.client.mgetBuffer(...keys);
  }

  /** Extends the TTL of frames still waiting (a long wait in a deep queue). */
  async touch(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const pipeline = this.client.pipeline();
    for (const k of keys) pipeline.pexpire(k, this.ttlMs);
    await execOrThrow(pipeline.exec());
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    // UNLINK frees the memory in a background thread of Redis.
    await this.client.unlink(...keys);
  }
}

type PipelineResult = [Error | null, unknown][] | null;

/** A pipeline rejects only for connection errors; a failed command is in its result. */
async function execOrThrow(result: Promise<PipelineResult>): Promise<void> {
  const replies = await result;
  const failed = replies?.find(([err]) => err !== null);
  if (failed?.[0]) throw failed[0];
}
