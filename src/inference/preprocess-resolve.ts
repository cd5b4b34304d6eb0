/**
 * Settles a model's preprocessing from its sources, field by field: the
 * first source that sets a field wins. The order callers pass: flags, the
 * config (`sources[].model.preprocess`, then `model.preprocess`), the
 * registry entry, the model's own metadata (streamsight.preprocess,
 * Ultralytics, timm config.json, Hugging Face preprocessor_config.json),
 * then the ImageNet default at the model's input size. Pure.
 */
import {
  IMAGENET_CROP_RATIO,
  IMAGENET_PREPROCESS,
  PREPROCESS_FIELDS,
  PreprocessOverridesSchema,
  describeResize,
  type PreprocessField,
  type PreprocessOverrides,
  type PreprocessSpec,
} from '../contracts/preprocess.ts';
import { ModelInvalidError, UsageError } from '../shared/errors.ts';
import { presetLayer } from './preprocess-presets.ts';

/** What one source says, and its name for `models inspect`. */
export interface PreprocessLayer {
  origin: string;
  values: PreprocessOverrides;
}

/** What the graph itself fixes: the input's layout and size where they are not symbolic. */
export interface ModelInput {
  layout: 'NCHW' | 'NHWC' | null;
  height: number | null;
  width: number | null;
}

/**
 * Checks a layer against the schema (a config or metadata value may be
 * anything); throws ConfigError-like UsageError naming the origin and key.
 */
export function checkedLayer(origin: string, values: unknown): PreprocessLayer {
  const parsed = PreprocessOverridesSchema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    throw new ModelInvalidError(`preprocessing from ${origin}: ${where}${issue?.message ?? 'invalid'}`, { cause: parsed.error });
  }
  return { origin, values: parsed.data };
}

/**
 * The settled preprocessing. Throws UsageError when the result cannot feed
 * the model: a crop that is not the model's fixed input size, a crop larger
 * than the resize, a layout the input's shape contradicts.
 */
export function resolvePreprocess(layers: readonly PreprocessLayer[], input: ModelInput): PreprocessSpec {
  const picked: Partial<Record<PreprocessField, { value: unknown; origin: string }>> = {};
  for (const layer of expandPresets(layers, input)) {
    for (const field of PREPROCESS_FIELDS) {
      const value = layer.values[field];
      if (value !== undefined && picked[field] === undefined) picked[field] = { value, origin: layer.origin };
    }
  }
  // The graph's own input shape says the layout, when it is not symbolic.
  if (picked.layout === undefined && input.layout !== null) picked.layout = { value: input.layout, origin: "the model's input shape" };
  const fallback = defaultLayer(input, picked.crop?.value as PreprocessOverrides['crop']);
  for (const field of PREPROCESS_FIELDS) {
    const value = fallback.values[field];
    if (picked[field] === undefined && value !== undefined) picked[field] = { value, origin: fallback.origin };
  }
  const get = <K extends PreprocessField>(field: K): Required<PreprocessOverrides>[K] => picked[field]!.value as Required<PreprocessOverrides>[K];
  const origins = Object.fromEntries(PREPROCESS_FIELDS.map((f) => [f, picked[f]!.origin])) as Record<PreprocessField, string>;
  const crop = get('crop');
  const resize = get('resize');
  const spec: PreprocessSpec = {
    resize,
    inputWidth: crop.width,
    inputHeight: crop.height,
    interpolation: get('interpolation'),
    mean: [...get('mean')],
    std: [...get('std')],
    scale: get('scale'),
    channelOrder: get('channelOrder'),
    layout: get('layout'),
    origins,
    source: [...new Set(PREPROCESS_FIELDS.map((f) => origins[f]))].join('; '),
  };
  checkFits(spec, input);
  return spec;
}

/** Each layer naming a preset is followed by the preset's values, for the fields it leaves out. */
function expandPresets(layers: readonly PreprocessLayer[], input: ModelInput): PreprocessLayer[] {
  return layers.flatMap((layer) => {
    const { preset } = layer.values;
    if (preset === undefined) return [layer];
    const crop = layer.values.crop ?? { width: input.width ?? IMAGENET_PREPROCESS.inputWidth, height: input.height ?? IMAGENET_PREPROCESS.inputHeight };
    const expanded = presetLayer(preset, crop);
    return [layer, { origin: `${expanded.origin} (${layer.origin})`, values: expanded.values }];
  });
}

/** ImageNet's transform at the model's input size (224 when symbolic), the crop ratio kept for other sizes. */
function defaultLayer(input: ModelInput, crop: PreprocessOverrides['crop'] | undefined): PreprocessLayer {
  const width = crop?.width ?? input.width ?? IMAGENET_PREPROCESS.inputWidth;
  const height = crop?.height ?? input.height ?? IMAGENET_PREPROCESS.inputHeight;
  const shorter = Math.round(Math.min(width, height) / IMAGENET_CROP_RATIO);
  return {
    origin: IMAGENET_PREPROCESS.source,
    values: {
      resize: { shorter },
      crop: { width, height },
      interpolation: IMAGENET_PREPROCESS.interpolation,
      mean: IMAGENET_PREPROCESS.mean,
      std: IMAGENET_PREPROCESS.std,
      scale: IMAGENET_PREPROCESS.scale,
      channelOrder: IMAGENET_PREPROCESS.channelOrder,
      layout: input.layout ?? 'NCHW',
    },
  };
}

function checkFits(spec: PreprocessSpec, input: ModelInput): void {
  const { inputWidth: w, inputHeight: h, resize } = spec;
  const at = (f: PreprocessField): string => ` (${f} from ${spec.origins[f]})`;
  if ((input.width !== null && input.width !== w) || (input.height !== null && input.height !== h)) {
    throw new UsageError(`crop ${w}x${h}${at('crop')} does not match the model's input ${input.width ?? '?'}x${input.height ?? '?'}`);
  }
  const tooBig = 'shorter' in resize ? w > resize.shorter || h > resize.shorter : w > resize.width || h > resize.height;
  if (tooBig) throw new UsageError(`crop ${w}x${h}${at('crop')} is larger than the resize to ${describeResize(resize)}${at('resize')}`);
  if (input.layout !== null && input.layout !== spec.layout) {
    throw new UsageError(`layout ${spec.layout}${at('layout')} contradicts the model's input, which is ${input.layout}`);
  }
}
