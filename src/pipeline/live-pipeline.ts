import { frameGeometry } from '../contracts/preprocess.ts';
import type { Frame } from '../contracts/frame.ts';
import type { StreamState } from '../contracts/results.ts';
import type { HysteresisOptions } from '../events/hysteresis-config.ts';
import type { Readable } from 'node:stream';
import type { SourceAllowlist } from '../ingest/source-allowlist.ts';
import type { WatchdogTuning } from '../ingest/source-watchdog.ts';
import type { BatchInference, InferenceEngine } from '../inference/inference-engine.ts';
import type { LoadedModel } from '../inference/model-loader.ts';
import { isStreamSightError, ModelNotServedError, ModelUnavailableError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { LiveResultPublisher, type ResultSink } from './live-result-publisher.ts';
import { type ModelRequest, ModelEngines, type ModelSlot, type ModelStarter } from './model-engines.ts';
import type { SkipUnchanged, SourcePlan, SourceSpec } from './source-plan.ts';
import type { Hwaccel } from '../config/schema.ts';
import { StreamRegistry, type LiveStream, type StreamTransport } from './stream-registry.ts';
import { StreamRunner } from './stream-runner.ts';

export interface LivePipelineOptions {
  /** The default model and its engine (the caller closes the engine, after close()). */
  model: LoadedModel;
  engine: InferenceEngine;
  /** Other names of the default model (e.g. the configured `model.name`): a stream naming one uses the default. */
  modelAliases?: readonly string[] | undefined;
  /**
   * Starts the model of a stream whose `model.name` is another one (same
   * device and threads as the default); its engine is closed with its last
   * stream. Absent: a stream can only use the default model.
   */
  startModel?: ModelStarter | undefined;
  /** Frames per batch at most, per model. */
  batch: number;
  live: {
    fps: number;
    fileFps: number;
    bufferFrames: number;
    batchWaitMs: number;
    /** The change gate of live streams (config `live.skipUnchanged`); default off. */
    skipUnchanged?: SkipUnchanged | undefined;
    /** Decoder threads of a live stream's ffmpeg (config `live.decodeThreads`); default ffmpeg's choice. */
    decodeThreads?: number | undefined;
    /** Niceness of a live stream's ffmpeg (config `live.decodeNice`); default as this process. */
    decodeNice?: number | undefined;
    /** Hardware decoding of live streams (config `live.hwaccel`); default none. */
    hwaccel?: Hwaccel | undefined;
    /** One-pass resize and RGB conversion of live streams (config `live.fastScale`); default false. */
    fastScale?: boolean | undefined;
  };
  events: HysteresisOptions;
  allowlist: SourceAllowlist | undefined;
  /** Stall detection, stop grace and restart backoff of every stream (config key `watchdog`, resolved). */
  watchdog: WatchdogTuning;
  /** Largest frame decoded, pixels as stored (config `decode.maxPixels`: ffmpeg's `-max_pixels`); unset: ffmpeg's own limit. */
  maxPixels?: number | undefined;
  /** What a `-` source reads; default process.stdin. */
  stdin?: Readable | undefined;
  sink: ResultSink;
  metrics: Metrics;
  logger: Logger;
}

/**
 * `serve` in one process: sources -> bounded per-stream buffers -> batches
 * across streams -> inference thread -> results, label events and status to
 * the sink. The streams are a StreamRegistry; this is its embedded
 * transport (the distributed one is transport/distributed-sources.ts).
 */
export class LivePipeline extends StreamRegistry {
  private readonly engines: ModelEngines;

  constructor(opts: LivePipelineOptions) {
    const publisher = new LiveResultPublisher({ sink: opts.sink, events: opts.events, metrics: opts.metrics });
    const engines = new ModelEngines({
      default: { model: opts.model, engine: opts.engine },
      defaultAliases: opts.modelAliases,
      start: opts.startModel,
      batch: opts.batch,
      maxWaitMs: opts.live.batchWaitMs,
      logger: opts.logger,
      metrics: opts.metrics,
      onResults: (slot, frames, result) => publishBatch(publisher, slot, frames, result),
      onFailed: (frames) => {
        for (const f of frames) publisher.abandon(f.streamId, f.runId, f.seq);
      },
    });
    super({
      transport: new EmbeddedTransport(engines, publisher, opts),
      publisher,
      allowlist: opts.allowlist,
      logger: opts.logger,
      metrics: opts.metrics,
      plan: {
        liveFps: opts.live.fps,
        fileFps: opts.live.fileFps,
        watchdog: opts.watchdog,
        allowedHosts: opts.allowlist?.hosts,
        maxPixels: opts.maxPixels,
        skipUnchanged: opts.live.skipUnchanged,
        decodeThreads: opts.live.decodeThreads,
        decodeNice: opts.live.decodeNice,
        hwaccel: opts.live.hwaccel,
        fastScale: opts.live.fastScale,
      },
    });
    this.engines = engines;
  }

  /** Starts the inference loops. */
  start(): void {
    this.engines.start();
  }
}

/** Each frame of a batch, labelled with its model's class names, to the publisher. */
function publishBatch(publisher: LiveResultPublisher, slot: ModelSlot, frames: Frame[], batch: BatchInference): void {
  const { model } = slot;
  frames.forEach((frame, i) => {
    const inferred = batch.frames[i]!;
    publisher.publishFrame({
      stream: frame.streamId,
      run: frame.runId,
      seq: frame.seq,
      ptsMs: frame.ptsMs,
      capturedAt: frame.capturedAt,
      labels: inferred.top.map((c) => ({ index: c.index, label: model.labels[c.index] ?? `class_${c.index}`, score: c.score })),
      model: model.name,
      ...(inferred.embedding ? { embedding: inferred.embedding } : {}),
    });
  });
}

/** Embedded inference: each stream's frames wait in its bounded buffer for its model's batch loop. */
class EmbeddedTransport implements StreamTransport {
  constructor(
    private readonly engines: ModelEngines,
    private readonly publisher: LiveResultPublisher,
    private readonly opts: LivePipelineOptions,
  ) {}

  loadsModel(name: string): boolean {
    return !this.engines.isDefault(name);
  }

  async open(spec: SourceSpec, plan: SourcePlan): Promise<LiveStream> {
    const name = spec.model?.name;
    const preprocess = spec.model?.preprocess;
    // The default model with its own preprocessing is another engine too.
    const key: ModelRequest | undefined =
      this.engines.isDefault(name) && preprocess === undefined ? undefined : { name: name ?? this.opts.model.path, preprocess };
    const slot = key === undefined ? this.engines.default : await this.acquire(key);
    try {
      return this.run(spec, plan, slot, key);
    } catch (err) {
      if (key !== undefined) await this.engines.release(key);
      throw err;
    }
  }

  others(): [] {
    return [];
  }

  readiness(): { ready: boolean; reasons: string[] } {
    return { ready: true, reasons: [] };
  }

  /** Stops the inference loops and closes the engines of models started here. */
  async close(): Promise<void> {
    await this.engines.close();
  }

  /** A model other than the default, started on first use; paired with release(). */
  private async acquire(key: ModelRequest): Promise<ModelSlot> {
    if (!this.engines.canStartOthers) throw new ModelNotServedError(`model.name: this server runs one model (${this.opts.model.name})`);
    try {
      return await this.engines.acquire(key);
    } catch (err) {
      await this.engines.release(key);
      if (!isStreamSightError(err)) throw err;
      const line = `model.name "${key.name}" cannot be used: ${err.message}${err.hint ? ` (${err.hint})` : ''}`.replace(/\s*\n\s*/g, ' ');
      throw new ModelUnavailableError(line, { cause: err });
    }
  }

  private run(spec: SourceSpec, plan: SourcePlan, slot: ModelSlot, key: ModelRequest | undefined): LiveStream {
    const { opts } = this;
    const { preprocess } = slot.model;
    const runner = new StreamRunner({
      id: spec.id,
      url: spec.url,
      input: plan.input,
      sampling: { mode: 'fps', fps: plan.fps },
      // Decoded to this stream's model's input.
      geometry: { ...frameGeometry(preprocess), fastScale: plan.fastScale },
      live: plan.live,
      camera: plan.camera,
      realtime: plan.realtime,
      loop: plan.loop,
      restartable: plan.restartable,
      bufferFrames: opts.live.bufferFrames,
      protocolWhitelist: plan.protocolWhitelist,
      inputOptions: plan.inputOptions,
      decodeThreads: plan.decodeThreads,
      decodeNice: plan.decodeNice,
      hwaccel: plan.hwaccel,
      ...(plan.hostGuard ? { hostGuard: plan.hostGuard } : {}),
      ...(plan.stdin ? { stdin: opts.stdin ?? process.stdin } : {}),
      watchdog: plan.watchdog,
      skipUnchanged: plan.skipUnchanged,
      onFrame: () => slot.loop.wake(),
      onReused: (frame) => this.publisher.publishReused(frame),
      onDropped: (frame) => this.publisher.abandon(frame.streamId, frame.runId, frame.seq),
      onStatus: (status) => this.publisher.publishStatus(status),
      logger: opts.logger.child({ stream: spec.id }),
      metrics: opts.metrics,
    });
    slot.loop.add(runner);
    runner.start();
    let stopping: Promise<void> | undefined;
    return {
      get state(): StreamState {
        return runner.state;
      },
      model: slot.model,
      get latest(): Frame | undefined {
        return runner.latest;
      },
      stop: () => {
        stopping ??= (async () => {
          slot.loop.remove(spec.id);
          await runner.stop();
          if (key !== undefined) await this.engines.release(key);
        })();
        return stopping;
      },
    };
  }
}
