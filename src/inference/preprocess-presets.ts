/**
 * The evaluation transforms of the libraries models come from, by name
 * (`--preset`, `model.preprocess.preset`). Pure.
 */
import { IMAGENET_CROP_RATIO, IMAGENET_PREPROCESS, type PreprocessOverrides, type PresetName } from '../contracts/preprocess.ts';

export { PRESETS, type PresetName } from '../contracts/preprocess.ts';

/** What a preset layer is: where it came from and its values. */
export interface PresetLayer {
  origin: string;
  values: PreprocessOverrides;
}

const IMAGENET_VALUES = { mean: IMAGENET_PREPROCESS.mean, std: IMAGENET_PREPROCESS.std, scale: 1 / 255, channelOrder: 'RGB' } as const;

/**
 * A library's evaluation transform at a crop of width x height (the model's
 * input; 224 when it is symbolic):
 *   ultralytics     classify_transforms: resize floor(size / crop_fraction 1.0), crop size, bilinear, mean 0, std 1
 *   torchvision     IMAGENET1K_V1: resize 256, crop 224, bilinear, ImageNet mean/std
 *   torchvision-v2  IMAGENET1K_V2 (ResNet-50): resize 232, crop 224, bilinear
 *   timm            resolve_data_config defaults: crop_pct 0.875, bicubic, ImageNet mean/std
 *   imagenet        the same as torchvision
 * Other crops keep the preset's ratio of resize to crop.
 */
export function presetLayer(name: PresetName, crop: { width: number; height: number }): PresetLayer {
  const short = Math.min(crop.width, crop.height);
  const origin = `preset ${name}`;
  switch (name) {
    case 'ultralytics':
      return { origin, values: ultralyticsValues(crop.height, crop.width) };
    case 'torchvision-v2':
      return { origin, values: { ...IMAGENET_VALUES, crop, resize: { shorter: Math.round((short * 232) / 224) }, interpolation: 'bilinear' } };
    case 'timm':
      return { origin, values: { ...IMAGENET_VALUES, crop, resize: { shorter: Math.floor(short / 0.875) }, interpolation: 'bicubic' } };
    case 'torchvision':
    case 'imagenet':
      return { origin, values: { ...IMAGENET_VALUES, crop, resize: { shorter: Math.round(short / IMAGENET_CROP_RATIO) }, interpolation: 'bilinear' } };
  }
}

/** Ultralytics' classify_transforms(size, crop_fraction=1.0): mean 0, std 1, bilinear. */
export function ultralyticsValues(height: number, width: number, cropFraction = 1): PreprocessOverrides {
  const scaled = [Math.floor(height / cropFraction), Math.floor(width / cropFraction)] as const;
  return {
    // Square: Resize(int) = shorter side; otherwise Resize((h, w)) = straight to that size.
    resize: scaled[0] === scaled[1] ? { shorter: scaled[0] } : { width: scaled[1], height: scaled[0] },
    crop: { width, height },
    interpolation: 'bilinear',
    mean: [0, 0, 0],
    std: [1, 1, 1],
    scale: 1 / 255,
    channelOrder: 'RGB',
  };
}
