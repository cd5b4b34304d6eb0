import type { Frame } from '../contracts/frame.ts';
import type { FrameResult, LabelEvent, StreamInfo, StreamStatus } from '../contracts/results.ts';
import type { HysteresisOptions } from '../events/hysteresis-config.ts';
import { LabelEventDetector } from '../events/label-event-detector.ts';
import { isAbsolute } from 'node:path';
import type { Readable } from 'node:stream';
import { hostGuardRulesFor } from '../ingest/host-guard.ts';
import { describeSource, type RtspTransport } from '../ingest/source-kind.ts';
import { tuningFromSettings, type WatchdogTuning } from '../ingest/source-watchdog.ts';
import type { BatchInference, InferenceEngine } from '../inference/inference-engine.ts';
import type { LoadedModel } from '../inference/model-loader.ts';
import { isStreamSightError } from '../shared/errors.ts';
import { HttpProblem, type AddStreamRequest, type HttpBackend } from '../gateway/http-api.ts';
import { checkSource, protocolWhitelistFor, type SourceAllowlist } from '../gateway/source-allowlist.ts';
import { SnapshotEncoder } from '../gateway/snapshot-encoder.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { ModelEngines, type ModelSlot, type ModelStarter } from './model-engines.ts';
import { labelsForStream, type StreamModelOptions } from './stream-model-options.ts';
import { StreamRunner } from './stream-runner.ts';

/** Where results, events and status go (the WebSocket gateway). */
export interface ResultSink {
  publishFrame(result: FrameResult): void;
  publishEvent(event: LabelEvent): void;
  publishStatus(status: StreamStatus): void;
}

export interface SourceSpec {
  id: string;
  url: string;
  /** Sampled frames per second; default 5 for live sources, 1 for files. */
  fps?: number | undefined;
  /** Latest-frame semantics; default: network URLs are live, files are not. */
  live?: boolean | undefined;
  loop?: boolean | undefined;
  /**
   * Protocols ffmpeg may open. Default: for a network URL, what its scheme
   * needs and nothing else (a playlist cannot reach file: or concat:);
   * for a local file (trusted), ffmpeg's own.
   */
  protocolWhitelist?: readonly string[] | undefined;
  /** RTSP lower transport; default tcp. */
  rtspTransport?: RtspTransport | undefined;
  /** Per-stream watchdog overrides (stallTimeoutMs, ...), over the pipeline's. */
  watchdog?: WatchdogTuning | undefined;
  /** This stream's model (`name`; default: the pipeline's), and how its results are published: at most `topK` labels, none below `minScore`. */
  model?: StreamModelOptions | undefined;
}

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
  live: { fps: number; fileFps: number; bufferFrames: number; batchWaitMs: number };
  events: HysteresisOptions;
  allowlist: SourceAllowlist | undefined;
  /** Stall detection, stop grace and restart backoff of every stream (config key `watchdog`). */
  watchdog?: WatchdogTuning | undefined;
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
 * the gateway. Also answers the HTTP API about its streams.
 */
export class LivePipeline implements HttpBackend {
  private readonly streams = new Map<string, StreamRunner>();
  private readonly modelOptions = new Map<string, StreamModelOptions>();
  /** Each stream's model; `key` is the name it asked for, absent for the default. */
  private readonly streamModels = new Map<string, { slot: ModelSlot; key: string | undefined }>();
  private readonly engines: ModelEngines;
  private readonly detector: LabelEventDetector;
  private readonly snapshots = new SnapshotEncoder();
  private closed = false;

  constructor(private readonly opts: LivePipelineOptions) {
    this.detector = new LabelEventDetector(opts.events);
    this.engines = new ModelEngines({
      default: { model: opts.model, engine: opts.engine }, defaultAliases: opts.modelAliases, start: opts.startModel,
      batch: opts.batch, maxWaitMs: opts.live.batchWaitMs, logger: opts.logger, metrics: opts.metrics,
      onResults: (slot, frames, result) => this.onResults(slot, frames, result),
    });
  }

  get metrics(): Metrics {
    return this.opts.metrics;
  }

  start(): void {
    this.engines.start();
  }

