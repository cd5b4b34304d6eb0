/**
 * Class names and preprocessing that travel with a model: label files
 * (text, JSON, Hugging Face config.json), ONNX metadata_props (Ultralytics
 * writes a Python dict repr), and Hugging Face preprocessor_config.json.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { PreprocessOverrides } from '../contracts/preprocess.ts';
import type { PreprocessLayer } from './preprocess-resolve.ts';
import { IMAGENET_CROP_RATIO } from '../contracts/preprocess.ts';
import { InputNotFoundError, ModelInvalidError } from '../shared/errors.ts';

/** The metadata key StreamSight writes (`models import`, `models quantize`): a JSON array of class names. */
export const STREAMSIGHT_LABELS_KEY = 'streamsight.labels';

/** metadata_props keys that may hold class names, most specific first. */
export const LABEL_METADATA_KEYS = [STREAMSIGHT_LABELS_KEY, 'names', 'labels', 'classes', 'id2label', 'class_names'] as const;

/** A synset id in front of the name, as in ImageNet's synset.txt: `n01440764 tench, Tinca tinca`. */
const SYNSET_PREFIX = /^n\d{8}\s+/;

/**
 * Reads class names from a file: one label per line, a JSON array, a JSON
 * `{index: name}` object, or a Hugging Face config.json with `id2label`.
 * Line / array index = class index. Throws InputNotFoundError when the file
 * cannot be read and ModelInvalidError when it holds no usable labels.
 */
export function loadLabels(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputNotFoundError(`cannot read labels file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      cause: err,
    });
  }
  try {
    return parseLabels(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    if (err instanceof ModelInvalidError) {
      throw new ModelInvalidError(`labels file ${file}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** loadLabels without the file: decides the format from the content. */
export function parseLabels(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed === '') throw new ModelInvalidError('no labels (empty)');
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (err) {
      throw new ModelInvalidError(`looks like JSON but does not parse: ${(err as Error).message}`, { cause: err });
    }
    return labelsFromJson(json);
  }
  return labelsFromLines(text);
}

function labelsFromLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
  const blank = lines.findIndex((l) => l.trim() === '');
  if (blank !== -1) {
    // A blank line in the middle would shift every later class by one.
    throw new ModelInvalidError(`line ${blank + 1} is empty; every line must name the class with that index`);
  }
  const labels = lines.map((l) => l.trim());
  return labels.every((l) => SYNSET_PREFIX.test(l)) ? labels.map((l) => l.replace(SYNSET_PREFIX, '')) : labels;
}

/** A JSON value holding labels: an array, an `{index: name}` map, or an object with id2label/names/labels/classes. */
export function labelsFromJson(json: unknown): string[] {
  if (Array.isArray(json)) return labelsFromArray(json);
  if (json !== null && typeof json === 'object') {
    const obj = json as Record<string, unknown>;
    for (const key of LABEL_METADATA_KEYS) {
      if (key in obj) return labelsFromJson(obj[key]);
    }
    return labelsFromIndexMap(obj);
  }
  throw new ModelInvalidError('expected a list of labels or an {index: label} object');
}

function labelsFromArray(values: unknown[]): string[] {
  if (values.length === 0) throw new ModelInvalidError('no labels (empty list)');
  return values.map((v, i) => {
    if (typeof v !== 'string') throw new ModelInvalidError(`label ${i} is not a string`);
    return v;
  });
}

/** `{"0": "a", "1": "b"}` -> ["a", "b"]; indices must be 0..n-1 with no gaps. */
function labelsFromIndexMap(map: Record<string, unknown>): string[] {
  const entries = Object.entries(map);
  if (entries.length === 0) throw new ModelInvalidError('no labels (empty object)');
  const labels: string[] = new Array<string>(entries.length);
  for (const [key, value] of entries) {
    if (!/^\d+$/.test(key)) throw new ModelInvalidError(`label key "${key}" is not a class index`);
    const index = Number(key);
    if (index >= entries.length) {
      throw new ModelInvalidError(`class indices are not 0..${entries.length - 1} (found ${index})`);
    }
    if (typeof value !== 'string') throw new ModelInvalidError(`label ${index} is not a string`);
    labels[index] = value;
  }
  // n distinct keys all below n cover 0..n-1 exactly, unless two spell the same index ("1", "01").
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === undefined) throw new ModelInvalidError(`class index ${i} has no label`);
  }
  return labels;
}

/**
 * Class names from a parsed config.json beside a model: Hugging Face's
 * `id2label`, timm's `label_names`; undefined when it holds neither (a timm
 * config may carry only preprocessing).
 */
