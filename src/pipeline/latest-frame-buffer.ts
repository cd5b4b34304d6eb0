import type { Frame } from '../contracts/frame.ts';

/**
 * A live stream's frames waiting for inference. Bounded: when full, the
 * oldest waiting frame is dropped and counted (latest-frame semantics), so a
 * slow model never builds up latency or memory.
 */
export class LatestFrameBuffer {
  private readonly frames: Frame[] = [];
  /** Frames dropped because the buffer was full. */
  dropped = 0;

  /** @param capacity frames held at most (>= 1). */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be an integer >= 1, got ${capacity}`);
  }

  get length(): number {
    return this.frames.length;
  }

  /** Adds a frame; returns the frame it dropped to make room, if any. */
  push(frame: Frame): Frame | undefined {
    let evicted: Frame | undefined;
    if (this.frames.length >= this.capacity) {
      evicted = this.frames.shift();
      this.dropped++;
    }
    this.frames.push(frame);
    return evicted;
  }

  /** Takes up to `max` frames, oldest first. */
  take(max: number): Frame[] {
    return this.frames.splice(0, Math.max(0, max));
  }

  /** Drops everything (stream removed or restarted); they count as dropped. */
  clear(): number {
    const n = this.frames.length;
    this.frames.length = 0;
    this.dropped += n;
    return n;
  }
}