  /**
   * Adds a trusted source (config file, command line). A stream on the
   * default model is added before this returns; one on another model once
   * that model is started (HttpProblem model_unavailable when it cannot be).
   */
  async addSource(spec: SourceSpec): Promise<StreamInfo> {
    const key = this.engines.isDefault(spec.model?.name) ? undefined : spec.model?.name;
    if (key === undefined) return this.addOnModel(spec, this.engines.default, undefined);
    this.checkAddable(spec);
    if (!this.engines.canStartOthers) {
      throw new HttpProblem(400, 'bad_request', `model.name: this server runs one model (${this.opts.model.name})`);
    }
    let slot: ModelSlot;
    try {
      slot = await this.engines.acquire(key);
    } catch (err) {
      await this.engines.release(key);
      if (!isStreamSightError(err)) throw err;
      const line = `model.name "${key}" cannot be used: ${err.message}${err.hint ? ` (${err.hint})` : ''}`.replace(/\s*\n\s*/g, ' ');
      throw new HttpProblem(422, 'model_unavailable', line);
    }
    try {
      return this.addOnModel(spec, slot, key);
    } catch (err) {
      await this.engines.release(key);
      throw err;
    }
  }

  /** Refusals that do not depend on the model; checked again once a model has been started. */
  private checkAddable(spec: SourceSpec): ReturnType<typeof describeSource> {
    if (this.closed) throw new HttpProblem(503, 'closing', 'server is shutting down');
    if (this.streams.has(spec.id)) throw new HttpProblem(409, 'exists', `stream "${spec.id}" already exists`);
    // inputOptions carry the limits: a file's demuxers (no playlists), the pixel limit.
    const source = describeSource(spec.url, { rtspTransport: spec.rtspTransport, maxPixels: this.opts.maxPixels });
    if (source.stdin && [...this.streams.values()].some((r) => r.readsStdin)) {
      throw new HttpProblem(409, 'stdin_taken', 'only one stream can read standard input');
    }
    return source;
  }

  private addOnModel(spec: SourceSpec, slot: ModelSlot, key: string | undefined): StreamInfo {
    const source = this.checkAddable(spec);
    const { preprocess } = slot.model;
    const live = spec.live ?? source.live;
    const fps = spec.fps ?? (live ? this.opts.live.fps : this.opts.live.fileFps);
    const whitelist = spec.protocolWhitelist ?? (source.kind === 'file' || source.kind === 'stdin' || source.kind === 'v4l2' ? undefined : protocolWhitelistFor(source.scheme));
    const runner = new StreamRunner({
      id: spec.id,
      url: spec.url,
      input: source.input,
      sampling: { mode: 'fps', fps },
      // Decoded to this stream's model's input.
      geometry: { resizeShorter: preprocess.resizeShorter, cropWidth: preprocess.inputWidth, cropHeight: preprocess.inputHeight },
      live,
      camera: live && source.kind !== 'file',
      // A file played as a camera; a real camera sets its own pace.
      realtime: live && source.kind === 'file',
      loop: spec.loop ?? false,
      restartable: !source.stdin,
      bufferFrames: this.opts.live.bufferFrames,
      protocolWhitelist: whitelist,
      inputOptions: source.inputOptions,
      // Every http(s) source reaches its own host:port, and the allowlist's hosts, through the host guard.
      ...(source.kind === 'http' ? { hostGuard: hostGuardRulesFor(source.input, this.opts.allowlist?.hosts ?? []) } : {}),
      ...(source.stdin ? { stdin: this.opts.stdin ?? process.stdin } : {}),
      watchdog: mergeTuning(this.opts.watchdog, spec.watchdog),
      onFrame: () => slot.loop.wake(),
      onStatus: (status) => this.onStatus(status),
      logger: this.opts.logger.child({ stream: spec.id }),
      metrics: this.opts.metrics,
    });
    this.streams.set(spec.id, runner);
    this.streamModels.set(spec.id, { slot, key });
    if (spec.model && (spec.model.topK !== undefined || spec.model.minScore !== undefined)) this.modelOptions.set(spec.id, { ...spec.model });
    slot.loop.add(runner);
    runner.start();
    this.opts.logger.info({ stream: spec.id, source: runner.displayUrl, kind: source.kind, live, fps, model: slot.model.name }, 'stream added');
    return this.info(runner);
  }

  // ---- HttpBackend ----

  listStreams(): StreamInfo[] {
    return [...this.streams.values()].map((r) => this.info(r));
  }

  hasStream(id: string): boolean {
    return this.streams.has(id);
  }

