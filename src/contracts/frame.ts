import type { Interpolation, ResizeSpec } from './preprocess.ts';

/**
 * A decoded, sampled frame as it leaves ffmpeg: already resized and
 * centre-cropped to the model's input size, packed rgb24 (HWC, 3 bytes/pixel).
 * Identity is (streamId, runId, seq); see docs/ARCHITECTURE.md "Frame semantics".
 */
export interface Frame {
  streamId: string;
  /** Changes each time the stream's decoder (re)starts. */
  runId: string;
  /** Counts from 0 within a run. */
  seq: number;
  /** Presentation time in the source, milliseconds. */
  ptsMs: number;
  /** Wall clock (epoch ms) when the frame left ffmpeg. */
  capturedAt: number;
  width: number;
  height: number;
  /** rgb24, width * height * 3 bytes. */
  data: Buffer;
}

/** How frames are picked from a source. */
export type Sampling = { mode: 'fps'; fps: number } | { mode: 'every' } | { mode: 'keyframes' };

/** The geometry ffmpeg applies before frames reach inference. */
export interface FrameGeometry {
  /** Shorter side to N (longer truncated), or straight to width x height. */
  resize: ResizeSpec;
  /** Centre crop of the resized picture. */
  cropWidth: number;
  cropHeight: number;
  /** Resize filter; default bilinear. */
  interpolation?: Interpolation | undefined;
  /**
   * Resize and convert to RGB in one swscale pass, from YUV (config
   * `live.fastScale`): a fraction of the CPU per frame, a little further
   * from the PIL reference (see ingest/ffmpeg-args.ts). Default false.
   */
  fastScale?: boolean | undefined;
}
