import { Command, Option } from 'commander';
import { loadConfig } from '../config/loader.ts';
import type { Readiness } from '../gateway/health-server.ts';
import { FramesLostError, UsageError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import type { CommandContext } from './context.ts';
import { healthOptions, startHealth, type HealthFlags } from './health-options.ts';
import { flagsToSettings, liveDecodeOptions, liveDecodeSettings, modelOptions, positiveNumber, type LiveDecodeFlags, type ModelFlags } from './options.ts';
import { commandSources } from '../pipeline/source-plan.ts';
import { sourceFlag } from './source-flags.ts';
import { onInterrupt } from './signals.ts';

interface IngestFlags extends ModelFlags, HealthFlags, LiveDecodeFlags {
  redis?: string;
  source: string[];
  live?: boolean;
  loop?: boolean;
  config?: string;
}

export function ingestCommand(ctx: CommandContext): Command {
  const cmd = new Command('ingest')
    .description(
      'distributed: decode sources and enqueue their frames for `streamsight worker`; results go to the results stream read by `streamsight gateway`',
    )
    .option('--redis <url>', "the queue's Redis (also REDIS_URL)")
    .addOption(new Option('--source <name=url>', 'a source (file, rtsp/http URL); repeatable; also `sources:` in the config').argParser(sourceFlag).default([]))
    .option('--live', 'play files at their real frame rate, latest-frame semantics (per-stream high-water mark)')
    .option('--loop', 'restart files at their end (a new run)')
    .addOption(new Option('--fps <n>', 'frames sampled per second [default: 5 live, 1 files]').argParser(positiveNumber('--fps')));
  for (const o of [...liveDecodeOptions(), ...modelOptions(), ...healthOptions()]) cmd.addOption(o);
  cmd.addHelpText(
    'after',
    `
Examples:
  REDIS_URL=redis://queue:6379 streamsight ingest --model resnet50 --source cam1=rtsp://10.0.0.5/stream1
  streamsight ingest --redis redis://queue:6379 --model resnet18 --source lobby=/srv/videos/lobby.mp4 --live --loop
Live sources run until SIGINT/SIGTERM. Files: ingest waits until every frame has its result (batches
that Redis lost, after a restart of a Redis that keeps nothing, are sent again), then exits; frames
that truly got no result are named and the exit code is 13.`,
  );

  return cmd.action(async (flags: IngestFlags) => {
    const settings = liveDecodeSettings(flags, flagsToSettings({ ...flags, fps: undefined }));
    if (flags.redis !== undefined) settings.redis = { url: flags.redis };
    const config = loadConfig({ file: flags.config, flags: settings });
    const url = config.redis.url;
    if (url === undefined) throw new UsageError("ingest needs the queue's Redis: --redis URL or REDIS_URL");
    // A source's own model options do not apply here: workers run one model, and ingest publishes no labels.
    const sources = commandSources(config, flags).map(({ model: _model, ...spec }) => spec);
    if (sources.length === 0) throw new UsageError('ingest needs at least one --source NAME=URL (or sources in the config)');
    const logger = createLogger({ level: config.log.level });

    const [{ loadModel, modelLoadOptions }, { IngestSession, ingestSessionOptions }, { Metrics }] = await Promise.all([
      import('../inference/model-loader.ts'),
      import('../transport/ingest-session.ts'),
      import('../shared/metrics.ts'),
    ]);
    const model = loadModel(config.model.name, modelLoadOptions(config));
    const metrics = new Metrics({ processMetrics: flags.healthPort !== undefined });
    // /healthz: 503 until connected, then 200 while Redis is reachable.
    let readiness = (): Readiness => ({ ready: false, reasons: ['starting: connecting to Redis'] });
    const health = await startHealth('ingest', flags, { readiness: () => readiness(), metrics, server: config.server, logger });
    const session = await IngestSession.open(ingestSessionOptions(config, model, { url, name: `ingest-${process.pid}`, logger, metrics })).catch(
      async (err: unknown) => {
        await health?.close();
        throw err;
      },
    );
    readiness = () => (session.ready ? { ready: true, reasons: [] } : { ready: false, reasons: ['Redis unreachable'] });
    const abort = new AbortController();
    const offInterrupt = onInterrupt(() => abort.abort());
    process.stderr.write(`streamsight ingest: ${sources.length} source(s) -> ${session.links.names.framesQueue}\n`);
    try {
      const reports = await Promise.all(sources.map((s) => session.run(s, abort.signal)));
      for (const [i, r] of reports.entries()) {
        const id = sources[i]!.id;
        process.stderr.write(
          `${id}: ${r.state}${r.detail ? ` (${r.detail})` : ''} · ${r.frames} frame(s) decoded${r.reused > 0 ? ` · ${r.reused} reused (unchanged, not queued)` : ''}${r.unanswered > 0 ? ` · ${r.unanswered} without a result yet (left queued for the workers)` : ''}\n`,
        );
        if (r.state === 'failed') ctx.setExitCode(1);
        if (r.lost.length > 0) {
          const err = new FramesLostError(
            `${id}: ${r.lost.length} frame(s) got no result: ${r.lost
              .slice(0, 20)
              .map((l) => `seq ${l.seq} (${l.ptsMs} ms)`)
              .join(', ')}${r.lost.length > 20 ? ', ...' : ''}; last reason: ${r.lost[r.lost.length - 1]!.reason}`,
          );
          process.stderr.write(err.toLine() + '\n');
          ctx.setExitCode(err.exitCode);
        }
      }
      const { batches, frames } = session.resent;
      if (batches > 0) process.stderr.write(`${batches} batch(es) (${frames} frame(s)) sent again: Redis lost them or they failed\n`);
      const dropped = (await metrics.framesDropped.get()).values.filter((v) => v.value > 0 && v.labels.reason !== 'lost');
      for (const d of dropped) process.stderr.write(`${String(d.labels.stream)}: ${d.value} frame(s) dropped (${String(d.labels.reason)})\n`);
    } finally {
      offInterrupt();
      await session.close();
      await health?.close();
    }
  });
}
