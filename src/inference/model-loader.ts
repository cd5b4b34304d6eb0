import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { preprocessValues, type PreprocessOverrides } from '../contracts/preprocess.ts';
import { InputNotFoundError, ModelInvalidError } from '../shared/errors.ts';
import { addEmbeddingOutput, type EmbeddingInfo, type EmbeddingModel } from './graph-edit.ts';
import { labelsFromConfigJson, labelsFromMetadata, loadLabels, preprocessFromHf } from './labels.ts';
import { resolvePreprocess, type PreprocessLayer } from './preprocess-resolve.ts';
import { streamsightLayer, timmConfigLayer, ultralyticsLayer } from './preprocess-sources.ts';
import { preprocessFromEntry, resolveModel, type ManifestEntry } from './model-registry.ts';
import type { EngineModel } from './inference-engine.ts';

export interface LoadedModel extends EngineModel {
  /** Registry name, or the file name without `.onnx`. */
  name: string;
  path: string;
  /** Size of the file on disk, bytes. */
  fileBytes: number;
  entry: ManifestEntry | undefined;
  labels: string[];
  labelsSource: string;
  classCount: number;
  /** The classifier's input width; null: the model gives labels only (see requireEmbedding). */
  embeddingDim: number | null;
  /** How the embedding was found (pooling, CLS token, hidden feature); null for labels-only models. */
  embedding: EmbeddingInfo | null;
  /** The layer that gives the class scores. */
  classifier: EmbeddingModel['classifier'];
  /** Where the input's colour channels sit: [N,3,H,W] or [N,H,W,3]. */
  inputLayout: EmbeddingModel['inputLayout'];
  /** Batch size the file fixes (null: dynamic). Callers must not send bigger batches. */
  fixedBatch: number | null;
  /** Made by `models synth`: the labels mean nothing. */
  untrained: boolean;
  metadata: Record<string, string>;
}

export interface LoadModelOptions {
  /** Overrides every other source of class names. */
  labelsFile?: string | undefined;
  /** Folder of downloaded registry models. */
  cacheDir?: string | undefined;
  /**
   * Preprocessing the caller was given (flags, then the config), most
   * specific first; they win over the registry and the model's metadata.
   */
  preprocess?: readonly PreprocessLayer[] | undefined;
}

/** The config keys loadModel reads (Config's shape, without importing the whole schema's type). */
export interface ModelConfigView {
  model: { labels?: string | undefined; preprocess?: PreprocessOverrides | undefined };
  models: { cacheDir?: string | undefined };
}

/** The config's `model.preprocess` as a layer (`--resize` and the other preprocessing flags land there too). */
export const CONFIG_PREPROCESS_ORIGIN = 'config model.preprocess / flags';

/**
 * loadModel's options for the configured model: labels, the cache folder,
 * and `model.preprocess`; `first` (a stream's own preprocessing, or the
 * flags named one by one) goes before the config.
 */
export function modelLoadOptions(config: ModelConfigView, first: readonly PreprocessLayer[] = []): LoadModelOptions {
  const layers = [...first];
  if (config.model.preprocess !== undefined) layers.push({ origin: CONFIG_PREPROCESS_ORIGIN, values: config.model.preprocess });
  return { labelsFile: config.model.labels, cacheDir: config.models.cacheDir, preprocess: layers };
}

/**
 * What an index records as "the model": sha256 of the float model and of the
 * preprocessing it was fed with, so frames made with another transform are
 * neither mixed with these nor taken as up to date.
 */
export function modelIdentity(model: Pick<LoadedModel, 'bytes' | 'preprocess'>): string {
  return createHash('sha256')
    .update(model.bytes)
    .update('\0')
    .update(JSON.stringify(preprocessValues(model.preprocess)))
    .digest('hex');
}

export const IMAGENET_LABELS_FILE = new URL('../../models/imagenet-classes.txt', import.meta.url).pathname;

/**
 * Resolves a registry name or a file, edits the graph so one forward pass
 * yields logits and the pooled embedding, and settles labels and
 * preprocessing. Labels: --labels, config.json beside the file (Hugging
 * Face id2label, timm label_names), the model's metadata, the registry, the
 * ImageNet classes for 1000 outputs. Preprocessing, field by field: the
 * caller's layers (flags, config), the registry entry, the model's own
 * metadata (modelLayers), the ImageNet default (preprocess-resolve.ts).
 */
