import { Command, Option } from 'commander';
import { loadConfig } from '../config/loader.ts';
import { checkConnectionLimits } from '../gateway/gateway-server.ts';
import { assembleServer, openSearch } from '../library/server.ts';
import { UsageError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import type { CommandContext } from './context.ts';
import { commandSources } from '../pipeline/source-plan.ts';
import { sourceFlag } from './source-flags.ts';
import { waitForStopSignal } from './stop-signal.ts';
import {
  flagsToSettings,
  liveDecodeOptions,
  liveDecodeSettings,
  modelOptions,
  nonNegativeInt,
  positiveInt,
  positiveNumber,
  type LiveDecodeFlags,
  type ModelFlags,
} from './options.ts';

interface ServeFlags extends ModelFlags, LiveDecodeFlags {
  port?: number;
  host?: string;
  source: string[];
  live?: boolean;
  loop?: boolean;
  token?: string;
  index?: string;
  config?: string;
  rtspTransport?: 'tcp' | 'udp';
  redis?: string;
}

export function serveCommand(ctx: CommandContext): Command {
  const cmd = new Command('serve')
    .description(
      'run sources, inference, label events and the gateway (HTTP + WebSocket + dashboard) in one process, until SIGINT/SIGTERM; with --redis, inference is done by `streamsight worker`s',
    )
    .addOption(new Option('--port <n>', 'HTTP and WebSocket port [default: 8080]').argParser(nonNegativeInt('--port')))
    .option('--host <addr>', 'address to listen on [default: 127.0.0.1]')
    .addOption(
      new Option('--source <name=url>', 'a source: rtsp(s)://, http(s):// (MJPEG, HLS), srt://, udp://, /dev/videoN, - (stdin) or a file; repeatable')
        .argParser(sourceFlag)
        .default([]),
    )
    .addOption(new Option('--rtsp-transport <proto>', 'RTSP lower transport, forced [default: TCP, UDP when the server refuses TCP]').choices(['tcp', 'udp']))
    .option('--live', 'play files at their real frame rate, as a camera would (latest-frame semantics)')
    .option('--loop', 'restart files at their end (a new run)')
    .addOption(new Option('--fps <n>', 'frames sampled per second [default: 5 live, 1 files]').argParser(positiveNumber('--fps')))
    .addOption(new Option('--top-k <n>', 'labels kept per frame [default: 5]').argParser(positiveInt('--top-k')))
    .option('--token <token>', 'require this token from WebSocket clients and for POST/DELETE /api/streams')
    .option('--index <file>', "an index made by `streamsight index`: served at GET /api/search and on the dashboard's search page")
    .option('--redis <url>', 'distributed: decode and serve here, inference by `streamsight worker`s over this Redis (also REDIS_URL)');
  for (const o of [...liveDecodeOptions(), ...modelOptions()]) cmd.addOption(o);
  cmd.addHelpText(
    'after',
    `
Examples:
  streamsight serve --model resnet18 --source lobby=/srv/videos/lobby.mp4 --live --loop
  streamsight serve --model resnet18 --source door=rtsp://user:pass@10.0.0.5:554/stream1 --rtsp-transport udp
  ffmpeg -i cam.mp4 -f mpegts - | streamsight serve --source piped=-
  streamsight serve --redis redis://queue:6379 --model resnet18 --source door=rtsp://10.0.0.5/stream1   (plus: streamsight worker)
  streamsight serve --skip-unchanged --model resnet18 --source yard=rtsp://10.0.0.6/stream1 --source hall=rtsp://10.0.0.7/stream1
  streamsight serve --config config/site.yaml --port 9000
Then open http://127.0.0.1:8080/ (dashboard), ws://127.0.0.1:8080/ws (label feed), /metrics.`,
  );

  return cmd.action(async (flags: ServeFlags) => {
    const settings = liveDecodeSettings(flags, flagsToSettings({ ...flags, fps: undefined }));
    const serverFlags = Object.fromEntries(Object.entries({ port: flags.port, host: flags.host, token: flags.token }).filter(([, v]) => v !== undefined));
    if (Object.keys(serverFlags).length > 0) settings.server = serverFlags;
    if (flags.redis !== undefined) settings.redis = { url: flags.redis };
    const config = loadConfig({ file: flags.config, flags: settings });
    // Before the model or an index is opened: a bad pair of timeouts is one line, with nothing to close.
    checkConnectionLimits(config.server);
    const logger = createLogger({ level: config.log.level, secrets: config.server.token === undefined ? [] : [config.server.token] });

    const specs = commandSources(config, flags);
    // The workers run one model (POST is refused the same way by DistributedSources).
    const otherModel = config.redis.url === undefined ? undefined : specs.find((s) => s.model?.name !== undefined && s.model.name !== config.model.name);
    if (otherModel) throw new UsageError(`source ${otherModel.id}: model.name is not supported with --redis: workers run one model (${config.model.name})`);

    const redisUrl = config.redis.url;
    if (redisUrl !== undefined) {
      // Opened first: a bad index file stops the command before anything else starts.
      const search = flags.index === undefined ? undefined : await openSearch(flags.index, config);
      await serveDistributed({ config, url: redisUrl, specs, fileFps: flags.fps, search: search?.route(), logger }).finally(() => search?.close());
      ctx.setExitCode(0);
      return;
    }
    const server = assembleServer(config, {
      sources: specs,
      fileFps: flags.fps,
      index: flags.index,
      logger,
      notice: (line) => process.stderr.write(`streamsight serve: ${line}\n`),
    });
    const { port } = await server.listen();
    const running = server.streams().map((s) => s.id);
    process.stderr.write(
      `streamsight serve: http://${config.server.host}:${port}/ (dashboard) · ws://${config.server.host}:${port}/ws · ${running.length} stream(s)\n`,
    );

    // Run until SIGINT/SIGTERM, then close in order: sources, inference, clients, HTTP, index.
    const signal = await waitForStopSignal();
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      process.stderr.write('shutdown took over 10 s; exiting\n');
      process.exit(1);
    }, 10_000);
    force.unref();
    await server.close();
    clearTimeout(force);
    ctx.setExitCode(0);
  });
}

/** `serve --redis`: ingest + gateway here (src/transport/distributed-serve.ts), until SIGINT/SIGTERM. */
async function serveDistributed(opts: import('../transport/distributed-serve.ts').DistributedServeOptions): Promise<void> {
  const [{ openDistributedServe }, { redactUrl }] = await Promise.all([import('../transport/distributed-serve.ts'), import('../transport/redis-keys.ts')]);
  const served = await openDistributedServe(opts);
  const { host } = opts.config.server;
  process.stderr.write(
    `streamsight serve: http://${host}:${served.port}/ (dashboard) · ws://${host}:${served.port}/ws · ${opts.specs.length} stream(s) · inference by workers via ${redactUrl(opts.url)}\n`,
  );
  const signal = await waitForStopSignal();
  opts.logger.info({ signal }, 'shutting down');
  const force = setTimeout(() => {
    process.stderr.write('shutdown took over 10 s; exiting\n');
    process.exit(1);
  }, 10_000);
  force.unref();
  await served.close();
  clearTimeout(force);
}
