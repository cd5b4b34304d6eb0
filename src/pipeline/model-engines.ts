import type { Frame } from '../contracts/frame.ts';
import type { PreprocessOverrides } from '../contracts/preprocess.ts';
import type { BatchInference, InferenceEngine } from '../inference/inference-engine.ts';
import type { LoadedModel } from '../inference/model-loader.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { LiveInferenceLoop } from './live-inference-loop.ts';

/** A loaded model and the engine running it. */
export interface StartedModel {
  model: LoadedModel;
  engine: InferenceEngine;
}

/** A stream's model: a name (registry or .onnx file) and its own preprocessing, if any. */
export interface ModelRequest {
  name: string;
  preprocess?: PreprocessOverrides | undefined;
}

/**
 * Loads a model and starts its engine the way the default one was started
 * (same device, threads, topK, embeddings). Rejects with a StreamSightError
 * when the model cannot be loaded or run.
 */
export type ModelStarter = (request: ModelRequest) => Promise<StartedModel>;

/** Requests that load the same model the same way share one engine. */
export function modelKey(request: ModelRequest): string {
  return request.preprocess === undefined ? request.name : `${request.name} ${JSON.stringify(request.preprocess)}`;
}

/** One model in use: its engine and the batch loop over the streams on it. */
export interface ModelSlot {
  readonly model: LoadedModel;
  readonly engine: InferenceEngine;
  readonly loop: LiveInferenceLoop;
}

export interface ModelEnginesOptions {
  /** The default model; its engine belongs to the caller, who closes it. */
  default: StartedModel;
  /** Other names that mean the default model (e.g. the configured `model.name`), besides its loaded name and path. */
  defaultAliases?: readonly string[] | undefined;
  /** Starts the other models; absent: only the default can be used. */
  start: ModelStarter | undefined;
  /** Frames per batch at most (a model that fixes its batch size gets that). */
  batch: number;
  /** A batch closes when full or when its oldest frame has waited this long, ms. */
  maxWaitMs: number;
  onResults: (slot: ModelSlot, frames: Frame[], result: BatchInference) => void;
  /** A batch that failed (counted as dropped, reason inference_error): its frames get no result. */
  onFailed?: ((frames: Frame[]) => void) | undefined;
  logger: Logger;
  metrics: Metrics;
}

interface Entry {
  ready: Promise<ModelSlot>;
  /** Set once ready resolves. */
  slot: ModelSlot | undefined;
  /** Streams on it, and adds waiting for it; at 0 the engine is closed. */
  users: number;
}

/**
 * The models of a live pipeline: the default one, and one engine + batch
 * loop per other model name a stream asks for, started on first use and
 * closed when its last stream goes. Batches never mix models.
 */
export class ModelEngines {
  readonly default: ModelSlot;
  private readonly entries = new Map<string, Entry>();
  private readonly defaultNames: Set<string>;
  private running = false;
  private closed = false;

  constructor(private readonly opts: ModelEnginesOptions) {
    this.default = this.slot(opts.default);
    const m = opts.default.model;
    this.defaultNames = new Set([m.name, m.path, ...(opts.defaultAliases ?? [])]);
  }

  /** True when `name` (absent: the default) is the default model. */
  isDefault(name: string | undefined): boolean {
    return name === undefined || this.defaultNames.has(name);
  }

  /** True when models other than the default can be started. */
  get canStartOthers(): boolean {
    return this.opts.start !== undefined;
  }

  start(): void {
    this.running = true;
    this.default.loop.start();
    for (const e of this.entries.values()) e.slot?.loop.start();
  }

  /**
   * The slot of a model other than the default (or the default with its
   * own preprocessing), started on first use (one start for concurrent
   * callers). Every call, resolved or not, is paired with release(request).
   */
  async acquire(request: ModelRequest): Promise<ModelSlot> {
    const start = this.opts.start;
    if (!start) throw new TypeError('acquire: no ModelStarter configured');
    const name = modelKey(request);
    let entry = this.entries.get(name);
    if (!entry) {
      const created: Entry = {
        users: 0,
        slot: undefined,
        ready: start(request).then((started) => {
          const slot = this.slot(started);
          created.slot = slot;
          if (this.running && !this.closed) slot.loop.start();
          this.opts.logger.info({ model: started.model.name, requested: request.name, provider: started.engine.provider }, 'model started for a stream');
          return slot;
        }),
      };
      this.entries.set(name, created);
      entry = created;
    }
    entry.users += 1;
    return entry.ready;
  }

  /** One user of the request's model less; the last one stops its loop and closes its engine. */
  async release(request: ModelRequest): Promise<void> {
    const name = modelKey(request);
    const entry = this.entries.get(name);
    if (!entry || this.closed) return;
    entry.users -= 1;
    if (entry.users > 0) return;
    this.entries.delete(name);
    // Users release only after their acquire settled, so ready has settled too: slot is set unless it failed.
    if (entry.slot) {
      await this.closeSlot(entry.slot);
      this.opts.logger.info({ model: entry.slot.model.name }, 'model closed: no stream uses it any more');
    }
  }

  /** Stops every loop (batches in flight finish) and closes the engines started here. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const entries = [...this.entries.values()];
    this.entries.clear();
    await this.default.loop.stop();
    // A start still in progress is waited for, so its engine is closed too; its failure was its caller's to report.
    const settled = await Promise.allSettled(entries.map((e) => e.ready));
    await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? this.closeSlot(s.value) : undefined)));
  }

  private slot(started: StartedModel): ModelSlot {
    const { model, engine } = started;
    const slot: ModelSlot = {
      model,
      engine,
      loop: new LiveInferenceLoop({
        engine,
        batch: model.fixedBatch ?? this.opts.batch,
        maxWaitMs: this.opts.maxWaitMs,
        logger: this.opts.logger.child({ model: model.name }),
        metrics: this.opts.metrics,
        onResults: (frames, result) => this.opts.onResults(slot, frames, result),
        onFailed: (frames) => this.opts.onFailed?.(frames),
      }),
    };
    this.opts.metrics.executionProvider.set({ provider: engine.provider, model: model.name }, 1);
    return slot;
  }

  private async closeSlot(slot: ModelSlot): Promise<void> {
    await slot.loop.stop();
    await slot.engine.close();
    if (slot.model.name !== this.default.model.name) this.opts.metrics.executionProvider.remove({ provider: slot.engine.provider, model: slot.model.name });
  }
}
