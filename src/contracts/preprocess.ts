/**
 * Preprocessing of one model, from its metadata or the ImageNet default.
 * Geometry is done by ffmpeg; normalisation by inference/normalize.ts.
 */
export interface PreprocessSpec {
  /** Shorter side resized to this (pixels), then centre-cropped. */
  resizeShorter: number;
  inputWidth: number;
  inputHeight: number;
  /** Per-channel mean/std in [0,1] units, RGB order. */
  mean: [number, number, number];
  std: [number, number, number];
  /** Multiplier from a byte to [0,1]; 1/255 for all ResNets we know. */
  scale: number;
  channelOrder: 'RGB' | 'BGR';
  /** Where these values came from, for `models inspect`. */
  source: string;
}

export const IMAGENET_PREPROCESS: PreprocessSpec = Object.freeze({
  resizeShorter: 256,
  inputWidth: 224,
  inputHeight: 224,
  mean: [0.485, 0.456, 0.406] as [number, number, number],
  std: [0.229, 0.224, 0.225] as [number, number, number],
  scale: 1 / 255,
  channelOrder: 'RGB' as const,
  source: 'default (ImageNet evaluation transform)',
});