  async addStream(request: AddStreamRequest): Promise<StreamInfo> {
    const checked = checkSource(request.url, this.opts.allowlist);
    if (!checked.ok) throw new HttpProblem(403, 'forbidden_source', `source refused: ${checked.reason}`);
    const modelName = request.model?.name;
    // A model file named over HTTP is read only where the allowlist lets POST open files; registry names are fine.
    if (modelName !== undefined && !this.engines.isDefault(modelName) && /[/\\]|^\.|\.onnx$/i.test(modelName)) {
      const file = checkSource(modelName, this.opts.allowlist);
      if (!file.ok || file.scheme !== 'file' || !isAbsolute(modelName)) {
        throw new HttpProblem(403, 'forbidden_model', `model.name refused: ${file.ok ? 'model files must be absolute paths' : file.reason}`);
      }
    }
    try {
      return await this.addSource({
        id: request.id, url: checked.url, fps: request.fps, live: request.live, loop: request.loop,
        // Always the checked scheme's whitelist, also for files: a playlist cannot reach past it.
        protocolWhitelist: protocolWhitelistFor(checked.scheme),
        rtspTransport: request.rtspTransport,
        ...(request.watchdog ? { watchdog: tuningFromSettings(request.watchdog) } : {}),
        ...(request.model ? { model: request.model } : {}),
      });
    } catch (err) {
      // The watchdog's own checks of the merged tuning (e.g. backoffMaxMs below the configured backoffInitialMs).
      if (err instanceof RangeError) throw new HttpProblem(400, 'bad_request', `watchdog: ${err.message}`);
      throw err;
    }
  }

  async removeStream(id: string): Promise<boolean> {
    const runner = this.streams.get(id);
    if (!runner) return false;
    const onModel = this.streamModels.get(id);
    this.streams.delete(id);
    this.streamModels.delete(id);
    this.modelOptions.delete(id);
    onModel?.slot.loop.remove(id);
    await runner.stop();
    if (onModel?.key !== undefined) await this.engines.release(onModel.key);
    for (const e of this.detector.flush(id)) this.emitEvent(e);
    this.detector.forget(id);
    this.snapshots.forget(id);
    this.opts.logger.info({ stream: id }, 'stream removed');
    return true;
  }

  async snapshot(id: string): Promise<Buffer | undefined> {
    const frame = this.streams.get(id)?.latest;
    return frame ? this.snapshots.encode(frame) : undefined;
  }

  readiness(): { ready: boolean; reasons: string[] } {
    return this.closed ? { ready: false, reasons: ['shutting down'] } : { ready: true, reasons: [] };
  }

  /** Stops sources (ffmpeg), then the inference loops, and closes the engines of models started here. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.streams.values()].map((r) => r.stop()));
    await this.engines.close();
  }

  // ---- internals ----

  private info(r: StreamRunner): StreamInfo {
    const model = this.streamModels.get(r.id)?.slot.model ?? this.opts.model;
    return { id: r.id, state: r.state, model: model.name, fps: r.fps, ...(model.untrained ? { untrained: true } : {}) };
  }

  private onStatus(status: StreamStatus): void {
    this.opts.sink.publishStatus(status);
    if (status.state === 'ended' || status.state === 'failed') {
      // A file that ended closes its open labels at its last frame.
      for (const e of this.detector.flush(status.stream)) this.emitEvent(e);
    }
  }

  private emitEvent(e: LabelEvent): void {
    this.opts.metrics.labelEvents.inc({ stream: e.stream, label: e.label, kind: e.kind });
    this.opts.sink.publishEvent(e);
  }

  private onResults(slot: ModelSlot, frames: Frame[], batch: BatchInference): void {
    const { metrics, sink } = this.opts;
    const { model } = slot;
    const now = Date.now();
    frames.forEach((frame, i) => {
      if (!this.streams.has(frame.streamId)) return; // removed while in flight
      const inferred = batch.frames[i]!;
      const result: FrameResult = {
        stream: frame.streamId,
        run: frame.runId,
        seq: frame.seq,
        ptsMs: frame.ptsMs,
        capturedAt: frame.capturedAt,
        labels: labelsForStream(inferred.top, this.modelOptions.get(frame.streamId))
          .map((c) => ({ index: c.index, label: model.labels[c.index] ?? `class_${c.index}`, score: Math.round(c.score * 1e6) / 1e6 })),
        latencyMs: now - frame.capturedAt,
        model: model.name,
        ...(inferred.embedding ? { embedding: inferred.embedding } : {}),
      };
      metrics.framesProcessed.inc({ stream: frame.streamId });
      sink.publishFrame(result);
      for (const e of this.detector.push(result)) this.emitEvent(e);
    });
  }
}

/** Pipeline-wide watchdog tuning with a stream's overrides on top (backoff merged key by key). */
function mergeTuning(base: WatchdogTuning | undefined, over: WatchdogTuning | undefined): WatchdogTuning | undefined {
  if (!over) return base;
  const defined = <T extends object>(o: T | undefined): Partial<T> =>
    Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
  return { ...defined(base), ...defined(over), backoff: { ...defined(base?.backoff), ...defined(over.backoff) } };
}
