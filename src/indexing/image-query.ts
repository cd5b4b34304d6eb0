/**
 * The embedding of a picture given as a query, made exactly as a video
 * frame's: the same ffmpeg filter chain (decodeFrames: rgb conversion,
 * resize of the shorter side, centre crop) and the same inference engine.
 * The picture is decoded as a picture only (picture-decoder.ts): its bytes
 * go to ffmpeg on a pipe, image formats only, its size checked first.
 */
import type { InferenceEngine } from '../inference/inference-engine.ts';
import { frameGeometry, type PreprocessSpec } from '../contracts/preprocess.ts';
import { decodePicture, readPictureFile, type DecodedPicture } from '../ingest/picture-decoder.ts';

/** A query picture, decoded. */
export type QueryImage = DecodedPicture;

/** A picture: its file (read up to `maxBytes`), or its bytes. */
export type PictureInput = string | Uint8Array;

export interface PictureLimits {
  /** Largest picture decoded, pixels (width x height; config `decode.maxPixels`). */
  maxPixels: number;
  /** Largest picture file read, bytes (config `search.maxImageBytes`). */
  maxBytes: number;
}

/** The picture, preprocessed for the model. */
export async function decodeQueryImage(picture: PictureInput, preprocess: PreprocessSpec, limits: PictureLimits): Promise<QueryImage> {
  const bytes = typeof picture === 'string' ? await readPictureFile(picture, limits.maxBytes) : picture;
  return decodePicture(bytes, {
    geometry: frameGeometry(preprocess),
    maxPixels: limits.maxPixels,
    name: typeof picture === 'string' ? picture : 'the picture',
  });
}

/** A picture's embedding, and what was wrong with the picture if it decoded with errors. */
export async function embedImage(
  picture: PictureInput,
  preprocess: PreprocessSpec,
  engine: InferenceEngine,
  limits: PictureLimits,
): Promise<{ embedding: Float32Array; damage?: string }> {
  const { frame, damage } = await decodeQueryImage(picture, preprocess, limits);
  const result = await engine.infer([frame]);
  const embedding = result.frames[0]?.embedding;
  if (!embedding) throw new RangeError('engine: started without embeddings');
  return damage === undefined ? { embedding } : { embedding, damage };
}
