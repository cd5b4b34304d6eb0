import type { Frame } from '../contracts/frame.ts';
import type { BatchInference, InferenceEngine } from '../inference/inference-engine.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { pickBatch } from './batch-picker.ts';
import type { LatestFrameBuffer } from './latest-frame-buffer.ts';

export interface BatchSource {
  readonly id: string;
  readonly buffer: LatestFrameBuffer;
  take(max: number): Frame[];
}

export interface LiveInferenceLoopOptions {
  engine: InferenceEngine;
  /** Frames per batch at most. */
  batch: number;
  /**
   * A batch closes when full or when its oldest frame has waited this long,
   * ms (config `live.batchWaitMs`): a lone slow stream never holds the others back.
   */
  maxWaitMs: number;
  onResults: (frames: Frame[], result: BatchInference) => void;
  /** A batch that failed: its frames get no result. */
  onFailed?: ((frames: Frame[]) => void) | undefined;
  logger: Logger;
  metrics?: Metrics;
}

/**
 * Batches frames across streams and runs one batch at a time: frames that
 * arrive meanwhile wait in their stream's bounded buffer, where the oldest
 * are dropped under overload, so latency stays about one batch time.
 */
export class LiveInferenceLoop {
  private readonly sources = new Map<string, BatchSource>();
  private running = false;
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  private next = 0;
  private idle: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LiveInferenceLoopOptions) {}

  add(source: BatchSource): void {
    this.sources.set(source.id, source);
  }

  remove(id: string): void {
    this.sources.delete(id);
  }

  start(): void {
    this.running = true;
    this.wake();
  }

  /** Stops taking batches; resolves when the batch in flight is done. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.idle;
  }

  /** Called whenever a frame is waiting. */
  wake(): void {
    if (!this.running || this.busy) return;
    const buffers = [...this.sources.values()].map((s) => s.buffer);
    const waiting = buffers.reduce((n, b) => n + b.length, 0);
    if (waiting === 0) return;
    if (waiting < this.opts.batch) {
      // Not full yet: close the batch when the time limit passes.
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.run();
      }, this.opts.maxWaitMs);
      return;
    }
    this.run();
  }

  private run(): void {
    if (!this.running || this.busy) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const sources = [...this.sources.values()];
    const picked = pickBatch(
      sources.map((s) => s.buffer),
      this.opts.batch,
      this.next,
    );
    this.next = picked.next;
    if (picked.frames.length === 0) return;
    // Frames were taken straight from the buffers; let paused file sources go on.
    for (const s of sources) s.take(0);
    this.busy = true;
    const m = this.opts.metrics;
    m?.batchSize.observe(picked.frames.length);
    this.idle = this.opts.engine
      .infer(picked.frames)
      .then((result) => {
        m?.inferenceSeconds.observe(result.runMs / 1000);
        this.opts.onResults(picked.frames, result);
      })
      .catch((err: unknown) => {
        // One failed batch is logged and counted; the loop goes on with the next frames.
        this.opts.logger.error({ err, frames: picked.frames.length }, 'inference batch failed');
        for (const f of picked.frames) m?.framesDropped.inc({ stream: f.streamId, reason: 'inference_error' });
        this.opts.onFailed?.(picked.frames);
      })
      .finally(() => {
        this.busy = false;
        this.wake();
      });
  }
}
