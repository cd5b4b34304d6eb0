import type { Frame } from '../contracts/frame.ts';
import type { FrameLine } from '../contracts/analyze-output.ts';
import type { FrameInference } from '../inference/batch-inferer.ts';

// 1e-6 keeps scores and embedding components well inside float32 precision
// while cutting each 2048-d embedding line by about half.
const PRECISION = 1e6;
const round = (x: number): number => Math.round(x * PRECISION) / PRECISION;

export interface LineContext {
  model: string;
  labels: readonly string[];
  untrained: boolean;
  embeddings: boolean;
}

/** Pure: one inferred frame to its JSON Lines object. */
export function toFrameLine(frame: Frame, result: FrameInference, ctx: LineContext): FrameLine {
  const line: FrameLine = {
    stream: frame.streamId,
    run: frame.runId,
    seq: frame.seq,
    ptsMs: frame.ptsMs,
    labels: result.top.map((c) => ({ index: c.index, label: ctx.labels[c.index] ?? `class_${c.index}`, score: round(c.score) })),
    model: ctx.model,
  };
  if (ctx.untrained) line.untrained = true;
  if (ctx.embeddings && result.embedding) line.embedding = Array.from(result.embedding, round);
  return line;
}
