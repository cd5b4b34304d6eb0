import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../config/loader.ts';
import { UsageError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import type { CommandContext } from './context.ts';
import { flagsToSettings, modelOptions, positiveNumber, type ModelFlags } from './options.ts';
import { onInterrupt } from './signals.ts';

interface IngestFlags extends ModelFlags {
  redis?: string;
  source: string[];
  live?: boolean;
  loop?: boolean;
  config?: string;
}

function sourceFlag(value: string, previous: string[] = []): string[] {
  const eq = value.indexOf('=');
  if (eq <= 0 || eq === value.length - 1) throw new InvalidArgumentError(`--source must be NAME=URL, got "${value}"`);
  return [...previous, value];
}

export function ingestCommand(ctx: CommandContext): Command {
  const cmd = new Command('ingest')
    .description('distributed: decode sources and enqueue their frames for `streamsight worker`; results go to the results stream read by `streamsight gateway`')
    .option('--redis <url>', 'the queue\'s Redis (also REDIS_URL)')
    .addOption(new Option('--source <name=url>', 'a source (file, rtsp/http URL); repeatable; also `sources:` in the config').argParser(sourceFlag).default([]))
    .option('--live', 'play files at their real frame rate, latest-frame semantics (per-stream high-water mark)')
    .option('--loop', 'restart files at their end (a new run)')
    .addOption(new Option('--fps <n>', 'frames sampled per second [default: 5 live, 1 files]').argParser(positiveNumber('--fps')));
  for (const o of modelOptions()) cmd.addOption(o);
  cmd.addHelpText('after', `
Examples:
  REDIS_URL=redis://queue:6379 streamsight ingest --model resnet50 --source cam1=rtsp://10.0.0.5/stream1
  streamsight ingest --redis redis://queue:6379 --model resnet18 --source lobby=/srv/videos/lobby.mp4 --live --loop
Live sources run until SIGINT/SIGTERM; with only files, ingest exits when they are enqueued.`);

  return cmd.action(async (flags: IngestFlags) => {
    const settings = flagsToSettings({ ...flags, fps: undefined });
    if (flags.redis !== undefined) settings.redis = { url: flags.redis };
    const config = loadConfig({ file: flags.config, flags: settings });
    const url = config.redis.url;
    if (url === undefined) throw new UsageError('ingest needs the queue\'s Redis: --redis URL or REDIS_URL');
    const sources = config.sources.filter((s) => s.enabled).map((s) => ({ id: s.id, url: s.url, fps: s.fps ?? flags.fps, live: s.live ?? flags.live, loop: s.loop ?? flags.loop }));
    for (const pair of flags.source) {
      const eq = pair.indexOf('=');
      const id = pair.slice(0, eq);
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(id)) throw new UsageError(`--source name "${id}": 1-64 letters, digits, _ . - (starting with a letter or digit)`);
      if (sources.some((s) => s.id === id)) throw new UsageError(`--source ${id}: a stream with this name is already configured`);
      sources.push({ id, url: pair.slice(eq + 1), fps: flags.fps, live: flags.live, loop: flags.loop });
    }
    if (sources.length === 0) throw new UsageError('ingest needs at least one --source NAME=URL (or sources in the config)');
    const logger = createLogger({ level: config.log.level });

    const [{ loadModel }, { RedisLinks }, { ingestStream }, { isUrl }, { Metrics }] = await Promise.all([
      import('../inference/model-loader.ts'), import('../transport/redis-links.ts'), import('../transport/stream-ingest.ts'),
      import('../ingest/ffmpeg-args.ts'), import('../shared/metrics.ts'),
    ]);
    const model = loadModel(config.model.name, { labelsFile: config.model.labels, cacheDir: config.models.cacheDir });
    const links = await RedisLinks.open({ ...config.redis, url }, 'producer', `ingest-${process.pid}`, logger);
    const metrics = new Metrics({ processMetrics: false });
    const abort = new AbortController();
    const offInterrupt = onInterrupt(() => abort.abort());
    process.stderr.write(`streamsight ingest: ${sources.length} source(s) -> ${links.names.framesQueue}\n`);
    try {
      const outcomes = await Promise.allSettled(sources.map((s) => {
        const network = isUrl(s.url) && !s.url.startsWith('file:');
        const live = s.live ?? network;
        const fps = s.fps ?? (live ? config.live.fps : config.sampling.fps);
        return ingestStream({
          id: s.id, url: s.url, sampling: { mode: 'fps', fps }, live, realtime: live && !network, loop: s.loop ?? false,
          geometry: { resizeShorter: model.preprocess.resizeShorter, cropWidth: model.preprocess.inputWidth, cropHeight: model.preprocess.inputHeight },
          model: { name: model.name, topK: config.model.topK }, batch: model.fixedBatch ?? config.model.batch,
          links, logger: logger.child({ stream: s.id }), metrics, signal: abort.signal,
        });
      }));
      for (const [i, o] of outcomes.entries()) {
        if (o.status === 'rejected') {
          const err = o.reason as Error & { toLine?: () => string; exitCode?: number };
          process.stderr.write(`${sources[i]!.id}: ${err.toLine ? err.toLine() : err.message}\n`);
          ctx.setExitCode(err.exitCode ?? 1);
        }
      }
      const dropped = (await metrics.framesDropped.get()).values.filter((v) => v.value > 0);
      for (const d of dropped) process.stderr.write(`${String(d.labels.stream)}: ${d.value} frame(s) dropped (${String(d.labels.reason)})\n`);
    } finally {
      offInterrupt();
      await links.close();
    }
  });
}
