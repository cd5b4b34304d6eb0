import type { PreprocessSpec } from '../contracts/preprocess.ts';
import type { DeviceChoice, ExecutionProvider } from './ort-session.ts';

/** Messages between the main thread and the inference worker thread. */

export interface InitMessage {
  type: 'init';
  /** The edited model (logits + embedding outputs). Transferred, not copied. */
  model: ArrayBuffer;
  inputName: string;
  logitsName: string;
  /** Null for a labels-only model: no embedding is fetched. */
  embeddingName: string | null;
  alreadyProbabilities: boolean;
  preprocess: PreprocessSpec;
  device: DeviceChoice;
  threads: number;
  topK: number;
  embeddings: boolean;
}

export interface RunMessage {
  type: 'run';
  id: number;
  /** `count` packed rgb24 frames of inputWidth x inputHeight. Transferred. */
  pixels: ArrayBuffer;
  count: number;
}

export type ToWorker = InitMessage | RunMessage | { type: 'close' };

export interface ReadyMessage {
  type: 'ready';
  provider: ExecutionProvider;
  fallbackReason?: string;
}

export interface ResultMessage {
  type: 'result';
  id: number;
  /** Per frame: top-k class indices and scores, flattened (count * k). */
  indices: Int32Array;
  scores: Float32Array;
  k: number;
  /** count * dim L2-normalised floats when embeddings were asked for. */
  embeddings?: Float32Array;
  embeddingDim: number;
  /** Time of session.run alone, milliseconds. */
  runMs: number;
  /** Run (the graph normalises) + post-processing, milliseconds. */
  totalMs: number;
}

export interface FailedMessage {
  type: 'failed';
  /** Absent when init failed. */
  id?: number;
  code: string;
  message: string;
}

export type FromWorker = ReadyMessage | ResultMessage | FailedMessage;
