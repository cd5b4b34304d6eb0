import { Command, Option } from 'commander';
import { loadConfig } from '../config/loader.ts';
import { UsageError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import type { Readiness } from '../gateway/health-server.ts';
import type { RedisLinks as Links } from '../transport/redis-links.ts';
import type { CommandContext } from './context.ts';
import { healthOptions, startHealth, type HealthFlags } from './health-options.ts';
import { flagsToSettings, modelOptions, positiveInt, type ModelFlags } from './options.ts';
import { waitForStopSignal } from './stop-signal.ts';

interface WorkerFlags extends ModelFlags, HealthFlags {
  redis?: string;
  concurrency?: number;
  config?: string;
}

export function workerCommand(ctx: CommandContext): Command {
  const cmd = new Command('worker')
    .description('distributed inference: take frame batches from the Redis queue, infer them, publish results; until SIGINT/SIGTERM')
    .option('--redis <url>', "the queue's Redis (also REDIS_URL)")
    .addOption(new Option('--concurrency <n>', 'jobs held at once; batches are made across them [default: 4]').argParser(positiveInt('--concurrency')))
    .addOption(new Option('--top-k <n>', 'labels computed per frame [default: 5]').argParser(positiveInt('--top-k')));
  for (const o of [...modelOptions(), ...healthOptions()]) cmd.addOption(o);
  cmd.addHelpText(
    'after',
    `
Run any number of workers, on any number of machines, with the model the producers use:
  REDIS_URL=redis://queue-host:6379 streamsight worker --model resnet50 --threads 4
  streamsight worker --model resnet50 --health-port 8080 --health-host 0.0.0.0   # /healthz, /metrics
  docker-compose up --scale worker=3`,
  );

  return cmd.action(async (flags: WorkerFlags) => {
    const settings = flagsToSettings(flags);
    const redisFlags = Object.fromEntries(Object.entries({ url: flags.redis, workerConcurrency: flags.concurrency }).filter(([, v]) => v !== undefined));
    if (Object.keys(redisFlags).length > 0) settings.redis = redisFlags;
    const config = loadConfig({ file: flags.config, flags: settings });
    const url = config.redis.url;
    if (url === undefined) throw new UsageError("worker needs the queue's Redis: --redis URL or REDIS_URL");
    const logger = createLogger({ level: config.log.level });

    const [{ InferenceEngine }, { loadModel, modelLoadOptions }, { RedisLinks }, { InferenceWorker }, { redactUrl }, { Metrics }] = await Promise.all([
      import('../inference/inference-engine.ts'),
      import('../inference/model-loader.ts'),
      import('../transport/redis-links.ts'),
      import('../transport/inference-worker.ts'),
      import('../transport/redis-keys.ts'),
      import('../shared/metrics.ts'),
    ]);
    // What /healthz says: 200 only while jobs can be taken (Redis reachable).
    let phase = 'starting: loading the model';
    let links: Links | undefined;
    const readiness = (): Readiness => {
      if (phase !== 'running') return { ready: false, reasons: [phase] };
      return links?.ready ? { ready: true, reasons: [] } : { ready: false, reasons: ['Redis unreachable'] };
    };
    const metrics = new Metrics({ processMetrics: flags.healthPort !== undefined });
    const health = await startHealth('worker', flags, { readiness, metrics, server: config.server, logger });
    try {
      const model = loadModel(config.model.name, modelLoadOptions(config));
      if (model.untrained)
        process.stderr.write(`WARNING: model "${model.name}" is UNTRAINED (made by \`streamsight models synth\`): its labels mean nothing\n`);
      const topK = Math.max(config.model.topK, 5);
      const engine = await InferenceEngine.start(model, { device: config.model.device, threads: config.model.threads, topK, embeddings: true });
      if (engine.fallbackReason) logger.warn({ reason: engine.fallbackReason }, 'CUDA unavailable, falling back to CPU');
      metrics.executionProvider.set({ provider: engine.provider, model: model.name }, 1);
      const batch = model.fixedBatch ?? config.model.batch;
      phase = 'starting: waiting for Redis';
      try {
        links = await RedisLinks.open({ ...config.redis, url }, 'worker', `worker-${process.pid}`, logger);
      } catch (err) {
        await engine.close();
        throw err;
      }
      const worker = new InferenceWorker({
        queueConnection: links.queue,
        frameConnection: links.frames,
        names: links.names,
        model,
        engine,
        batch,
        topK,
        batchWaitMs: config.redis.batchWaitMs,
        concurrency: config.redis.workerConcurrency,
        lockDurationMs: config.redis.lockDurationMs,
        stalledIntervalMs: config.redis.stalledIntervalMs,
        resultsMaxLen: config.redis.resultsMaxLen,
        frameTtlMs: config.redis.frameTtlMs,
        logger: logger.child({ component: 'worker' }),
        metrics,
      });
      await worker.start();
      phase = 'running';
      logger.info({ model: model.name, provider: engine.provider, batch, redis: redactUrl(url), queue: links.names.framesQueue }, 'worker ready');
      process.stderr.write(`streamsight worker: ready · model ${model.name} · ${engine.provider} · batch ${batch} · ${redactUrl(url)}\n`);

      const signal = await waitForStopSignal();
      phase = 'stopping';
      logger.info({ signal, completed: worker.counts.completed, failed: worker.counts.failed }, 'worker stopping');
      const force = setTimeout(() => {
        process.stderr.write('worker shutdown took over 30 s; exiting\n');
        process.exit(1);
      }, 30_000);
      force.unref();
      // Reverse order of opening: stop taking jobs (active ones finish), then inference, then Redis.
      await worker.close();
      await engine.close();
      await links.close();
      clearTimeout(force);
      process.stderr.write(`streamsight worker: stopped (${worker.counts.completed} jobs, ${worker.counts.frames} frames)\n`);
    } finally {
      // Opened first, closed last: a health check sees 503 "stopping" until the end.
      await health?.close();
    }
    ctx.setExitCode(0);
  });
}
