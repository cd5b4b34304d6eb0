import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Frame } from '../contracts/frame.ts';
import { encodeEmbedding, FrameJobSchema, type FrameJob, type ResultEntry } from '../contracts/transport.ts';
import type { InferenceEngine } from '../inference/inference-engine.ts';
import type { LoadedModel } from '../inference/model-loader.ts';
import { BadJobError, isStreamSightError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { CrossJobBatcher } from './cross-job-batcher.ts';
import { FrameStore } from './frame-store.ts';
import type { RedisNames } from './redis-keys.ts';
import { ResultPublisher } from './result-stream.ts';

export interface InferenceWorkerOptions {
  /** Worker-role connections (maxRetriesPerRequest null): the queue's Redis and the frame store's. */
  queueConnection: Redis;
  frameConnection: Redis;
  names: RedisNames;
  model: LoadedModel;
  engine: Pick<InferenceEngine, 'infer' | 'provider'>;
  /** Frames per inference call. */
  batch: number;
  /** A batch closes when full or when its first frame waited this long, ms. */
  batchWaitMs: number;
  /** Jobs held at once; batches are made across them. */
  concurrency: number;
  /** Labels computed per frame; a job asking for more gets these. */
  topK: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  resultsMaxLen: number;
  frameTtlMs: number;
  logger: Logger;
  metrics?: Metrics;
}

/**
 * `streamsight worker`: takes jobs from the inference queue, fetches their
 * frames from the frame store, infers them in batches made across jobs (in
 * the engine's worker thread, so this event loop keeps renewing locks and
 * talking to Redis during a batch), appends each job's result to the results
 * stream the job names, then deletes its frames.
 *
 * Failures: bad data (schema, model, size, frames gone) throws
 * UnrecoverableError: one attempt, no retry storm. Other errors retry with
 * backoff up to the job's attempts. A job that fails for good announces its
 * frames as a `failed` entry, so the producer learns at once instead of
 * waiting for its timeout.
 */
export class InferenceWorker {
  private readonly worker: Worker<FrameJob>;
  private readonly store: FrameStore;
  private readonly publisher: ResultPublisher;
  private readonly batcher: CrossJobBatcher;
  private closing: Promise<void> | undefined;
  private warnedTopK = false;
  /** Jobs completed and failed since start. */
  readonly counts = { completed: 0, failed: 0, frames: 0 };

  constructor(private readonly opts: InferenceWorkerOptions) {
    this.store = new FrameStore(opts.frameConnection, opts.names, opts.frameTtlMs);
    this.publisher = new ResultPublisher(opts.queueConnection, opts.resultsMaxLen);
    // Two batches at the engine: one runs while the next one fills.
    this.batcher = new CrossJobBatcher({ runner: opts.engine, batch: opts.batch, maxWaitMs: opts.batchWaitMs, maxInFlight: 2 });
    this.worker = new Worker<FrameJob>(opts.names.framesQueue, (job) => this.process(job), {
      connection: opts.queueConnection,
      prefix: opts.names.prefix,
      concurrency: opts.concurrency,
      lockDuration: opts.lockDurationMs,
      stalledInterval: opts.stalledIntervalMs,
      // A job whose worker died twice is more likely the cause than the victim.
      maxStalledCount: 2,
      autorun: false,
    });
    this.worker.on('error', (err) => opts.logger.debug({ err: err.message }, 'worker connection error'));
    this.worker.on('failed', (job, err) => {
      this.counts.failed++;
      opts.logger.warn({ job: job?.id, stream: job?.data.stream, attempts: job?.attemptsMade, code: codeOf(err) }, `job failed: ${err.message}`);
    });
  }

  /** Starts taking jobs; resolves once connected. */
  async start(): Promise<void> {
    void this.worker.run().catch((err: unknown) => this.opts.logger.error({ err }, 'worker stopped'));
    await this.worker.waitUntilReady();
  }

  private async process(job: Job<FrameJob>): Promise<void> {
    const log = this.opts.logger.child({ job: job.id });
    let data: FrameJob | undefined;
    try {
      data = parseJob(job.data);
      this.check(data);
      const frames = await this.fetchFrames(data);
      const started = performance.now();
      const inferred = await this.batcher.infer(frames);
      this.opts.metrics?.inferenceSeconds.observe((performance.now() - started) / 1000);
      const now = Date.now();
      const entry: ResultEntry = {
        kind: 'frames',
        stream: data.stream,
        run: data.run,
        model: this.opts.model.name,
        ...(this.opts.model.untrained ? { untrained: true } : {}),
        frames: frames.map((f, i) => {
          const r = inferred[i]!;
          return {
            seq: f.seq,
            ptsMs: f.ptsMs,
            capturedAt: f.capturedAt,
            latencyMs: now - f.capturedAt,
            labels: r.top.slice(0, data!.topK).map((c) => ({ index: c.index, label: this.opts.model.labels[c.index] ?? `class_${c.index}`, score: c.score })),
            ...(data!.embeddings && r.embedding ? { embedding: encodeEmbedding(r.embedding) } : {}),
          };
        }),
      };
      await this.publisher.publish(data.results, entry);
      // The result is out; the pixels are not needed any more (their TTL would free them later).
      await this.store.delete(data.frames.map((f) => f.key));
      this.counts.completed++;
      this.counts.frames += frames.length;
      this.opts.metrics?.framesProcessed.inc({ stream: data.stream }, frames.length);
    } catch (err) {
      const bad = err instanceof BadJobError;
      const final = bad || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (final && data) await this.announceFailure(data, err, log);
      if (bad) throw new UnrecoverableError(`${err.code}: ${err.message}`);
      throw err;
    }
  }

  /** A job for another model or frame size can never succeed here: BadJobError (not retried). */
  private check(data: FrameJob): void {
    const { name, preprocess } = this.opts.model;
    if (data.model !== name) throw new BadJobError(`job is for model "${data.model}", this worker runs "${name}"`);
    if (data.width !== preprocess.inputWidth || data.height !== preprocess.inputHeight) {
      throw new BadJobError(`job frames are ${data.width}x${data.height}, model ${name} takes ${preprocess.inputWidth}x${preprocess.inputHeight}`);
    }
    if (data.topK > this.opts.topK && !this.warnedTopK) {
      this.warnedTopK = true;
      this.opts.logger.warn(
        { asked: data.topK, computed: this.opts.topK },
        'jobs ask for more labels than this worker computes (raise --top-k on the workers)',
      );
    }
  }

  private async fetchFrames(data: FrameJob): Promise<Frame[]> {
    const buffers = await this.store.get(data.frames.map((f) => f.key));
    const bytes = data.width * data.height * 3;
    const missing = data.frames.filter((_, i) => buffers[i] === null).map((f) => f.seq);
    if (missing.length > 0) throw new BadJobError(`frames expired or missing from the frame store: seq ${missing.join(', ')}`);
    return data.frames.map((ref, i) => {
      const buf = buffers[i]!;
      if (buf.length !== bytes) throw new BadJobError(`frame ${ref.seq}: ${buf.length} bytes, expected ${bytes} (${data.width}x${data.height} rgb24)`);
      return {
        streamId: data.stream,
        runId: data.run,
        seq: ref.seq,
        ptsMs: ref.ptsMs,
        capturedAt: ref.capturedAt,
        width: data.width,
        height: data.height,
        data: buf,
      };
    });
  }

  private async announceFailure(data: FrameJob, err: unknown, log: Logger): Promise<void> {
    const entry: ResultEntry = {
      kind: 'failed',
      stream: data.stream,
      run: data.run,
      seqs: data.frames.map((f) => f.seq),
      code: codeOf(err),
      reason: err instanceof Error ? err.message : String(err),
    };
    try {
      await this.publisher.publish(data.results, entry);
    } catch (e) {
      // The producer still finds the job failed when its result times out.
      log.warn({ err: (e as Error).message }, 'could not announce a failed job');
    }
  }

  /**
   * Idempotent. Stops taking jobs, lets the active ones finish (their batches
   * are in the engine), then returns. The caller closes the engine and the
   * connections after this.
   *
   * With Redis unreachable, BullMQ's graceful close waits for Redis to come
   * back (its job fetch is queued on a connection that never gives up), so a
   * stop during an outage hung: the worker stops at once instead. Nothing is
   * lost: no active job could publish its result or complete without Redis;
   * its lock lapses and another worker takes it, or, after a restart that
   * lost the queue, its producer sends the batch again.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const away = this.opts.queueConnection.status !== 'ready' || this.opts.frameConnection.status !== 'ready';
    if (away) this.opts.logger.warn('Redis unreachable: stopping without waiting for it (jobs held here go back to the queue when their lock expires)');
    this.closing = this.worker.close(away);
    return this.closing;
  }
}

/** Job data that does not match the schema can never succeed: BadJobError (not retried). */
function parseJob(raw: unknown): FrameJob {
  const parsed = FrameJobSchema.safeParse(raw);
  if (!parsed.success) throw new BadJobError(`job data does not match the schema: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

function codeOf(err: unknown): string {
  if (isStreamSightError(err)) return err.code;
  if (err instanceof UnrecoverableError) return err.message.split(':')[0] ?? 'E_BAD_JOB';
  return 'E_INFERENCE';
}
