import type { LoadedModel } from '../inference/model-loader.ts';
import type { BatchInferer, InferredBatch } from '../pipeline/analyze-pipeline.ts';
import type { Frame } from '../contracts/frame.ts';
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
}

/** analyze's inference over Redis: connections (producer role) + RemoteInference; close() closes both. */
export async function openRemoteAnalyze(opts: RemoteAnalyzeOptions): Promise<BatchInferer & { close(): Promise<void>; readonly stats: RemoteInference['stats'] }> {
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
  return {
    provider: remote.provider,
    stats: remote.stats,
    infer: (frames: readonly Frame[]): Promise<InferredBatch> => remote.infer(frames),
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await remote.close();
      await links.close();
    },
  };
}
