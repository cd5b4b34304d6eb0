import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Frame } from '../contracts/frame.ts';
import { decodeEmbedding, type FrameJob, type ResultEntry } from '../contracts/transport.ts';
import type { BatchInferer, FrameInference, InferredBatch } from '../inference/batch-inferer.ts';
import { RedisUnavailableError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { FrameQueue } from './frame-queue.ts';
import { FrameStore } from './frame-store.ts';
import { jobIdFor, type RedisNames } from './redis-keys.ts';
import { ResultReader } from './result-stream.ts';

export interface RemoteInferenceOptions {
  /** Producer-role connections (fail fast): the queue's Redis and the frame store's. */
  queueConnection: Redis;
  frameConnection: Redis;
  /** A worker-role connection of its own for the blocking results read. */
  readerConnection: Redis;
  names: RedisNames;
  model: { name: string; inputWidth: number; inputHeight: number };
  topK: number;
  embeddings: boolean;
  frameTtlMs: number;
  /** Producers pause while the queue holds more waiting jobs than this. */
  queueHighWaterJobs: number;
  /** A batch with no result this long is looked up (and sent again if its job is gone), ms. */
  resultTimeoutMs: number;
  /** Sends after the first, per batch, before its frames count as lost. */
  maxResends: number;
  jobAttempts: number;
  failedJobsKept: number;
  /** Give up when Redis stays unreachable this long, ms. */
  unavailableTimeoutMs: number;
  /**
   * Results to this shared stream (the one gateways read; `ingest` of files)
   * instead of a private reply stream: entries of other producers are
   * ignored, only what is added from now on is read, and close() leaves the
   * stream in place. Default: a private stream, deleted at close.
   */
  resultsStream?: string | undefined;
  logger: Logger;
}

interface Pending {
  frames: readonly Frame[];
  run: string;
  stream: string;
  /** Sends so far (1 after the first). */
  sends: number;
  jobId: string;
  /** Frame store keys of the latest send. */
  keys: string[];
  /** When the batch was last sent or found still queued (performance.now()). */
  checkedAt: number;
  results: Map<number, FrameInference>;
  lost: Map<number, string>;
  resolve: (b: InferredBatch) => void;
  reject: (e: unknown) => void;
}

/**
 * `analyze --redis`: inference by the workers, behind the same BatchInferer
 * the in-process engine implements, so the analyze pipeline (ordering, output,
 * segments) is the same code in both modes.
 *
 * The frames of a batch stay in this process until their results arrive:
 * that is what makes the run lossless when Redis loses its queue. Every
 * `resultTimeoutMs` a batch without a result is looked up: still queued or
 * running, its frames' TTL is extended; gone (Redis restarted empty, or the
 * result was lost) or failed, it is sent again under a new job id, at most
 * `maxResends` times, after which its frames count as lost and are named.
 * Results are idempotent on (run, seq): a frame answered twice is taken once.
 */
export class RemoteInference implements BatchInferer {
  readonly provider = 'remote';
  private readonly queue: FrameQueue;
  private readonly store: FrameStore;
  private readonly reader: ResultReader;
  private readonly replyKey: string;
  private readonly pending = new Map<string, Pending>();
  private readonly watchdog: NodeJS.Timeout;
  private checking = false;
  private closed = false;
  /** Batches sent again, and frames in them. */
  readonly stats = { resentBatches: 0, resentFrames: 0, lostFrames: 0 };

  constructor(private readonly opts: RemoteInferenceOptions) {
    this.replyKey = opts.resultsStream ?? opts.names.replyStream(randomUUID());
    this.queue = new FrameQueue(opts.queueConnection, opts.names, { attempts: opts.jobAttempts, failedJobsKept: opts.failedJobsKept, logger: opts.logger });
    this.store = new FrameStore(opts.frameConnection, opts.names, opts.frameTtlMs);
    this.reader = new ResultReader({
      client: opts.readerConnection,
      streamKey: this.replyKey,
      from: opts.resultsStream === undefined ? '0' : '$',
      onEntry: (e) => this.onEntry(e),
      logger: opts.logger,
    });
    const every = Math.max(50, Math.min(1000, Math.floor(opts.resultTimeoutMs / 4)));
    this.watchdog = setInterval(() => void this.check(), every);
  }

  /** Batches sent and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends a batch (all frames of one run) and resolves with its results, in its order. */
  infer(frames: readonly Frame[]): Promise<InferredBatch> {
    if (this.closed) return Promise.reject(new RangeError('remote inference is closed'));
    const first = frames[0];
    if (!first) return Promise.resolve({ frames: [] });
    const key = batchKey(first.runId, first.seq);
    return new Promise<InferredBatch>((resolve, reject) => {
      const p: Pending = {
        frames,
        run: first.runId,
        stream: first.streamId,
        sends: 0,
        jobId: '',
        keys: [],
        checkedAt: performance.now(),
        results: new Map(),
        lost: new Map(),
        resolve,
        reject,
      };
      this.pending.set(key, p);
      this.send(p, true).catch((err: unknown) => {
        this.pending.delete(key);
        reject(err);
      });
    });
  }

  /** Writes the frames and adds the job, retrying while Redis is away (up to unavailableTimeoutMs). */
  private async send(p: Pending, backpressure: boolean): Promise<void> {
    const since = performance.now();
    for (let attempt = 0; ; attempt++) {
      if (this.closed) return;
      try {
        // Backpressure: ffmpeg stays paused (the pipeline awaits this) while the queue is deep.
        while (backpressure && (await this.queue.waiting()) > this.opts.queueHighWaterJobs) {
          if (this.closed) return;
          p.checkedAt = performance.now();
          await sleep(100);
        }
        const refs = await this.store.put(p.frames, p.sends + 1);
        p.sends++;
        p.keys = refs.map((r) => r.key);
        p.jobId = jobIdFor(p.run, p.frames[0]!.seq, p.sends);
        const job: FrameJob = {
          v: 1,
          stream: p.stream,
          run: p.run,
          model: this.opts.model.name,
          width: this.opts.model.inputWidth,
          height: this.opts.model.inputHeight,
          topK: this.opts.topK,
          embeddings: this.opts.embeddings,
          results: this.replyKey,
          frames: refs,
        };
        await this.queue.add(p.jobId, job);
        p.checkedAt = performance.now();
        return;
      } catch (err) {
        if (performance.now() - since > this.opts.unavailableTimeoutMs) {
          throw new RedisUnavailableError(
            `cannot enqueue frames: Redis unreachable for ${Math.round((performance.now() - since) / 1000)} s (${(err as Error).message})`,
            { cause: err },
          );
        }
        if (attempt === 0) this.opts.logger.warn({ err: (err as Error).message }, 'enqueue failed; retrying until Redis is back');
        await sleep(Math.min(100 * 2 ** attempt, 1000));
      }
    }
  }

  private onEntry(entry: ResultEntry): void {
    // A reused frame (`--skip-unchanged` of a live ingest) answers no batch.
    if (entry.kind === 'status' || entry.kind === 'reused') return;
    const seqs = entry.kind === 'frames' ? entry.frames.map((f) => f.seq) : entry.seqs;
    const p = seqs.length > 0 ? this.pending.get(batchKey(entry.run, seqs[0]!)) : undefined;
    if (!p) return; // answered already: a duplicate delivery
    if (entry.kind === 'frames') {
      for (const f of entry.frames) {
        if (p.results.has(f.seq)) continue;
        const inference: FrameInference = { top: f.labels.map((l) => ({ index: l.index, score: l.score })) };
        if (f.embedding !== undefined) inference.embedding = decodeEmbedding(f.embedding);
        p.results.set(f.seq, inference);
      }
      this.settleIfDone(p);
      return;
    }
    this.onFailed(p, `${entry.code}: ${entry.reason}`);
  }

  private onFailed(p: Pending, reason: string): void {
    if (p.sends <= this.opts.maxResends) {
      this.opts.logger.warn({ stream: p.stream, run: p.run, firstSeq: p.frames[0]!.seq, sends: p.sends, reason }, 'batch failed; sending it again');
      this.resend(p);
      return;
    }
    for (const f of p.frames) if (!p.results.has(f.seq)) p.lost.set(f.seq, reason);
    this.settleIfDone(p);
  }

  private resend(p: Pending): void {
    this.stats.resentBatches++;
    this.stats.resentFrames += p.frames.length;
    p.checkedAt = performance.now();
    this.send(p, false).catch((err: unknown) => {
      this.pending.delete(batchKey(p.run, p.frames[0]!.seq));
      p.reject(err);
    });
  }

  private settleIfDone(p: Pending): void {
    if (p.results.size + p.lost.size < p.frames.length) return;
    this.pending.delete(batchKey(p.run, p.frames[0]!.seq));
    this.stats.lostFrames += p.lost.size;
    const lost = new Map<number, string>();
    const frames = p.frames.map((f, i) => {
      const reason = p.lost.get(f.seq);
      if (reason !== undefined) lost.set(i, reason);
      return p.results.get(f.seq);
    });
    p.resolve(lost.size > 0 ? { frames, lost } : { frames });
  }

  /** The watchdog: batches past their timeout are looked up, one round trip each. */
  private async check(): Promise<void> {
    if (this.checking || this.closed) return;
    this.checking = true;
    try {
      const now = performance.now();
      for (const p of [...this.pending.values()]) {
        if (now - p.checkedAt < this.opts.resultTimeoutMs || p.jobId === '') continue;
        let state;
        try {
          state = await this.queue.state(p.jobId);
        } catch {
          break; // Redis away: the next tick tries again
        }
        if (!this.pending.has(batchKey(p.run, p.frames[0]!.seq))) continue;
        if (state === 'failed') {
          this.onFailed(p, 'job failed');
        } else if (state === 'unknown' || state === 'completed') {
          // Gone without a result we saw: Redis lost the queue (a restart of a
          // Redis that keeps nothing on disk) or the result entry.
          this.opts.logger.warn(
            { stream: p.stream, run: p.run, firstSeq: p.frames[0]!.seq, job: p.jobId },
            'no result and the job is gone; sending the batch again',
          );
          this.resend(p);
        } else {
          // Still queued or running: keep its frames alive meanwhile.
          p.checkedAt = performance.now();
          await this.store.touch(p.keys).catch((err: unknown) => {
            this.opts.logger.debug({ err: (err as Error).message }, 'frame TTL not extended; the next check tries again');
          });
        }
      }
    } finally {
      this.checking = false;
    }
  }

  /**
   * Idempotent. Pending batches are rejected (the pipeline has written what
   * was answered). A private reply stream is deleted (a shared one is not);
   * the connections are the caller's.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    for (const p of this.pending.values()) p.reject(new RangeError('remote inference closed'));
    this.pending.clear();
    await this.reader.close();
    if (this.opts.resultsStream === undefined)
      await this.opts.queueConnection.unlink(this.replyKey).catch((err: unknown) => {
        // It was written with MAXLEN; at worst it stays until Redis restarts.
        this.opts.logger.debug({ err: (err as Error).message, key: this.replyKey }, 'reply stream not deleted');
      });
    await this.queue.close();
  }
}

function batchKey(run: string, firstSeq: number): string {
  return `${run}\u0000${firstSeq}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
