/**
 * Per-stream model options (config `sources[].model`, POST /api/streams
 * `model`): which model a stream runs on, and how its results are
 * published. Pure.
 */
import type { PreprocessOverrides } from '../contracts/preprocess.ts';

export interface StreamModelOptions {
  /** Registry name or .onnx file; default: the pipeline's model. Another one gets its own engine (src/pipeline/model-engines.ts). */
  name?: string | undefined;
  /** This stream's own preprocessing, over the model's (another engine for the same model). */
  preprocess?: PreprocessOverrides | undefined;
  /** Labels published per frame at most; inference computes labelsComputed(model.topK) of them in every mode, so more is that many. */
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

/** Labels every result carries at least (the WebSocket feed's `topK` filter goes up to this). */
export const MIN_LABELS_COMPUTED = 5;

/**
 * Labels inference computes per frame, in every mode (the embedded engine,
 * the jobs `ingest` and `serve --redis` send to workers): the configured
 * `model.topK`, and never fewer than MIN_LABELS_COMPUTED, so that a stream's
 * own `topK` and a client's filter have them to choose from.
 */
export function labelsComputed(topK: number): number {
  return Math.max(topK, MIN_LABELS_COMPUTED);
}
