import type { Frame } from '../contracts/frame.ts';
import type { LatestFrameBuffer } from './latest-frame-buffer.ts';

/**
 * Pure: builds one inference batch from several streams' buffers, round
 * robin from `start`, so one busy stream cannot starve the others.
 * Returns the frames and the index to start from next time.
 */
export function pickBatch(buffers: readonly LatestFrameBuffer[], max: number, start: number): { frames: Frame[]; next: number } {
  const frames: Frame[] = [];
  const n = buffers.length;
  if (n === 0) return { frames, next: 0 };
  let idle = 0;
  let i = start % n;
  // One frame per stream per round until the batch is full or every buffer is empty.
  while (frames.length < max && idle < n) {
    const got = buffers[i]!.take(1);
    if (got.length === 0) idle++;
    else {
      idle = 0;
      frames.push(got[0]!);
    }
    i = (i + 1) % n;
  }
  return { frames, next: i };
}
