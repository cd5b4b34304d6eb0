/**
 * `serve` in one process, as an object: sources, inference, label events,
 * the WebSocket feed, the HTTP API, metrics and the dashboard. The
 * `streamsight serve` command is this plus flags and signals; a Node
 * program gets the same server with `createServer()` and the pipeline's
 * events on `server.events`:
 *
 *   const server = createServer({ settings: { model: { name: 'resnet18' }, server: { port: 0 } } });
 *   server.events.on('event', (e) => console.log(e.stream, e.label, e.type));
 *   const { port } = await server.listen();
 *   await server.addSource({ id: 'lobby', url: '/srv/videos/lobby.mp4', live: true, loop: true });
 *   ...
 *   await server.close();
 */
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { loadConfig } from '../config/loader.ts';
import type { Config, ConfigInput } from '../config/schema.ts';
import type { FrameResult, LabelEvent, StreamInfo, StreamStatus } from '../contracts/results.ts';
import { checkConnectionLimits } from '../gateway/gateway-server.ts';
import { LiveGateway } from '../gateway/live-gateway.ts';
import type { SearchRoute } from '../gateway/search-route.ts';
import { tuningFromSettings } from '../ingest/source-watchdog.ts';
import { InferenceEngine } from '../inference/inference-engine.ts';
import { loadModel, type LoadedModel, modelLoadOptions } from '../inference/model-loader.ts';
import type { ModelRequest } from '../pipeline/model-engines.ts';
import { LivePipeline } from '../pipeline/live-pipeline.ts';
import type { ResultSink } from '../pipeline/live-result-publisher.ts';
import { configuredSources, type SourceSpec } from '../pipeline/source-plan.ts';
import { labelsComputed } from '../pipeline/stream-model-options.ts';
import { ModelUnavailableError, NotListeningError } from '../shared/errors.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { Metrics } from '../shared/metrics.ts';

export type { SourceSpec } from '../pipeline/source-plan.ts';

/** What the pipeline publishes, as `server.events` emits it. */
export interface ServerEvents {
  /** Every inferred frame of every stream. */
  frame: [FrameResult];
  /** A label started or ended on a stream (hysteresis of the config's `events`). */
  event: [LabelEvent];
  /** A stream changed state (starting, live, reconnecting, ended, failed). */
  status: [StreamStatus];
}

export interface ServerOptions {
  /** A YAML config file, as `serve --config`; default the package's config/default.yaml. */
  config?: string | undefined;
  /**
   * Settings in the config file's shape, over the file's (`model`, `server`,
   * `sources`, `allowlist`, `watchdog`, `live`, `events`, `decode`,
   * `search`, ...). The environment is not read.
   */
  settings?: ConfigInput | undefined;
  /** An index made by `streamsight index`: GET/POST /api/search and the dashboard's search page. */
  index?: string | undefined;
  /** Diagnostics (pino); default: the config's `log.level` on stderr. */
  logger?: Logger | undefined;
}

/** Internal options of the assembly: what `streamsight serve` adds to the library's. */
export interface ServerAssemblyOptions {
  /** Sources started by listen(), in order; default the config's enabled `sources`. */
  sources?: readonly SourceSpec[] | undefined;
  /** Sampling rate of file sources (serve --fps); default the config's `sampling.fps`. */
  fileFps?: number | undefined;
  index?: string | undefined;
  logger: Logger;
  /** One line for a person (an untrained model, a source left out); default the logger. */
  notice?: ((line: string) => void) | undefined;
  /** What a `-` source reads; default process.stdin. */
  stdin?: Readable | undefined;
}

