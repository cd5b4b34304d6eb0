import type { Frame } from '../contracts/frame.ts';
import type { FrameInference } from '../inference/batch-inferer.ts';

/** What the batcher runs a batch on: the InferenceEngine (a worker thread). */
export interface BatchRunner {
  infer(frames: readonly Frame[]): Promise<{ frames: FrameInference[] }>;
}

export interface CrossJobBatcherOptions {
  runner: BatchRunner;
  /** Frames per inference call. */
  batch: number;
  /** A batch closes when full or when its first frame waited this long, ms. */
  maxWaitMs: number;
  /** Batches sent to the runner at once: 2 keeps the thread busy while the next one fills. */
  maxInFlight: number;
}

interface Item {
  frames: readonly Frame[];
  /** performance.now() when the job arrived. */
  at: number;
  resolve: (r: FrameInference[]) => void;
  reject: (e: unknown) => void;
}

/**
 * Makes inference batches out of several jobs (of any streams): a batch
 * closes when it is full or when its first frame has waited `maxWaitMs`, so
 * one slow stream never holds the others back. Jobs are never split; a job
 * larger than a batch runs alone. If a shared batch fails, each of its jobs
 * runs again alone, so a poisoned job fails by itself and not its neighbours.
 */
export class CrossJobBatcher {
  private readonly items: Item[] = [];
  private frames = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;

  constructor(private readonly opts: CrossJobBatcherOptions) {}

  /** Frames waiting for a batch to close. */
  get waitingFrames(): number {
    return this.frames;
  }

  infer(frames: readonly Frame[]): Promise<FrameInference[]> {
    return new Promise((resolve, reject) => {
      this.items.push({ frames, at: performance.now(), resolve, reject });
      this.frames += frames.length;
      this.pump();
    });
  }

  private pump(): void {
    while (this.items.length > 0 && this.inFlight < this.opts.maxInFlight) {
      const waited = performance.now() - this.items[0]!.at;
      if (this.frames < this.opts.batch && waited < this.opts.maxWaitMs) {
        // Wait for more frames, but never longer than maxWaitMs after the first.
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, this.opts.maxWaitMs - waited);
        return;
      }
      this.flush();
    }
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const taken: Item[] = [];
    let count = 0;
    while (this.items.length > 0) {
      const next = this.items[0]!;
      if (taken.length > 0 && count + next.frames.length > this.opts.batch) break;
      taken.push(this.items.shift()!);
      count += next.frames.length;
    }
    this.frames -= count;
    this.inFlight++;
    void this.run(taken).finally(() => {
      this.inFlight--;
      this.pump();
    });
  }

  private async run(items: Item[]): Promise<void> {
    try {
      const result = await this.opts.runner.infer(items.flatMap((i) => i.frames));
      let offset = 0;
      for (const item of items) {
        item.resolve(result.frames.slice(offset, offset + item.frames.length));
        offset += item.frames.length;
      }
    } catch (err) {
      if (items.length === 1) {
        items[0]!.reject(err);
        return;
      }
      // Which job broke the batch is unknown: each runs again alone.
      await Promise.all(
        items.map(async (item) => {
          try {
            item.resolve((await this.opts.runner.infer(item.frames)).frames);
          } catch (e) {
            item.reject(e);
          }
        }),
      );
    }
  }
}
