/**
 * "Infer these frames": the one seam between the stages that decode and
 * the ones that run the model. The in-process InferenceEngine (a worker
 * thread) and, with `--redis`, the workers behind RemoteInference both
 * implement it, so analyze and index are the same code in both transports.
 */
import type { Frame } from '../contracts/frame.ts';
import type { ScoredClass } from './postprocess.ts';

/** One frame's answer: its top classes, and its L2-normalised embedding when asked for. */
export interface FrameInference {
  top: ScoredClass[];
  embedding?: Float32Array;
}

/**
 * A batch's answer, in the batch's order: per frame its inference, or
 * undefined where the frame was lost (`lost`: index in the batch -> reason;
 * only the workers over Redis lose frames, past every resend).
 */
export interface InferredBatch {
  readonly frames: readonly (FrameInference | undefined)[];
  readonly lost?: ReadonlyMap<number, string>;
}

export interface BatchInferer {
  /** The execution provider (`cpu`, `cuda`) or `remote`. */
  readonly provider: string;
  /** Infers one batch of frames (already at the model's input size); rejects when the batch cannot be run at all. */
  infer(frames: readonly Frame[]): Promise<InferredBatch>;
}
