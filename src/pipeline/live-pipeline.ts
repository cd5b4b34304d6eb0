import type { Frame } from '../contracts/frame.ts';
import type { FrameResult, LabelEvent, StreamInfo, StreamStatus } from '../contracts/results.ts';
import type { HysteresisOptions } from '../events/hysteresis-config.ts';
import { LabelEventDetector } from '../events/label-event-detector.ts';
import type { Readable } from 'node:stream';
import { hostGuardRulesFor } from '../ingest/host-guard.ts';
import { describeSource, type RtspTransport } from '../ingest/source-kind.ts';
import { tuningFromSettings, type WatchdogTuning } from '../ingest/source-watchdog.ts';
import type { BatchInference, InferenceEngine } from '../inference/inference-engine.ts';
import type { LoadedModel } from '../inference/model-loader.ts';
import { HttpProblem, type AddStreamRequest, type HttpBackend } from '../gateway/http-api.ts';
import { checkSource, protocolWhitelistFor, type SourceAllowlist } from '../gateway/source-allowlist.ts';
import { SnapshotEncoder } from '../gateway/snapshot-encoder.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { LiveInferenceLoop } from './live-inference-loop.ts';
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
  /** How this stream's results are published: at most `topK` labels, none below `minScore`. */
  model?: StreamModelOptions | undefined;
}

export interface LivePipelineOptions {
  model: LoadedModel;
  engine: InferenceEngine;
  batch: number;
  live: { fps: number; fileFps: number; bufferFrames: number; batchWaitMs: number };
  events: HysteresisOptions;
  allowlist: SourceAllowlist | undefined;
  /** Stall detection, stop grace and restart backoff of every stream (config key `watchdog`). */
  watchdog?: WatchdogTuning | undefined;
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
  private readonly loop: LiveInferenceLoop;
  private readonly detector: LabelEventDetector;
  private readonly snapshots = new SnapshotEncoder();
  private closed = false;

  constructor(private readonly opts: LivePipelineOptions) {
    this.detector = new LabelEventDetector(opts.events);
    this.loop = new LiveInferenceLoop({
      engine: opts.engine, batch: opts.batch, maxWaitMs: opts.live.batchWaitMs, logger: opts.logger, metrics: opts.metrics,
      onResults: (frames, result) => this.onResults(frames, result),
    });
    opts.metrics.executionProvider.set({ provider: opts.engine.provider, model: opts.model.name }, 1);
  }

  get metrics(): Metrics {
    return this.opts.metrics;
  }

  start(): void {
    this.loop.start();
  }

  /** Adds a trusted source (config file, command line). */
  addSource(spec: SourceSpec): StreamInfo {
    if (this.closed) throw new HttpProblem(503, 'closing', 'server is shutting down');
    if (this.streams.has(spec.id)) throw new HttpProblem(409, 'exists', `stream "${spec.id}" already exists`);
    const source = describeSource(spec.url, { rtspTransport: spec.rtspTransport });
    if (source.stdin && [...this.streams.values()].some((r) => r.readsStdin)) {
      throw new HttpProblem(409, 'stdin_taken', 'only one stream can read standard input');
    }
    const live = spec.live ?? source.live;
    const fps = spec.fps ?? (live ? this.opts.live.fps : this.opts.live.fileFps);
    const whitelist = spec.protocolWhitelist ?? (source.kind === 'file' || source.kind === 'stdin' || source.kind === 'v4l2' ? undefined : protocolWhitelistFor(source.scheme));
    const runner = new StreamRunner({
      id: spec.id,
      url: spec.url,
      input: source.input,
      sampling: { mode: 'fps', fps },
      geometry: {
        resizeShorter: this.opts.model.preprocess.resizeShorter,
        cropWidth: this.opts.model.preprocess.inputWidth,
        cropHeight: this.opts.model.preprocess.inputHeight,
      },
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
      onFrame: () => this.loop.wake(),
      onStatus: (status) => this.onStatus(status),
      logger: this.opts.logger.child({ stream: spec.id }),
      metrics: this.opts.metrics,
    });
    this.streams.set(spec.id, runner);
    if (spec.model && (spec.model.topK !== undefined || spec.model.minScore !== undefined)) this.modelOptions.set(spec.id, { ...spec.model });
    this.loop.add(runner);
    runner.start();
    this.opts.logger.info({ stream: spec.id, source: runner.displayUrl, kind: source.kind, live, fps }, 'stream added');
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
    try {
      return this.addSource({
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
    this.streams.delete(id);
    this.modelOptions.delete(id);
    this.loop.remove(id);
    await runner.stop();
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

  /** Stops sources (ffmpeg), then the inference loop. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.streams.values()].map((r) => r.stop()));
    await this.loop.stop();
  }

  // ---- internals ----

  private info(r: StreamRunner): StreamInfo {
    return { id: r.id, state: r.state, model: this.opts.model.name, fps: r.fps, ...(this.opts.model.untrained ? { untrained: true } : {}) };
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

  private onResults(frames: Frame[], batch: BatchInference): void {
    const { model, metrics, sink } = this.opts;
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
