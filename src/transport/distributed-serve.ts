import type { Config } from '../config/schema.ts';
import type { SearchRoute } from '../gateway/search-route.ts';
import { loadModel } from '../inference/model-loader.ts';
import { tuningFromSettings } from '../ingest/source-watchdog.ts';
import type { SourceSpec } from '../pipeline/live-pipeline.ts';
import type { Logger } from '../shared/logger.ts';
import { Metrics } from '../shared/metrics.ts';
import { DistributedSources } from './distributed-sources.ts';
import { IngestSession } from './ingest-session.ts';
import { redactUrl } from './redis-keys.ts';
import { openResultGateway } from './result-gateway.ts';

export interface DistributedServeOptions {
  config: Config;
  /** The Redis URL (config `redis.url`, `--redis`, REDIS_URL). */
  url: string;
  /** Sources from the config and `--source`: started at once. */
  specs: readonly SourceSpec[];
  /** Flag `--fps`: the sampling rate of files (over config `sampling.fps`). */
  fileFps?: number | undefined;
  search?: SearchRoute | undefined;
  logger: Logger;
}

export interface DistributedServe {
  port: number;
  /** Idempotent: sources (ffmpeg reaped), the gateway (clients, HTTP), then Redis. */
  close(): Promise<void>;
}

/**
 * `serve --redis`: ingest + gateway in one process; inference is done by
 * `streamsight worker`s. The sources are decoded here and their frames
 * enqueued; the results of every ingest come back over the shared results
 * stream to this gateway's WebSocket clients and HTTP API.
 */
export async function openDistributedServe(opts: DistributedServeOptions): Promise<DistributedServe> {
  const { config, logger } = opts;
  const model = loadModel(config.model.name, { labelsFile: config.model.labels, cacheDir: config.models.cacheDir });
  if (model.untrained) process.stderr.write(`WARNING: model "${model.name}" is UNTRAINED (made by \`streamsight models synth\`): its labels mean nothing\n`);
  const metrics = new Metrics();
  const p = model.preprocess;
  const session = await IngestSession.open({
    redis: { ...config.redis, url: opts.url }, name: `serve-${process.pid}`,
    model: { name: model.name, topK: Math.max(config.model.topK, 5), geometry: { resizeShorter: p.resizeShorter, cropWidth: p.inputWidth, cropHeight: p.inputHeight }, inputWidth: p.inputWidth, inputHeight: p.inputHeight },
    batch: model.fixedBatch ?? config.model.batch,
    defaults: { liveFps: config.live.fps, fileFps: opts.fileFps ?? config.sampling.fps, watchdog: tuningFromSettings(config.watchdog), allowedHosts: config.allowlist?.hosts, maxPixels: config.decode.maxPixels },
    logger, metrics,
  });
  let sources: DistributedSources | undefined;
  let gateway;
  try {
    gateway = await openResultGateway({
      server: config.server, events: config.events, links: session.links, search: opts.search, logger, metrics,
      ignore: (stream) => sources?.isRemoved(stream) ?? false,
      labelOptions: (stream) => sources?.labelOptionsOf(stream),
      backend: (feed) => (sources = new DistributedSources({ session, feed, allowlist: config.allowlist, model, logger, metrics })),
    });
  } catch (err) {
    await session.close();
    throw err;
  }
  const backend = sources!;
  for (const spec of opts.specs) backend.addSource(spec);
  logger.info({ port: gateway.port, redis: redactUrl(opts.url), queue: session.links.names.framesQueue, streams: opts.specs.map((s) => s.id) }, 'serving (distributed)');
  let closing: Promise<void> | undefined;
  return {
    port: gateway.port,
    close(): Promise<void> {
      closing ??= (async () => {
        await backend.close();
        await gateway.close();
        await session.close();
      })();
      return closing;
    },
  };
}
