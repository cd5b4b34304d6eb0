/**
 * The preprocessing each kind of model metadata implies, and the presets of
 * the libraries models come from, as layers for preprocess-resolve.ts. Each
 * reader follows its library's documented evaluation transform
 * (docs/models.md). Pure, except timmConfigLayer, which is given parsed JSON.
 */
import { z } from 'zod';
import { IMAGENET_CROP_RATIO, type PreprocessOverrides } from '../contracts/preprocess.ts';
import { ModelInvalidError } from '../shared/errors.ts';
import { parsePythonLiteral } from './labels.ts';
import { ultralyticsValues } from './preprocess-presets.ts';
import { checkedLayer, type PreprocessLayer } from './preprocess-resolve.ts';

/** The metadata key StreamSight writes (`models import`, `models quantize`): a JSON PreprocessOverrides. */
export const PREPROCESS_METADATA_KEY = 'streamsight.preprocess';

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