export function labelsFromConfigJson(json: unknown): string[] | undefined {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return undefined;
  const obj = json as Record<string, unknown>;
  for (const key of ['id2label', 'label_names'] as const) {
    if (obj[key] === undefined) continue;
    try {
      return labelsFromJson(obj[key]);
    } catch (err) {
      throw new ModelInvalidError(`config.json "${key}": ${(err as Error).message}`, { cause: err });
    }
  }
  return undefined;
}

export interface MetadataLabels {
  labels: string[];
  /** The metadata_props key they came from. */
  key: string;
}

/**
 * Class names from ONNX metadata_props. Understands JSON (array or object)
 * and the Python literal Ultralytics writes (`{0: 'person', 1: 'bicycle'}`),
 * parsed by a small literal parser, never evaluated. Returns undefined when no
 * known key is present; throws ModelInvalidError when one is present but
 * unreadable, so a broken export is not silently shown with index labels.
 */
export function labelsFromMetadata(metadata: Readonly<Record<string, string>>): MetadataLabels | undefined {
  for (const key of LABEL_METADATA_KEYS) {
    const raw = metadata[key];
    if (raw === undefined) continue;
    try {
      return { labels: labelsFromJson(parseLiteral(raw)), key };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new ModelInvalidError(`ONNX metadata "${key}" holds no usable labels: ${reason}`, { cause: err });
    }
  }
  return undefined;
}

/** JSON first; then the Python literal subset. */
function parseLiteral(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    // Not JSON: Ultralytics writes str(dict) with single quotes and int keys.
    return parsePythonLiteral(raw);
  }
}

type PyValue = string | number | PyValue[] | { [key: string]: PyValue };

/**
 * Parses the literal subset Python's repr() gives for label tables: dicts,
 * lists and tuples of ints and strings (single or double quoted, with
 * backslash escapes). Throws ModelInvalidError with the offset on anything else.
 */
export function parsePythonLiteral(src: string): PyValue {
  let pos = 0;
  const fail = (what: string): never => {
    throw new ModelInvalidError(`cannot parse Python literal at offset ${pos}: ${what}`);
  };
  const skipWs = (): void => {
    while (pos < src.length && /\s/.test(src[pos] as string)) pos++;
  };
  const value = (): PyValue => {
    skipWs();
    const c = src[pos];
    if (c === '{') return dict();
    if (c === '[') return list(']');
    if (c === '(') return list(')');
    if (c === "'" || c === '"') return str();
    if (c !== undefined && /[-\d]/.test(c)) return int();
    return fail(c === undefined ? 'unexpected end' : `unexpected "${c}"`);
  };
  const int = (): number => {
    const m = /^-?\d+/.exec(src.slice(pos));
    if (!m) return fail('expected an integer');
    pos += m[0].length;
    return Number(m[0]);
  };
  const str = (): string => {
    const quote = src[pos];
    pos++;
    let out = '';
    while (pos < src.length) {
      const c = src[pos] as string;
      if (c === quote) {
        pos++;
        return out;
      }
      if (c === '\\') {
        const e = src[pos + 1];
        pos += 2;
        if (e === 'n') out += '\n';
        else if (e === 't') out += '\t';
        else if (e === 'r') out += '\r';
        else if (e === 'x' || e === 'u' || e === 'U') {
          const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
          const hex = src.slice(pos, pos + len);
          if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) fail(`bad \\${e} escape`);
          out += String.fromCodePoint(parseInt(hex, 16));
          pos += len;
        } else if (e === '\\' || e === "'" || e === '"') out += e;
        else if (e === undefined) fail('unterminated string');
        else out += `\\${e}`;
        continue;
      }
      out += c;
      pos++;
    }
    return fail('unterminated string');
  };
  const list = (close: string): PyValue[] => {
    pos++;
    const out: PyValue[] = [];
    for (;;) {
      skipWs();
      if (src[pos] === close) {
        pos++;
        return out;
      }
      out.push(value());
      skipWs();
      if (src[pos] === ',') pos++;
      else if (src[pos] !== close) fail(`expected "," or "${close}"`);
    }
  };
  const dict = (): { [key: string]: PyValue } => {
    pos++;
    const out: { [key: string]: PyValue } = {};
    for (;;) {
      skipWs();
      if (src[pos] === '}') {
        pos++;
        return out;
      }
      const key = value();
      if (typeof key !== 'string' && typeof key !== 'number') fail('dict keys must be ints or strings');
      skipWs();
      if (src[pos] !== ':') fail('expected ":"');
      pos++;
      out[String(key)] = value();
      skipWs();
      if (src[pos] === ',') pos++;
      else if (src[pos] !== '}') fail('expected "," or "}"');
    }
  };
  const result = value();
  skipWs();
  if (pos !== src.length) fail('trailing characters');
  return result;
}

