/**
 * Where `analyze` and `index` send frames to be inferred: the in-process
 * InferenceEngine (a worker thread), or with `--redis` the workers behind
 * openRemoteAnalyze. One recipe for both commands; the start is returned at
 * once (a promise) so the first batch decodes while the session starts.
 */
import type { Config } from '../config/schema.ts';
import type { BatchInferer } from '../inference/batch-inferer.ts';
import { InferenceEngine } from '../inference/inference-engine.ts';
import type { LoadedModel } from '../inference/model-loader.ts';
import type { Logger } from '../shared/logger.ts';

export type ClosableInferer = BatchInferer & { close(): Promise<void> };

export function startInferer(
  config: Readonly<Config>,
  model: LoadedModel,
  opts: { embeddings: boolean; batch: number; logger: Logger; signal: AbortSignal },
): Promise<ClosableInferer> {
  const { logger } = opts;
  const redisUrl = config.redis.url;
  const starting: Promise<ClosableInferer> =
    redisUrl !== undefined
      ? import('../transport/remote-analyze.ts').then(({ openRemoteAnalyze }) =>
          openRemoteAnalyze({
            redis: { ...config.redis, url: redisUrl },
            model,
            topK: config.model.topK,
            embeddings: opts.embeddings,
            logger,
            signal: opts.signal,
          }),
        )
      : InferenceEngine.start(model, { device: config.model.device, threads: config.model.threads, topK: config.model.topK, embeddings: opts.embeddings }).then(
          (engine) => {
            if (engine.fallbackReason) logger.warn({ reason: engine.fallbackReason }, 'CUDA unavailable, falling back to CPU');
            const { labelsSource: labels, preprocess, untrained } = model;
            logger.info(
              { model: model.name, provider: engine.provider, batch: opts.batch, labels, preprocess: preprocess.source, untrained },
              `inference on ${engine.provider}`,
            );
            return engine;
          },
        );
  // Observed by the pipeline; this keeps a failed start from being reported as unhandled first.
  starting.catch(() => undefined);
  return starting;
}
