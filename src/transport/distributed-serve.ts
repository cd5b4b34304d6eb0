import type { Config } from '../config/schema.ts';
import type { SearchRoute } from '../gateway/search-route.ts';
import { loadModel, modelLoadOptions } from '../inference/model-loader.ts';
import type { SourceSpec } from '../pipeline/source-plan.ts';
import type { Logger } from '../shared/logger.ts';
import { Metrics } from '../shared/metrics.ts';
import { IngestSession, ingestSessionOptions } from './ingest-session.ts';
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
  const model = loadModel(config.model.name, modelLoadOptions(config));
  if (model.untrained) process.stderr.write(`WARNING: model "${model.name}" is UNTRAINED (made by \`streamsight models synth\`): its labels mean nothing\n`);
  const metrics = new Metrics();
  const sessionOptions = ingestSessionOptions(config, model, { url: opts.url, name: `serve-${process.pid}`, fileFps: opts.fileFps, logger, metrics });
  const plan = sessionOptions.defaults;
  const session = await IngestSession.open(sessionOptions);
  let gateway;
  try {
    gateway = await openResultGateway({
      server: config.server,
      events: config.events,
      links: session.links,
      search: opts.search,
      logger,
      metrics,
      ingest: { session, model, allowlist: config.allowlist, plan },
    });
    for (const spec of opts.specs) await gateway.registry.addSource(spec);
  } catch (err) {
    await gateway?.close();
    await session.close();
    throw err;
  }
  logger.info(
    { port: gateway.port, redis: redactUrl(opts.url), queue: session.links.names.framesQueue, streams: opts.specs.map((s) => s.id) },
    'serving (distributed)',
  );
  const opened = gateway;
  let closing: Promise<void> | undefined;
  return {
    port: opened.port,
    close(): Promise<void> {
      closing ??= (async () => {
        await opened.close();
        await session.close();
      })();
      return closing;
    },
  };
}
