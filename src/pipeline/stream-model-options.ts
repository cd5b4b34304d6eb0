/**
 * Per-stream model options (config `sources[].model`, POST /api/streams
 * `model`): which model a stream runs on, and how its results are
 * published. Pure.
 */
export interface StreamModelOptions {
  /** Registry name or .onnx file; default: the pipeline's model. Another one gets its own engine (src/pipeline/model-engines.ts). */
  name?: string | undefined;
  /** Labels published per frame at most; the engine computes a fixed number (max(model.topK, 5) in serve), so more is that many. */
  topK?: number | undefined;
  /** Labels scoring below this (0..1) are not published, nor seen by the stream's label events. */
  minScore?: number | undefined;
}

/** A frame's labels (best first) as a stream with these options publishes them. Pure. */
export function labelsForStream<T extends { score: number }>(labels: readonly T[], opts: StreamModelOptions | undefined): T[] {
  if (!opts) return [...labels];
  const { topK, minScore } = opts;
  const kept = minScore === undefined ? [...labels] : labels.filter((l) => l.score >= minScore);
  return topK === undefined ? kept : kept.slice(0, topK);
}
