import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { FrameJob } from '../contracts/transport.ts';
import type { Logger } from '../shared/logger.ts';
import type { RedisNames } from './redis-keys.ts';

export interface FrameQueueOptions {
  /** Attempts of a job whose error may pass (bad data is never retried). */
  attempts: number;
  /** Failed jobs kept for inspection; older ones are removed. */
  failedJobsKept: number;
  logger?: Logger;
}

/** Where a job is: BullMQ's states, 'unknown' when the job is gone (done and removed, or lost). */
export type JobState = 'waiting' | 'active' | 'delayed' | 'prioritized' | 'waiting-children' | 'completed' | 'failed' | 'unknown';

/**
 * The producer's side of the inference queue. Completed jobs are removed
 * at once (their result is in a results stream); failed ones are kept,
 * bounded. Retries back off exponentially from 500 ms.
 */
export class FrameQueue {
  private readonly queue: Queue;
  private closed = false;

  constructor(
    private readonly connection: Redis,
    names: RedisNames,
    private readonly options: FrameQueueOptions,
  ) {
    // BullMQ's event stream is trimmed to about 1000 entries: nothing here reads it.
    this.queue = new Queue(names.framesQueue, { connection, prefix: names.prefix, streams: { events: { maxLen: 1000 } } });
    // Errors also surface on the calls, where the caller handles them; this is for the log.
    this.queue.on('error', (err: Error) => options.logger?.debug({ err: err.message }, 'queue connection error'));
  }

  async add(jobId: string, data: FrameJob): Promise<void> {
    await this.queue.add('infer', data, {
      jobId,
      attempts: this.options.attempts,
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: true,
      removeOnFail: { count: this.options.failedJobsKept },
    });
  }

  async state(jobId: string): Promise<JobState> {
    return (await this.queue.getJobState(jobId)) as JobState;
  }

  /** Jobs waiting for a worker (not active, not delayed). */
  async waiting(): Promise<number> {
    return this.queue.getWaitingCount();
  }

  /** Removes a job that no worker has taken yet; false when it was taken or is gone. */
  async removeWaiting(jobId: string): Promise<boolean> {
    // BullMQ's remove() answers 1 for a job that is gone as well (done and removed):
    // taking the id out of the wait list first, atomically, makes "no worker took it" exact.
    if ((await this.connection.lrem(this.queue.toKey('wait'), 1, jobId)) === 0) return false;
    await this.queue.remove(jobId);
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.close();
  }
}
