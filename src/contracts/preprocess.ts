/**
 * Preprocessing of one model as data: how a decoded frame becomes the
 * model's input tensor. Geometry (resize, crop, interpolation) is done by
 * ffmpeg (ingest/ffmpeg-args.ts); the values (scale, mean, std, channel
 * order, layout) by a prefix of the model graph (inference/input-prefix.ts).
 * Where each field came from is settled by inference/preprocess-resolve.ts;
 * docs/models.md lists the sources.
 */
import { z } from 'zod';
import type { FrameGeometry } from './frame.ts';

const side = z.number().int().min(1).max(8192);
const Rgb = z.tuple([z.number().min(-1000).max(1000), z.number().min(-1000).max(1000), z.number().min(-1000).max(1000)]);
const PositiveRgb = z.tuple([z.number().positive().max(1000), z.number().positive().max(1000), z.number().positive().max(1000)]);

/**
 * Shorter side to `shorter` (the longer one scaled and truncated, as
 * torchvision does), or straight to width x height. In config a bare number
 * is the shorter side (so a flag's number replaces a file's {width, height}
 * whole when the layers are merged).
 */
export const ResizeSchema = z.union([
  side.transform((shorter) => ({ shorter })),
  z.object({ shorter: side }).strict(),
  z.object({ width: side, height: side }).strict(),
]);
export type ResizeSpec = z.output<typeof ResizeSchema>;

export const INTERPOLATIONS = ['bilinear', 'bicubic'] as const;

/** Libraries whose evaluation transform has a name (inference/preprocess-presets.ts). */
export const PRESETS = ['ultralytics', 'torchvision', 'torchvision-v2', 'timm', 'imagenet'] as const;
export type PresetName = (typeof PRESETS)[number];
export type Interpolation = (typeof INTERPOLATIONS)[number];

/**
 * Any subset of the preprocessing fields: what one source (flags, config,
 * registry, model metadata, a preset) says. Config `model.preprocess`,
 * `sources[].model.preprocess` and the `streamsight.preprocess` metadata key
 * have this shape.
 */
export const PreprocessOverridesSchema = z
  .object({
    resize: ResizeSchema,
    /** Centre crop to width x height: the model's input size. */
    crop: z.object({ width: side, height: side }).strict(),
    /** Resize filter, with PIL's kernels (bicubic a = -0.5) and antialiasing when shrinking. */
    interpolation: z.enum(INTERPOLATIONS),
    /** Per-channel mean and std in scaled units (after `scale`), RGB order. */
    mean: Rgb,
    std: PositiveRgb,
    /** Multiplier from a byte to the model's unit: 1/255 for [0,1], 1 for raw 0..255. */
    scale: z.number().positive().max(1),
    /** Channel order of the model's input; frames are RGB and are swapped for BGR. */
    channelOrder: z.enum(['RGB', 'BGR']),
    /** Tensor layout of the model's input. */
    layout: z.enum(['NCHW', 'NHWC']),
    /** A library's evaluation transform, for the fields this source leaves out. */
    preset: z.enum(PRESETS),
  })
  .partial()
  .strict();
export type PreprocessOverrides = z.output<typeof PreprocessOverridesSchema>;

export const PREPROCESS_FIELDS = ['resize', 'crop', 'interpolation', 'mean', 'std', 'scale', 'channelOrder', 'layout'] as const;
export type PreprocessField = (typeof PREPROCESS_FIELDS)[number];

/** The settled preprocessing of one model: every field, and where each came from. */
export interface PreprocessSpec {
  resize: ResizeSpec;
  /** The model's input width and height: the centre crop. */
  inputWidth: number;
  inputHeight: number;
  interpolation: Interpolation;
  mean: [number, number, number];
  std: [number, number, number];
  scale: number;
  channelOrder: 'RGB' | 'BGR';
  layout: 'NCHW' | 'NHWC';
  /** Per field, the source that set it (`--resize`, `config model.preprocess`, `Ultralytics metadata`, ...). */
  origins: Record<PreprocessField, string>;
  /** One line for logs: the distinct origins, most specific first. */
  source: string;
}

const IMAGENET_ORIGIN = 'default (ImageNet evaluation transform)';

export const IMAGENET_PREPROCESS: PreprocessSpec = Object.freeze({
  resize: { shorter: 256 },
  inputWidth: 224,
  inputHeight: 224,
  interpolation: 'bilinear' as const,
  mean: [0.485, 0.456, 0.406] as [number, number, number],
  std: [0.229, 0.224, 0.225] as [number, number, number],
  scale: 1 / 255,
  channelOrder: 'RGB' as const,
  layout: 'NCHW' as const,
  origins: Object.fromEntries(PREPROCESS_FIELDS.map((f) => [f, IMAGENET_ORIGIN])) as Record<PreprocessField, string>,
  source: IMAGENET_ORIGIN,
});

/** The centre-crop ratio of the ImageNet evaluation transform (224 of 256). */
export const IMAGENET_CROP_RATIO = 224 / 256;

/** The settled values without provenance: what `streamsight.preprocess` metadata stores. */
export function preprocessValues(spec: PreprocessSpec): Required<Omit<PreprocessOverrides, 'preset'>> {
  return {
    resize: spec.resize,
    crop: { width: spec.inputWidth, height: spec.inputHeight },
    interpolation: spec.interpolation,
    mean: spec.mean,
    std: spec.std,
    scale: spec.scale,
    channelOrder: spec.channelOrder,
    layout: spec.layout,
  };
}

/** What ffmpeg must produce for this model. */
export function frameGeometry(spec: PreprocessSpec): FrameGeometry {
  return { resize: spec.resize, cropWidth: spec.inputWidth, cropHeight: spec.inputHeight, interpolation: spec.interpolation };
}

/** `shorter side 256` / `256x192`, for people. */
export function describeResize(resize: ResizeSpec): string {
  return 'shorter' in resize ? `shorter side ${resize.shorter}` : `${resize.width}x${resize.height}`;
}
