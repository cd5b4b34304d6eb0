/**
 * Batches sent for inference a few at a time, their answers written in the
 * order they were sent. Used by analyze (JSON lines in seq order) and index
 * (frames committed in seq order): decoding the next batch overlaps the
 * inference of the ones in flight, and the output never reorders.
 */

export interface OrderedBatchesOptions<B, R> {
  /**
   * Batches sent and not yet written, at most; submit() waits for the
   * oldest to be written past it. 2 keeps the inference thread busy (one
   * running, one queued) while the next batch decodes; more with workers
   * over Redis.
   */
  maxInFlight: number;
  /** Sends one batch; called at once by submit(), in submission order. */
  infer: (batch: B) => Promise<R>;
  /** Writes one batch's answer; called one at a time, in submission order. */
  write: (batch: B, result: R) => Promise<void> | void;
}

interface InFlight<B, R> {
  batch: B;
  result: Promise<R>;
}

/**
 * The bounded in-flight queue: submit() sends a batch and, when
 * `maxInFlight` are in flight, writes the oldest before it returns, so a
 * producer that awaits it is paused (ffmpeg's pipe fills) rather than
 * buffering without bound.
 *
 * Errors come at their turn: a batch whose inference rejected (or whose
 * write threw) rejects the submit() or drain() that reaches it, after every
 * batch before it was written. The batches behind it stay in flight: drain()
 * writes them (analyze: what was decoded is still written), discard() drops
 * them (index: a gap in seq must not be committed).
 */
export class OrderedBatches<B, R> {
  private readonly queue: InFlight<B, R>[] = [];
  /** Taken off the queue and waiting for its answer or its write. */
  private writing = 0;

  constructor(private readonly opts: OrderedBatchesOptions<B, R>) {
    if (!Number.isSafeInteger(opts.maxInFlight) || opts.maxInFlight < 1) {
      throw new RangeError(`maxInFlight must be a positive integer, got ${opts.maxInFlight}`);
    }
  }

  /** Batches sent and not yet written (nor discarded). */
  get inFlight(): number {
    return this.queue.length + this.writing;
  }

  /** Sends `batch`; resolves once fewer than `maxInFlight` batches are in flight. */
  async submit(batch: B): Promise<void> {
    const result = this.opts.infer(batch);
    // Observed at its turn; until then a rejection must not crash the process as
    // unhandled (a run stopped with batches still waiting: output or engine closed).
    result.catch(() => undefined);
    this.queue.push({ batch, result });
    while (this.inFlight >= this.opts.maxInFlight && this.queue.length > 0) await this.writeOldest();
  }

  /**
   * Writes every batch in flight, oldest first. With a signal: once it is
   * aborted, the batches not written yet are discarded instead.
   */
  async drain(signal?: AbortSignal): Promise<void> {
    while (this.queue.length > 0) {
      if (signal?.aborted) {
        this.discard();
        return;
      }
      await this.writeOldest();
    }
  }

  /** Drops the batches in flight unwritten (their answers are ignored); returns how many. */
  discard(): number {
    const n = this.queue.length;
    this.queue.length = 0;
    return n;
  }

  private async writeOldest(): Promise<void> {
    const item = this.queue.shift()!;
    this.writing++;
    try {
      await this.opts.write(item.batch, await item.result);
    } finally {
      this.writing--;
    }
  }
}

/**
 * Batches kept in flight: 2 for the in-process engine (one running in the
 * inference thread, one queued while the next batch decodes); with workers
 * over Redis, enough to keep every worker busy, bounded by
 * `redis.inFlightFrames` (frames sent and not yet answered).
 */
export function batchesInFlight(batch: number, remoteInFlightFrames?: number): number {
  const engine = 2;
  return remoteInFlightFrames === undefined ? engine : Math.max(engine, Math.floor(remoteInFlightFrames / batch));
}