export function loadModel(nameOrPath: string, options: LoadModelOptions = {}): LoadedModel {
  const resolved = resolveModel(nameOrPath, options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir });
  let raw: Buffer;
  try {
    raw = readFileSync(resolved.path);
  } catch (err) {
    throw new InputNotFoundError(`cannot read model ${resolved.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const edited = addEmbeddingOutput(raw);
  const classCount = edited.classCount;
  const embeddingDim = edited.embeddingDim;
  if (classCount === null || (edited.embedding !== null && embeddingDim === null)) {
    throw new ModelInvalidError(`${basename(resolved.path)}: cannot tell the number of classes or the embedding size from the classifier layer`);
  }
  const beside = dirname(resolved.path);
  const entry = resolved.entry;

  const configFile = join(beside, 'config.json');
  const configJson = existsSync(configFile) ? readJson(configFile) : undefined;
  const { labels, source: labelsSource } = pickLabels(options.labelsFile, configFile, configJson, edited.metadata, resolved.labelsPath, classCount);
  const layers = [...(options.preprocess ?? []), ...(entry ? [preprocessFromEntry(entry)] : []), ...modelLayers(beside, edited.metadata, configJson)];
  const preprocess = resolvePreprocess(layers, { layout: edited.inputLayout, height: edited.inputShape.height, width: edited.inputShape.width });

  return {
    name: entry?.name ?? basename(resolved.path).replace(/\.onnx$/i, ''),
    path: resolved.path,
    fileBytes: raw.length,
    entry,
    bytes: edited.bytes,
    inputName: edited.inputName,
    logitsName: edited.logitsName,
    embeddingName: edited.embeddingName,
    alreadyProbabilities: edited.outputIsProbability ?? false,
    preprocess,
    labels,
    labelsSource,
    classCount,
    embeddingDim,
    embedding: edited.embedding,
    classifier: edited.classifier,
    inputLayout: edited.inputLayout,
    fixedBatch: edited.fixedBatch,
    untrained: edited.metadata['streamsight.untrained'] === 'true',
    metadata: edited.metadata,
  };
}

function pickLabels(
  labelsFile: string | undefined,
  configFile: string,
  configJson: unknown,
  metadata: Record<string, string>,
  registryLabels: string | undefined,
  classCount: number,
): { labels: string[]; source: string } {
  const candidates: Array<[string, () => string[] | undefined]> = [
    [`--labels ${labelsFile}`, () => (labelsFile ? loadLabels(labelsFile) : undefined)],
    [configFile, () => labelsFromConfigJson(configJson)],
    ['model metadata', () => labelsFromMetadata(metadata)?.labels],
    [`registry (${registryLabels})`, () => (registryLabels ? loadLabels(registryLabels) : undefined)],
    ['ImageNet classes (models/imagenet-classes.txt)', () => (classCount === 1000 ? loadLabels(IMAGENET_LABELS_FILE) : undefined)],
  ];
  for (const [source, load] of candidates) {
    const labels = load();
    if (!labels) continue;
    if (labels.length !== classCount) {
      throw new ModelInvalidError(`labels from ${source} have ${labels.length} names but the model has ${classCount} classes`);
    }
    return { labels, source };
  }
  return { labels: Array.from({ length: classCount }, (_, i) => `class_${i}`), source: 'none (class_N)' };
}

/**
 * The model's own preprocessing layers, most specific first: what
 * StreamSight wrote (streamsight.preprocess), an Ultralytics export's
 * metadata, timm's config.json beside the file, Hugging Face's
 * preprocessor_config.json beside it.
 */
function modelLayers(beside: string, metadata: Record<string, string>, configJson: unknown): PreprocessLayer[] {
  const layers: Array<PreprocessLayer | undefined> = [
    streamsightLayer(metadata),
    ultralyticsLayer(metadata),
    timmConfigLayer(configJson, join(beside, 'config.json')),
  ];
  const hf = join(beside, 'preprocessor_config.json');
  if (existsSync(hf)) layers.push(preprocessFromHf(readJson(hf), hf));
  return layers.filter((l): l is PreprocessLayer => l !== undefined);
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ModelInvalidError(`${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The embedding of a model, for commands that need one (index, search by
 * picture, --embeddings). Throws ModelInvalidError, one line, for a model that
 * gives labels only (no pooled feature before its classifier, SqueezeNet-like).
 */
export function requireEmbedding(model: Pick<LoadedModel, 'name' | 'embeddingName' | 'embeddingDim'>, purpose: string): { name: string; dim: number } {
  if (model.embeddingName === null || model.embeddingDim === null) {
    throw new ModelInvalidError(`model "${model.name}" gives labels only (no pooled feature before its classifier): ${purpose} needs embeddings`, {
      hint: 'pick a model with a global pooling or a CLS token before its classifier; see docs/models.md',
    });
  }
  return { name: model.embeddingName, dim: model.embeddingDim };
}
