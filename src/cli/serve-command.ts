import type { SearchRoute } from '../gateway/search-route.ts';
import type { ReusableImageEmbedder as ReusableImageEmbedderType } from '../indexing/image-embedder.ts';
import type { Metrics } from '../shared/metrics.ts';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../config/loader.ts';
import { checkConnectionLimits, createGatewayServer } from '../gateway/gateway-server.ts';
import { listenOn, wsGatewaySettings } from '../gateway/server-settings.ts';
import type { LivePipeline, SourceSpec } from '../pipeline/live-pipeline.ts';
import { tuningFromSettings } from '../ingest/source-watchdog.ts';
import { UsageError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import type { CommandContext } from './context.ts';
import { waitForStopSignal } from './stop-signal.ts';
import { flagsToSettings, modelOptions, nonNegativeInt, positiveInt, positiveNumber, type ModelFlags } from './options.ts';

interface ServeFlags extends ModelFlags {
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

function sourceFlag(value: string, previous: string[] = []): string[] {
  const eq = value.indexOf('=');
  if (eq <= 0 || eq === value.length - 1) throw new InvalidArgumentError(`--source must be NAME=URL, got "${value}"`);
  return [...previous, value];
}

export function serveCommand(ctx: CommandContext): Command {
  const cmd = new Command('serve')
    .description('run sources, inference, label events and the gateway (HTTP + WebSocket + dashboard) in one process, until SIGINT/SIGTERM; with --redis, inference is done by `streamsight worker`s')
    .addOption(new Option('--port <n>', 'HTTP and WebSocket port [default: 8080]').argParser(nonNegativeInt('--port')))
    .option('--host <addr>', 'address to listen on [default: 127.0.0.1]')
    .addOption(new Option('--source <name=url>', 'a source: rtsp(s)://, http(s):// (MJPEG, HLS), srt://, udp://, /dev/videoN, - (stdin) or a file; repeatable').argParser(sourceFlag).default([]))
    .addOption(new Option('--rtsp-transport <proto>', 'RTSP lower transport, forced [default: TCP, UDP when the server refuses TCP]').choices(['tcp', 'udp']))
    .option('--live', 'play files at their real frame rate, as a camera would (latest-frame semantics)')
    .option('--loop', 'restart files at their end (a new run)')
    .addOption(new Option('--fps <n>', 'frames sampled per second [default: 5 live, 1 files]').argParser(positiveNumber('--fps')))
    .addOption(new Option('--top-k <n>', 'labels kept per frame [default: 5]').argParser(positiveInt('--top-k')))
    .option('--token <token>', 'require this token from WebSocket clients and for POST/DELETE /api/streams')
    .option('--index <file>', 'an index made by `streamsight index`: served at GET /api/search and on the dashboard\'s search page')
    .option('--redis <url>', 'distributed: decode and serve here, inference by `streamsight worker`s over this Redis (also REDIS_URL)');
  for (const o of modelOptions()) cmd.addOption(o);
  cmd.addHelpText('after', `
Examples:
  streamsight serve --model resnet18 --source lobby=/srv/videos/lobby.mp4 --live --loop
  streamsight serve --model resnet18 --source door=rtsp://user:pass@10.0.0.5:554/stream1 --rtsp-transport udp
  ffmpeg -i cam.mp4 -f mpegts - | streamsight serve --source piped=-
  streamsight serve --redis redis://queue:6379 --model resnet18 --source door=rtsp://10.0.0.5/stream1   (plus: streamsight worker)
  streamsight serve --config config/site.yaml --port 9000
Then open http://127.0.0.1:8080/ (dashboard), ws://127.0.0.1:8080/ws (label feed), /metrics.`);

  return cmd.action(async (flags: ServeFlags) => {
    const settings = flagsToSettings({ ...flags, fps: undefined });
    const serverFlags = Object.fromEntries(Object.entries({ port: flags.port, host: flags.host, token: flags.token }).filter(([, v]) => v !== undefined));
    if (Object.keys(serverFlags).length > 0) settings.server = serverFlags;
    if (flags.redis !== undefined) settings.redis = { url: flags.redis };
    const config = loadConfig({ file: flags.config, flags: settings });
    // Before the model or an index is opened: a bad pair of timeouts is one line, with nothing to close.
    checkConnectionLimits(config.server);
    const logger = createLogger({ level: config.log.level, secrets: config.server.token === undefined ? [] : [config.server.token] });

    const specs: SourceSpec[] = config.sources.filter((s) => s.enabled).map((s) => ({
      id: s.id, url: s.url, fps: s.fps ?? flags.fps, live: s.live ?? (flags.live ? true : undefined), loop: s.loop ?? flags.loop,
      rtspTransport: s.rtspTransport ?? flags.rtspTransport, ...(s.watchdog ? { watchdog: tuningFromSettings(s.watchdog) } : {}),
      ...(s.model ? { model: s.model } : {}),
    }));
    for (const pair of flags.source) {
      const eq = pair.indexOf('=');
      const id = pair.slice(0, eq);
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(id)) throw new UsageError(`--source name "${id}": 1-64 letters, digits, _ . - (starting with a letter or digit)`);
      if (specs.some((s) => s.id === id)) throw new UsageError(`--source ${id}: a stream with this name is already configured`);
      specs.push({ id, url: pair.slice(eq + 1), fps: flags.fps, live: flags.live ? true : undefined, loop: flags.loop, rtspTransport: flags.rtspTransport });
    }
    if (specs.filter((s) => s.url === '-').length > 1) throw new UsageError('only one source can read standard input (-)');
    // The workers run one model (POST is refused the same way by DistributedSources).
    const otherModel = config.redis.url === undefined ? undefined : specs.find((s) => s.model?.name !== undefined && s.model.name !== config.model.name);
    if (otherModel) throw new UsageError(`source ${otherModel.id}: model.name is not supported with --redis: workers run one model (${config.model.name})`);

    // Opened first: a bad index file stops the command before anything else starts.
    // Search by picture keeps one engine (CPU, 1 thread), started by the first picture, not here.
    let searchRoute: ((metrics?: Metrics) => SearchRoute) | undefined;
    let closeIndex = async (): Promise<void> => undefined;
    if (flags.index !== undefined) {
      const [{ IndexStore }, { createSearchRoute }, { ReusableImageEmbedder }] = await Promise.all([
        import('../indexing/index-store.ts'), import('../gateway/search-route.ts'), import('../indexing/image-embedder.ts'),
      ]);
      const store = IndexStore.open(flags.index, { readonly: true });
      let embedder: ReusableImageEmbedderType | undefined;
      searchRoute = (metrics) => {
        embedder = new ReusableImageEmbedder({ cacheDir: config.models.cacheDir, metrics, maxPixels: config.decode.maxPixels });
        return createSearchRoute(store, {
          embedImage: embedder.embed, maxPixels: config.decode.maxPixels, maxImageBytes: config.search.maxImageBytes, maxPendingImages: config.search.maxPendingImages,
        });
      };
      closeIndex = async () => {
        await embedder?.close();
        store.close();
      };
    }
    const redisUrl = config.redis.url;
    if (redisUrl !== undefined) {
      await serveDistributed({ config, url: redisUrl, specs, fileFps: flags.fps, search: searchRoute?.(), logger }).finally(closeIndex);
      ctx.setExitCode(0);
      return;
    }
    // Loaded here, not at the top: other commands do not pay for the gateway's modules.
    const [{ authorizeUpgrade }, { serveDashboardAsset }, { createHttpHandler, HttpProblem }, { WsGateway }, { InferenceEngine }, { loadModel }, { Metrics }, { LivePipeline }] = await Promise.all([
      import('../gateway/auth.ts'), import('../gateway/dashboard-assets.ts'), import('../gateway/http-api.ts'), import('../gateway/ws-gateway.ts'),
      import('../inference/inference-engine.ts'), import('../inference/model-loader.ts'), import('../shared/metrics.ts'), import('../pipeline/live-pipeline.ts'),
    ]);
    const model = loadModel(config.model.name, { labelsFile: config.model.labels, cacheDir: config.models.cacheDir });
    if (model.untrained) process.stderr.write(`WARNING: model "${model.name}" is UNTRAINED (made by \`streamsight models synth\`): its labels mean nothing\n`);
    const batch = model.fixedBatch ?? config.model.batch;
    const engineOptions = { device: config.model.device, threads: config.model.threads, topK: Math.max(config.model.topK, 5), embeddings: true };
    const engine = await InferenceEngine.start(model, engineOptions);
    if (engine.fallbackReason) logger.warn({ reason: engine.fallbackReason }, 'CUDA unavailable, falling back to CPU');
    logger.info({ model: model.name, provider: engine.provider, batch }, `inference on ${engine.provider}`);
    // A stream's own model (sources[].model.name, POST model.name), started as the default one was; the pipeline closes it.
    const startModel = async (name: string): Promise<{ model: typeof model; engine: typeof engine }> => {
      // model.labels names the default model's classes, not another's.
      const other = loadModel(name, { cacheDir: config.models.cacheDir });
      if (other.untrained) process.stderr.write(`WARNING: model "${other.name}" is UNTRAINED (made by \`streamsight models synth\`): its labels mean nothing\n`);
      const otherEngine = await InferenceEngine.start(other, engineOptions);
      if (otherEngine.fallbackReason) logger.warn({ model: other.name, reason: otherEngine.fallbackReason }, 'CUDA unavailable, falling back to CPU');
      logger.info({ model: other.name, provider: otherEngine.provider, batch: other.fixedBatch ?? config.model.batch }, `inference of ${other.name} on ${otherEngine.provider}`);
      return { model: other, engine: otherEngine };
    };

    const metrics = new Metrics();
    const search = searchRoute?.(metrics);
    const server = createGatewayServer(config.server);
    const gateway = new WsGateway({
      server,
      ...wsGatewaySettings(config.server),
      maxClients: config.server.maxClients,
      listStreams: () => pipeline.listStreams(),
      logger: logger.child({ component: 'gateway' }),
      metrics,
    });
    const pipeline: LivePipeline = new LivePipeline({
      model, engine, batch: config.model.batch, modelAliases: [config.model.name], startModel,
      live: { fps: config.live.fps, fileFps: flags.fps ?? config.sampling.fps, bufferFrames: config.live.bufferFrames, batchWaitMs: config.live.batchWaitMs },
      events: config.events,
      allowlist: config.allowlist,
      watchdog: tuningFromSettings(config.watchdog),
      maxPixels: config.decode.maxPixels,
      sink: gateway,
      metrics,
      logger,
    });
    server.on('request', createHttpHandler({
      ...(search ? { search } : {}),
      backend: pipeline,
      authorize: (req) => authorizeUpgrade(req.headers, req.url, { token: config.server.token }).ok,
      serveAsset: serveDashboardAsset,
      logger: logger.child({ component: 'http' }),
    }));

    let port: number;
    try {
      port = await listenOn(server, config.server);
    } catch (err) {
      await engine.close();
      throw err;
    }
    pipeline.start();
    for (const spec of specs) {
      // A stream whose model cannot be started is left out with one line; the others run.
      await pipeline.addSource(spec).catch((err: unknown) => {
        if (!(err instanceof HttpProblem && err.code === 'model_unavailable')) throw err;
        process.stderr.write(`streamsight serve: stream "${spec.id}" not started: ${err.message}\n`);
      });
    }
    const running = pipeline.listStreams().map((s) => s.id);
    logger.info({ port, host: config.server.host, streams: running }, 'serving');
    process.stderr.write(`streamsight serve: http://${config.server.host}:${port}/ (dashboard) · ws://${config.server.host}:${port}/ws · ${running.length} stream(s)\n`);

    // Run until SIGINT/SIGTERM, then close in order: sources, inference, clients, HTTP.
    const signal = await waitForStopSignal();
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      process.stderr.write('shutdown took over 10 s; exiting\n');
      process.exit(1);
    }, 10_000);
    force.unref();
    await pipeline.close();
    await engine.close();
    await gateway.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // After HTTP: no picture search can start past this point.
    await closeIndex();
    clearTimeout(force);
    ctx.setExitCode(0);
  });
}

/** `serve --redis`: ingest + gateway here (src/transport/distributed-serve.ts), until SIGINT/SIGTERM. */
async function serveDistributed(opts: import('../transport/distributed-serve.ts').DistributedServeOptions): Promise<void> {
  const [{ openDistributedServe }, { redactUrl }] = await Promise.all([import('../transport/distributed-serve.ts'), import('../transport/redis-keys.ts')]);
  const served = await openDistributedServe(opts);
  const { host } = opts.config.server;
  process.stderr.write(`streamsight serve: http://${host}:${served.port}/ (dashboard) · ws://${host}:${served.port}/ws · ${opts.specs.length} stream(s) · inference by workers via ${redactUrl(opts.url)}\n`);
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
