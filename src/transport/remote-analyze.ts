import type { Frame } from '../contracts/frame.ts';
import type { BatchInferer, InferredBatch } from '../inference/batch-inferer.ts';
import type { LoadedModel } from '../inference/model-loader.ts';
import type { Logger } from '../shared/logger.ts';
import { redactUrl } from './redis-keys.ts';
import { RedisLinks, type RedisSettings } from './redis-links.ts';
import { RemoteInference } from './remote-inference.ts';

export interface RemoteAnalyzeOptions {
  redis: RedisSettings;
  model: Pick<LoadedModel, 'name' | 'preprocess'>;
  topK: number;
  embeddings: boolean;
  logger: Logger;
  /**
   * SIGINT/SIGTERM: results that come within `stopGraceMs` are still handed
   * back; after that every batch still waiting is rejected with a
   * StoppedBeforeResultError, so the run ends even when no worker answers.
   * Its frames stay queued in Redis for the workers.
   */
  signal?: AbortSignal;
  /** Default 3 s. */
  stopGraceMs?: number;
}

/** A batch given up on because the run was stopped before a worker answered. */
export class StoppedBeforeResultError extends Error {
  constructor() {
    super('stopped before a worker answered (the frames stay queued for the workers)');
    this.name = 'StoppedBeforeResultError';
  }
}

/** analyze's inference over Redis: connections (producer role) + RemoteInference; close() closes both. */
export async function openRemoteAnalyze(
  opts: RemoteAnalyzeOptions,
): Promise<BatchInferer & { close(): Promise<void>; readonly stats: RemoteInference['stats'] }> {
  const { redis } = opts;
  const links = await RedisLinks.open(redis, 'producer', 'analyze', opts.logger);
  const remote = new RemoteInference({
    queueConnection: links.queue,
    frameConnection: links.frames,
    readerConnection: links.extra('results'),
    names: links.names,
    model: { name: opts.model.name, inputWidth: opts.model.preprocess.inputWidth, inputHeight: opts.model.preprocess.inputHeight },
    topK: opts.topK,
    embeddings: opts.embeddings,
    frameTtlMs: redis.frameTtlMs,
    queueHighWaterJobs: redis.queueHighWaterJobs,
    resultTimeoutMs: redis.resultTimeoutMs,
    maxResends: redis.maxResends,
    jobAttempts: redis.jobAttempts,
    failedJobsKept: redis.failedJobsKept,
    unavailableTimeoutMs: redis.unavailableTimeoutMs,
    logger: opts.logger.child({ component: 'remote-inference' }),
  });
  opts.logger.info({ redis: redactUrl(redis.url), queue: links.names.framesQueue }, 'inference by workers over Redis');
  let closed = false;
  // On a stop, after the grace, every batch still waiting is given up on at once.
  let waitingFrames = 0;
  let gaveUp = false;
  let giveUp!: (err: Error) => void;
  const stopped = new Promise<never>((_, reject) => (giveUp = reject));
  stopped.catch(() => undefined);
  const giveUpAll = (): void => {
    if (gaveUp) return;
    gaveUp = true;
    if (waitingFrames > 0) opts.logger.warn({ frames: waitingFrames }, 'stopped: frames sent had no result yet; they stay queued for the workers');
    giveUp(new StoppedBeforeResultError());
  };
  let graceTimer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    graceTimer = setTimeout(giveUpAll, opts.stopGraceMs ?? 3000);
    graceTimer.unref();
  };
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  const infer = (frames: readonly Frame[]): Promise<InferredBatch> => {
    if (gaveUp) return Promise.reject(new StoppedBeforeResultError());
    waitingFrames += frames.length;
    // A result already in wins the race (it comes first), so nothing answered is thrown away.
    const answer = remote.infer(frames).finally(() => (waitingFrames -= frames.length));
    return Promise.race([answer, stopped]);
  };
  return {
    provider: remote.provider,
    stats: remote.stats,
    infer,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearTimeout(graceTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      giveUpAll();
      await remote.close();
      await links.close();
    },
  };
}
