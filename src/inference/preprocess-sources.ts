/**
 * The preprocessing each kind of model metadata implies, and the presets of
 * the libraries models come from, as layers for preprocess-resolve.ts. Each
 * reader follows its library's documented evaluation transform
 * (docs/models.md). Pure, except timmConfigLayer, which is given parsed JSON.
 */
import { z } from 'zod';
import { IMAGENET_PREPROCESS, type PreprocessOverrides } from '../contracts/preprocess.ts';
import { ModelInvalidError } from '../shared/errors.ts';
import { parsePythonLiteral } from './labels.ts';
import { checkedLayer, IMAGENET_CROP_RATIO, type PreprocessLayer } from './preprocess-resolve.ts';

/** The metadata key StreamSight writes (`models import`, `models quantize`): a JSON PreprocessOverrides. */
export const PREPROCESS_METADATA_KEY = 'streamsight.preprocess';

export const PRESETS = ['ultralytics', 'torchvision', 'torchvision-v2', 'timm', 'imagenet'] as const;
export type PresetName = (typeof PRESETS)[number];

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
export function presetLayer(name: PresetName, crop: { width: number; height: number }): PreprocessLayer {
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
function ultralyticsValues(height: number, width: number, cropFraction = 1): PreprocessOverrides {
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

/**
 * An Ultralytics classifier export: metadata `author` Ultralytics, `task`
 * classify, `imgsz` ([h, w] or an int). Undefined for anything else (a
 * detector is refused later, by the graph check).
 */
export function ultralyticsLayer(metadata: Readonly<Record<string, string>>): PreprocessLayer | undefined {
  if (!/ultralytics/i.test(metadata['author'] ?? '') || metadata['task'] !== 'classify') return undefined;
  const raw = metadata['imgsz'];
  if (raw === undefined) throw new ModelInvalidError('Ultralytics classify model without "imgsz" in its metadata');
  let imgsz: unknown;
  try {
    imgsz = parsePythonLiteral(raw);
  } catch (err) {
    throw new ModelInvalidError(`Ultralytics metadata "imgsz" (${raw}) is not a size: ${(err as Error).message}`, { cause: err });
  }
  const dims = typeof imgsz === 'number' ? [imgsz, imgsz] : imgsz;
  if (!Array.isArray(dims) || dims.length !== 2 || !dims.every((d) => Number.isInteger(d) && (d as number) > 0)) {
    throw new ModelInvalidError(`Ultralytics metadata "imgsz" (${raw}) is not [height, width]`);
  }
  return { origin: 'Ultralytics metadata (classify_transforms)', values: ultralyticsValues(dims[0] as number, dims[1] as number) };
}

/** The `streamsight.preprocess` metadata StreamSight itself writes. */
export function streamsightLayer(metadata: Readonly<Record<string, string>>): PreprocessLayer | undefined {
  const raw = metadata[PREPROCESS_METADATA_KEY];
  if (raw === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ModelInvalidError(`metadata "${PREPROCESS_METADATA_KEY}" is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return checkedLayer(`model metadata ${PREPROCESS_METADATA_KEY}`, json);
}

const Rgb = z.tuple([z.number(), z.number(), z.number()]);
const TimmCfgSchema = z.looseObject({
  input_size: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]).optional(),
  interpolation: z.string().optional(),
  crop_pct: z.number().positive().max(1).optional(),
  crop_mode: z.string().optional(),
  mean: Rgb.optional(),
  std: Rgb.optional(),
});

/**
 * timm's `config.json` (as `push_to_hf_hub` / `save_pretrained` write it):
 * its `pretrained_cfg` (or the same keys at the top) through timm's
 * transforms_factory eval rule: scale_size = floor(img_size / crop_pct)
 * (crop_pct 0.875 when absent), Resize(scale_size) of the shorter side when
 * square (straight to it with crop_mode `squash` or a non-square size),
 * CenterCrop(img_size). Undefined when the JSON is not a timm config.
 */
export function timmConfigLayer(json: unknown, origin: string): PreprocessLayer | undefined {
  if (json === null || typeof json !== 'object') return undefined;
  const obj = json as Record<string, unknown>;
  const cfgRaw = obj['pretrained_cfg'] ?? (obj['input_size'] !== undefined && obj['architecture'] !== undefined ? obj : undefined);
  if (cfgRaw === undefined) return undefined;
  const parsed = TimmCfgSchema.safeParse(cfgRaw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelInvalidError(`${origin}: pretrained_cfg.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`, { cause: parsed.error });
  }
  const cfg = parsed.data;
  const values: PreprocessOverrides = { scale: 1 / 255, channelOrder: 'RGB' };
  if (cfg.input_size) {
    const [channels, height, width] = cfg.input_size;
    if (channels !== 3) throw new ModelInvalidError(`${origin}: pretrained_cfg.input_size has ${channels} channels, expected 3`);
    const cropPct = cfg.crop_pct ?? IMAGENET_CROP_RATIO;
    const scaled = [Math.floor(height / cropPct), Math.floor(width / cropPct)] as const;
    values.crop = { width, height };
    values.resize = cfg.crop_mode === 'squash' || scaled[0] !== scaled[1] ? { width: scaled[1], height: scaled[0] } : { shorter: scaled[0] };
  }
  if (cfg.interpolation !== undefined) {
    if (cfg.interpolation !== 'bilinear' && cfg.interpolation !== 'bicubic') {
      throw new ModelInvalidError(`${origin}: interpolation "${cfg.interpolation}" is not supported (bilinear or bicubic)`);
    }
    values.interpolation = cfg.interpolation;
  }
  if (cfg.mean) values.mean = [...cfg.mean];
  if (cfg.std) values.std = [...cfg.std];
  return checkedLayer(`timm ${origin}`, values);
}
