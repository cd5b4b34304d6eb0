import { frameGeometry } from '../contracts/preprocess.ts';
import type { Readable } from 'node:stream';
import type { Config } from '../config/schema.ts';
import type { Frame, FrameGeometry } from '../contracts/frame.ts';
import type { StreamState } from '../contracts/results.ts';
import { tuningFromSettings } from '../ingest/source-watchdog.ts';
import type { LoadedModel } from '../inference/model-loader.ts';
import { labelsComputed } from '../pipeline/stream-model-options.ts';
import { liveDecodeDefaults, planSource, type PlanDefaults, type SourcePlan, type SourceSpec } from '../pipeline/source-plan.ts';
import { ClosingError, StdinTakenError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { RedisLinks, type RedisSettings } from './redis-links.ts';
import { RemoteInference } from './remote-inference.ts';
import { ingestStream, type IngestReport } from './stream-ingest.ts';

export interface IngestSessionOptions {
  redis: RedisSettings;
  /** Connection names start with this (CLIENT LIST shows who is who). */
  name: string;
  model: { name: string; topK: number; geometry: FrameGeometry; inputWidth: number; inputHeight: number };
  /** Frames per job for files. */
  batch: number;
  defaults: PlanDefaults;
  /** What a `-` source reads; default process.stdin. */
  stdin?: Readable | undefined;
  logger: Logger;
  metrics: Metrics;
}

/**
 * The session options of an ingest process (`streamsight ingest`, `serve
 * --redis`) from the config and the loaded model: one recipe for both.
 */
export function ingestSessionOptions(
  config: Readonly<Config>,
  model: LoadedModel,
  run: { url: string; name: string; fileFps?: number | undefined; logger: Logger; metrics: Metrics },
): IngestSessionOptions {
  const p = model.preprocess;
  return {
    redis: { ...config.redis, url: run.url },
    name: run.name,
    model: {
      name: model.name,
      // Workers compute the labels every stream may ask for (max(topK, 5)), as embedded serve does.
      topK: labelsComputed(config.model.topK),
      geometry: frameGeometry(p),
      inputWidth: p.inputWidth,
      inputHeight: p.inputHeight,
    },
    batch: model.fixedBatch ?? config.model.batch,
    defaults: {
      liveFps: config.live.fps,
      fileFps: run.fileFps ?? config.sampling.fps,
      watchdog: tuningFromSettings(config.watchdog),
      allowedHosts: config.allowlist?.hosts,
      maxPixels: config.decode.maxPixels,
      ...liveDecodeDefaults(config),
    },
    logger: run.logger,
    metrics: run.metrics,
  };
}

export interface IngestHooks {
  onFrame?: ((frame: Frame) => void) | undefined;
  onState?: ((state: StreamState, detail: string | undefined) => void) | undefined;
}

/**
 * The ingest role in one process (`streamsight ingest`, `serve --redis`):
 * its Redis connections (producer role: they fail fast and the caller
 * decides), the inference of files on the shared results stream (which
 * re-sends what Redis lost), and one `ingestStream` per source.
 */
export class IngestSession {
  private closed = false;
  private stdinTaken = false;

  private constructor(
    private readonly opts: IngestSessionOptions,
    readonly links: RedisLinks,
    private readonly files: RemoteInference,
  ) {}

  /** Connects (RedisUnavailableError after `unavailableTimeoutMs`). */
  static async open(opts: IngestSessionOptions): Promise<IngestSession> {
    const links = await RedisLinks.open(opts.redis, 'producer', opts.name, opts.logger);
    const s = opts.redis;
    const files = new RemoteInference({
      queueConnection: links.queue,
      frameConnection: links.frames,
      readerConnection: links.extra('results'),
      names: links.names,
      model: { name: opts.model.name, inputWidth: opts.model.inputWidth, inputHeight: opts.model.inputHeight },
      topK: opts.model.topK,
      embeddings: true,
      frameTtlMs: s.frameTtlMs,
      queueHighWaterJobs: s.queueHighWaterJobs,
      resultTimeoutMs: s.resultTimeoutMs,
      maxResends: s.maxResends,
      jobAttempts: s.jobAttempts,
      failedJobsKept: s.failedJobsKept,
      unavailableTimeoutMs: s.unavailableTimeoutMs,
      resultsStream: links.names.resultsStream,
      logger: opts.logger.child({ component: 'file-inference' }),
    });
    return new IngestSession(opts, links, files);
  }

  /** Batches of files sent again (Redis lost them), and frames in them. */
  get resent(): { batches: number; frames: number } {
    return { batches: this.files.stats.resentBatches, frames: this.files.stats.resentFrames };
  }

  /** True while every connection is up (for /readyz). */
  get ready(): boolean {
    return this.links.ready;
  }

  /** The spec as it will be decoded (live or not, fps), with the session's defaults. */
  plan(spec: SourceSpec): SourcePlan {
    return planSource(spec, this.opts.defaults);
  }

  /**
   * Ingests one source (as `plan` says; default: planned with the session's
   * defaults) until it ends, fails, or `signal` aborts. Throws
   * WatchdogTuningError at once for a tuning the watchdog refuses; the
   * returned promise does not reject for the source's own failures (see the report).
   */
  run(spec: SourceSpec, signal: AbortSignal, hooks: IngestHooks = {}, plan: SourcePlan = this.plan(spec)): Promise<IngestReport> {
    if (this.closed) return Promise.reject(new ClosingError('ingest session is closed'));
    if (plan.stdin && this.stdinTaken) return Promise.reject(new StdinTakenError('only one source can read standard input (-)'));
    const { opts } = this;
    const report = ingestStream({
      id: spec.id,
      url: spec.url,
      plan,
      ...(plan.stdin ? { stdin: opts.stdin ?? process.stdin } : {}),
      geometry: opts.model.geometry,
      model: { name: opts.model.name, topK: opts.model.topK },
      batch: opts.batch,
      links: this.links,
      files: this.files,
      logger: opts.logger.child({ stream: spec.id }),
      metrics: opts.metrics,
      signal,
      onFrame: hooks.onFrame,
      onState: hooks.onState,
    });
    if (plan.stdin) this.stdinTaken = true;
    return report;
  }

  /** Idempotent: file inference (its pending batches are rejected), then the connections. Stop the sources first. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.files.close();
    await this.links.close();
  }
}
