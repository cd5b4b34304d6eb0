/**
 * Calibration and held-out frames as the inference thread feeds them to the
 * model: rgb24 frames packed back to back, normalised by rgb24ToNchw into one
 * NCHW float32 tensor.
 */
import * as ort from 'onnxruntime-node';
import type { PreprocessSpec } from '../../contracts/preprocess.ts';
import { rgb24ToNchw } from '../normalize.ts';

export function normalizeBatch(frames: readonly { data: Uint8Array }[], spec: PreprocessSpec): ort.Tensor {
  const { inputWidth: w, inputHeight: h } = spec;
  const frameBytes = w * h * 3;
  const pixels = new Uint8Array(frames.length * frameBytes);
  frames.forEach((f, i) => pixels.set(f.data.subarray(0, frameBytes), i * frameBytes));
  return new ort.Tensor('float32', rgb24ToNchw(pixels, frames.length, w, h, spec), [frames.length, 3, h, w]);
}
