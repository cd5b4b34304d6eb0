/**
 * A session that takes frames the way the inference thread feeds them: the
 * model with the frames prefix in front of its input (input-prefix.ts: uint8
 * NHWC bytes, cast, scaled, normalised and laid out in the graph), so
 * calibration and the agreement report see exactly what inference sees.
 */
import * as ort from 'onnxruntime-node';
import type { PreprocessSpec } from '../../contracts/preprocess.ts';
import { prefixFramesInput } from '../input-prefix.ts';
import { openSession } from '../ort-session.ts';

export interface FramesSession {
  run(frames: readonly { data: Uint8Array }[], fetches: readonly string[]): Promise<ort.InferenceSession.OnnxValueMapType>;
  release(): Promise<void>;
}

export async function openFramesSession(modelBytes: Uint8Array, inputName: string, spec: PreprocessSpec, threads: number): Promise<FramesSession> {
  const prefixed = prefixFramesInput(modelBytes, inputName, spec);
  const { session } = await openSession(prefixed.bytes, { device: 'cpu', threads });
  const { inputWidth: w, inputHeight: h } = spec;
  const frameBytes = w * h * 3;
  return {
    run(frames, fetches) {
      const pixels = new Uint8Array(frames.length * frameBytes);
      frames.forEach((f, i) => pixels.set(f.data.subarray(0, frameBytes), i * frameBytes));
      return session.run({ [prefixed.inputName]: new ort.Tensor('uint8', pixels, [frames.length, h, w, 3]) }, [...fetches]);
    },
    release: () => session.release(),
  };
}
