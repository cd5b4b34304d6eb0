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

/** A query picture, decoded. */
export interface QueryImage {
  frame: Frame;
  /**
   * Set when ffmpeg reported errors decoding the picture (a truncated or
   * damaged file: the missing part comes out grey): its first error line.
   */
  damage?: string;
}

/** The first frame of `file` (a picture, or a video), preprocessed for the model. */
export async function decodeQueryImage(file: string, preprocess: PreprocessSpec): Promise<QueryImage> {
  const decode = decodeFrames(file, {
    streamId: file, runId: randomUUID(), sampling: { mode: 'every' },
    geometry: { resizeShorter: preprocess.resizeShorter, cropWidth: preprocess.inputWidth, cropHeight: preprocess.inputHeight },
  });
  for await (const frame of decode) {
    // ffmpeg logs a decoding error before the frame it damaged reaches the output, so it is counted by now.
    const { errorLines, firstErrors } = decode.stats;
    return errorLines > 0 ? { frame, damage: `ffmpeg reported ${errorLines} error(s) decoding it (first: ${firstErrors[0] ?? '?'})` } : { frame };
  } // leaving the loop stops ffmpeg
  throw new NotAVideoError(`${file}: no picture decoded`);
}

/** A picture's embedding, and what was wrong with the picture if it decoded with errors. */
export async function embedImage(file: string, preprocess: PreprocessSpec, engine: InferenceEngine): Promise<{ embedding: Float32Array; damage?: string }> {
  const { frame, damage } = await decodeQueryImage(file, preprocess);
  const result = await engine.infer([frame]);
  const embedding = result.frames[0]?.embedding;
  if (!embedding) throw new RangeError('engine: started without embeddings');
  return damage === undefined ? { embedding } : { embedding, damage };
}