const Rgb = z.tuple([z.number(), z.number(), z.number()]);
const HfSize = z.union([
  z.number().int().positive(),
  z.object({ shortest_edge: z.number().int().positive() }),
  z.object({ height: z.number().int().positive(), width: z.number().int().positive() }),
]);

/** The keys of a Hugging Face image processor config that decide the input tensor. */
export const HfPreprocessorConfigSchema = z.looseObject({
  image_processor_type: z.string().optional(),
  feature_extractor_type: z.string().optional(),
  do_resize: z.boolean().optional(),
  size: HfSize.optional(),
  crop_pct: z.number().positive().max(1).nullable().optional(),
  do_center_crop: z.boolean().optional(),
  crop_size: HfSize.optional(),
  do_rescale: z.boolean().optional(),
  rescale_factor: z.number().positive().optional(),
  do_normalize: z.boolean().optional(),
  image_mean: Rgb.optional(),
  image_std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]).optional(),
  resample: z.number().int().optional(),
});
export type HfPreprocessorConfig = z.infer<typeof HfPreprocessorConfigSchema>;

/** PIL resample codes a Hugging Face image processor names (`resample`). */
const PIL_RESAMPLE: Record<number, 'bilinear' | 'bicubic' | undefined> = { 2: 'bilinear', 3: 'bicubic' };

/**
 * Turns a Hugging Face preprocessor_config.json (ConvNext/ResNet, ViT or Bit
 * image processor) into a preprocessing layer. ConvNext rule: below 384 px
 * the shorter side is resized to shortest_edge / crop_pct (floored, as HF
 * does) and centre-cropped to shortest_edge; from 384 px up HF warps
 * straight to a square, as does a `size` of height and width (ViT).
 * `resample` 3 is bicubic, 2 bilinear (PIL's codes). `origin` names the file.
 */
export function preprocessFromHf(config: unknown, origin = 'preprocessor_config.json'): PreprocessLayer {
  const parsed = HfPreprocessorConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelInvalidError(`${origin}: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`, {
      cause: parsed.error,
    });
  }
  const c = parsed.data;
  const kind = c.image_processor_type ?? c.feature_extractor_type ?? 'image processor';
  const values: PreprocessOverrides = {};
  const size = c.size;
  const shortest = typeof size === 'number' ? size : size && 'shortest_edge' in size ? size.shortest_edge : undefined;

  if (c.crop_size !== undefined && c.do_center_crop !== false) {
    // Bit/CLIP style: resize shorter side to size.shortest_edge, then crop to crop_size.
    const crop =
      typeof c.crop_size === 'number'
        ? { height: c.crop_size, width: c.crop_size }
        : 'height' in c.crop_size
          ? c.crop_size
          : { height: c.crop_size.shortest_edge, width: c.crop_size.shortest_edge };
    values.crop = { width: crop.width, height: crop.height };
    values.resize = { shorter: shortest ?? Math.min(crop.width, crop.height) };
  } else if (shortest !== undefined) {
    values.crop = { width: shortest, height: shortest };
    if (shortest < 384) {
      const cropPct = c.crop_pct ?? IMAGENET_CROP_RATIO;
      values.resize = { shorter: Math.floor(shortest / cropPct + 1e-9) };
    } else {
      values.resize = { width: shortest, height: shortest };
    }
  } else if (size !== undefined && typeof size === 'object' && 'height' in size) {
    values.crop = { width: size.width, height: size.height };
    values.resize = { width: size.width, height: size.height };
  }
  if (c.do_resize === false) delete values.resize;
  const resample = c.resample === undefined ? undefined : PIL_RESAMPLE[c.resample];
  if (resample) values.interpolation = resample;
  if (c.do_normalize === false) {
    values.mean = [0, 0, 0];
    values.std = [1, 1, 1];
  } else {
    if (c.image_mean) values.mean = [...c.image_mean];
    if (c.image_std) values.std = [...c.image_std];
  }
  values.scale = c.do_rescale === false ? 1 : (c.rescale_factor ?? 1 / 255);
  values.channelOrder = 'RGB';
  return { origin: `Hugging Face ${origin} (${kind})`, values };
}