export interface StreamSightServer {
  /** The pipeline's frames, label events and stream states. */
  readonly events: EventEmitter<ServerEvents>;
  /** The configuration in force (validated, frozen). */
  readonly config: Readonly<Config>;
  /**
   * Loads the model, starts inference, listens (`server.host`:`server.port`;
   * port 0 picks a free one) and starts the configured sources. A source
   * whose model cannot be loaded is left out (a notice); any other failure
   * closes what was opened and rejects.
   */
  listen(): Promise<{ host: string; port: number }>;
  /** Adds a source as the config's `sources[]` (trusted: no allowlist check). */
  addSource(spec: SourceSpec): Promise<StreamInfo>;
  /** Stops and removes a stream; false when there is none by that id. */
  removeSource(id: string): Promise<boolean>;
  streams(): StreamInfo[];
  /** Idempotent: sources, inference, clients, HTTP, then the index, in that order. */
  close(): Promise<void>;
}

/** Opens the index of `--index` and the search route over it (one picture engine, started by the first picture). */
export async function openSearch(
  indexFile: string,
  config: Readonly<Config>,
): Promise<{ route: (metrics?: Metrics) => SearchRoute; close: () => Promise<void> }> {
  const [{ IndexStore }, { createSearchRoute }, { ReusableImageEmbedder }] = await Promise.all([
    import('../indexing/index-store.ts'),
    import('../gateway/search-route.ts'),
    import('../indexing/image-embedder.ts'),
  ]);
  const store = IndexStore.open(indexFile, { readonly: true });
  let embedder: InstanceType<typeof ReusableImageEmbedder> | undefined;
  return {
    route: (metrics) => {
      embedder = new ReusableImageEmbedder({
        cacheDir: config.models.cacheDir,
        metrics,
        maxPixels: config.decode.maxPixels,
        maxBytes: config.search.maxImageBytes,
      });
      return createSearchRoute(store, {
        embedImage: embedder.embed,
        maxPixels: config.decode.maxPixels,
        maxImageBytes: config.search.maxImageBytes,
        maxPendingImages: config.search.maxPendingImages,
      });
    },
    close: async () => {
      await embedder?.close();
      store.close();
    },
  };
}

/** serve in process, embedded inference (no Redis). */
export function createServer(options: ServerOptions = {}): StreamSightServer {
  const config = loadConfig({ file: options.config, env: {}, flags: (options.settings ?? {}) as Record<string, unknown> });
  const logger = options.logger ?? createLogger({ level: config.log.level, secrets: config.server.token === undefined ? [] : [config.server.token] });
  return assembleServer(config, { index: options.index, logger });
}

