import type { Label } from './analyze-output.ts';

/**
 * What inference produces per frame, as every consumer of results (gateway,
 * event detector, indexer) sees it. Identity is (stream, run, seq); consumers
 * are idempotent on it (delivery is at least once in the distributed mode).
 */
export interface FrameResult {
  stream: string;
  run: string;
  seq: number;
  ptsMs: number;
  /** Epoch ms when the frame left ffmpeg. */
  capturedAt: number;
  /** Best first; as many as the pipeline computes (at least 5). */
  labels: Label[];
  /** L2-normalised; present when the pipeline computes embeddings. */
  embedding?: Float32Array;
  /** capturedAt to result, milliseconds. */
  latencyMs: number;
  model: string;
  /**
   * Present and true when the frame was not inferred (`--skip-unchanged`: it
   * did not change since its stream's last inferred frame): labels and
   * embedding are that frame's.
   */
  reused?: true;
}

export type LabelEventKind = 'start' | 'end';

/** A label began or stopped being present on a stream (with hysteresis). */
export interface LabelEvent {
  stream: string;
  label: string;
  kind: LabelEventKind;
  ptsMs: number;
  capturedAt: number;
  /** start: the highest score of the run that started the label; end: the peak over the whole segment. */
  score: number;
}

/** A closed label segment (for analyze output and the index). */
export interface LabelSegment {
  stream: string;
  label: string;
  startMs: number;
  endMs: number;
  peakScore: number;
}

export type StreamState = 'starting' | 'live' | 'reconnecting' | 'ended' | 'failed';

export interface StreamStatus {
  stream: string;
  state: StreamState;
  detail?: string;
}

/** A stream as the gateway lists it (hello message, GET /api/streams). */
export interface StreamInfo {
  id: string;
  state: StreamState;
  /** The model this stream runs on (streams of one `serve` may run on different ones: `model.name`). */
  model: string;
  /** Present and true when this stream's model is untrained (`models synth`): its labels mean nothing. */
  untrained?: boolean;
  /** Sampling rate, frames per second. */
  fps: number;
}
