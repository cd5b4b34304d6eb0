/**
 * The embedding of a picture given as a query, made exactly as a video
 * frame's: the same ffmpeg filter chain (decodeFrames: rgb conversion,
 * resize of the shorter side, centre crop) and the same inference engine.
 */
import { randomUUID } from 'node:crypto';
import type { Frame } from '../contracts/frame.ts';
import { decodeFrames } from '../ingest/file-decoder.ts';
import type { InferenceEngine } from '../inference/inference-engine.ts';
import type { PreprocessSpec } from '../contracts/preprocess.ts';
import { NotAVideoError } from '../shared/errors.ts';

/** The first frame of `file` (a picture, or a video), preprocessed for the model. */
export async function decodeQueryImage(file: string, preprocess: PreprocessSpec): Promise<Frame> {
  const decode = decodeFrames(file, {
    streamId: file, runId: randomUUID(), sampling: { mode: 'every' },
    geometry: { resizeShorter: preprocess.resizeShorter, cropWidth: preprocess.inputWidth, cropHeight: preprocess.inputHeight },
  });
  for await (const frame of decode) return frame; // leaving the loop stops ffmpeg
  throw new NotAVideoError(`${file}: no picture decoded`);
}

export async function embedImage(file: string, preprocess: PreprocessSpec, engine: InferenceEngine): Promise<Float32Array> {
  const frame = await decodeQueryImage(file, preprocess);
  const result = await engine.infer([frame]);
  const embedding = result.frames[0]?.embedding;
  if (!embedding) throw new RangeError('engine: started without embeddings');
  return embedding;
}