/** The one assembly of embedded serve, for createServer() and `streamsight serve`. */
export function assembleServer(config: Readonly<Config>, opts: ServerAssemblyOptions): StreamSightServer {
  checkConnectionLimits(config.server);
  const { logger } = opts;
  const notice = opts.notice ?? ((line: string) => logger.warn(line));
  const events = new EventEmitter<ServerEvents>();
  let pipeline: LivePipeline | undefined;
  let engine: InferenceEngine | undefined;
  let gateway: LiveGateway | undefined;
  let closeIndex = async (): Promise<void> => undefined;
  let state: 'new' | 'listening' | 'closed' = 'new';
  let closing: Promise<void> | undefined;

  const started = (): LivePipeline => {
    if (!pipeline) throw new NotListeningError('the server is not listening (call listen() first)');
    return pipeline;
  };

  async function open(): Promise<{ host: string; port: number }> {
    if (opts.index !== undefined) {
      const search = await openSearch(opts.index, config);
      closeIndex = search.close;
      searchRoute = search.route;
    }
    const model = loadModel(config.model.name, modelLoadOptions(config));
    warnUntrained(model);
    const batch = model.fixedBatch ?? config.model.batch;
    const engineOptions = { device: config.model.device, threads: config.model.threads, topK: labelsComputed(config.model.topK), embeddings: true };
    engine = await InferenceEngine.start(model, engineOptions);
    if (engine.fallbackReason) logger.warn({ reason: engine.fallbackReason }, 'CUDA unavailable, falling back to CPU');
    logger.info({ model: model.name, provider: engine.provider, batch }, `inference on ${engine.provider}`);
    // A stream's own model (sources[].model.name, POST model.name) or preprocessing, started as the default one was; the pipeline closes it.
    const startModel = async (request: ModelRequest): Promise<{ model: LoadedModel; engine: InferenceEngine }> => {
      const own = request.preprocess === undefined ? [] : [{ origin: "the stream's model.preprocess", values: request.preprocess }];
      // model.labels and model.preprocess are the configured model's, not another's.
      const isDefault = request.name === config.model.name || request.name === model.path;
      const other = isDefault
        ? loadModel(model.path, modelLoadOptions(config, own))
        : loadModel(request.name, { cacheDir: config.models.cacheDir, preprocess: own });
      warnUntrained(other);
      const otherEngine = await InferenceEngine.start(other, engineOptions);
      if (otherEngine.fallbackReason) logger.warn({ model: other.name, reason: otherEngine.fallbackReason }, 'CUDA unavailable, falling back to CPU');
      logger.info(
        { model: other.name, provider: otherEngine.provider, batch: other.fixedBatch ?? config.model.batch },
        `inference of ${other.name} on ${otherEngine.provider}`,
      );
      return { model: other, engine: otherEngine };
    };

    const metrics = new Metrics();
    const search = searchRoute?.(metrics);
    const front = new LiveGateway({ server: config.server, search, logger, metrics });
    gateway = front;
    const ws = front.ws;
    // The gateway gets every result; so do the library's listeners.
    const sink: ResultSink = {
      publishFrame: (r) => {
        ws.publishFrame(r);
        events.emit('frame', r);
      },
      publishEvent: (e) => {
        ws.publishEvent(e);
        events.emit('event', e);
      },
      publishStatus: (s) => {
        ws.publishStatus(s);
        events.emit('status', s);
      },
    };
    const live = new LivePipeline({
      model,
      engine,
      batch: config.model.batch,
      modelAliases: [config.model.name],
      startModel,
      live: {
        fps: config.live.fps,
        fileFps: opts.fileFps ?? config.sampling.fps,
        bufferFrames: config.live.bufferFrames,
        batchWaitMs: config.live.batchWaitMs,
        skipUnchanged: config.live.skipUnchanged,
        decodeThreads: config.live.decodeThreads,
        decodeNice: config.live.decodeNice,
        fastScale: config.live.fastScale,
        hwaccel: config.live.hwaccel,
      },
      events: config.events,
      allowlist: config.allowlist,
      watchdog: tuningFromSettings(config.watchdog),
      maxPixels: config.decode.maxPixels,
      ...(opts.stdin ? { stdin: opts.stdin } : {}),
      sink,
      metrics,
      logger,
    });
    pipeline = live;
    const port = await front.listen(live);
    live.start();
    for (const spec of opts.sources ?? configuredSources(config)) {
      // A stream whose model cannot be started is left out with one line; the others run.
      await live.addSource(spec).catch((err: unknown) => {
        if (!(err instanceof ModelUnavailableError)) throw err;
        notice(`stream "${spec.id}" not started: ${err.message}`);
      });
    }
    logger.info({ port, host: config.server.host, streams: live.listStreams().map((s) => s.id) }, 'serving');
    return { host: config.server.host, port };
  }

  let searchRoute: ((metrics?: Metrics) => SearchRoute) | undefined;

  function warnUntrained(model: LoadedModel): void {
    if (model.untrained) notice(`WARNING: model "${model.name}" is UNTRAINED (made by \`streamsight models synth\`): its labels mean nothing`);
  }

  async function close(): Promise<void> {
    state = 'closed';
    await pipeline?.close();
    await engine?.close();
    await gateway?.close();
    // After HTTP: no picture search can start past this point.
    await closeIndex();
  }

  return {
    events,
    config,
    async listen() {
      if (state !== 'new') throw new Error(`listen() on a server that is ${state === 'listening' ? 'already listening' : 'closed'}`);
      state = 'listening';
      try {
        return await open();
      } catch (err) {
        await close().catch(() => undefined);
        throw err;
      }
    },
    addSource: (spec) => started().addSource(spec),
    removeSource: (id) => started().removeStream(id),
    streams: () => pipeline?.listStreams() ?? [],
    close() {
      closing ??= close();
      return closing;
    },
  };
}
