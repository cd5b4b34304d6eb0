import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { IMAGENET_PREPROCESS, type PreprocessSpec } from '../contracts/preprocess.ts';
import { InputNotFoundError, ModelInvalidError } from '../shared/errors.ts';
import { addEmbeddingOutput, type EmbeddingInfo, type EmbeddingModel } from './graph-edit.ts';
import { labelsFromMetadata, loadLabels, preprocessFromHf } from './labels.ts';
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
}

export const IMAGENET_LABELS_FILE = new URL('../../models/imagenet-classes.txt', import.meta.url).pathname;

/**
 * Resolves a registry name or a file, edits the graph so one forward pass
 * yields logits and the pooled embedding, and settles labels and
 * preprocessing from (in order) flags, files beside the model (Hugging Face
 * `config.json` / `preprocessor_config.json`), the model's metadata, the
 * registry, and finally the ImageNet defaults.
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

  const { labels, source: labelsSource } = pickLabels(options.labelsFile, beside, edited.metadata, resolved.labelsPath, classCount);
  const preprocess = pickPreprocess(beside, entry, edited.inputShape);

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
  beside: string,
  metadata: Record<string, string>,
  registryLabels: string | undefined,
  classCount: number,
): { labels: string[]; source: string } {
  const candidates: Array<[string, () => string[] | undefined]> = [
    [`--labels ${labelsFile}`, () => (labelsFile ? loadLabels(labelsFile) : undefined)],
    [join(beside, 'config.json'), () => (existsSync(join(beside, 'config.json')) ? loadLabels(join(beside, 'config.json')) : undefined)],
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

function pickPreprocess(beside: string, entry: ManifestEntry | undefined, input: { height: number | null; width: number | null }): PreprocessSpec {
  const hf = join(beside, 'preprocessor_config.json');
  if (existsSync(hf)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(hf, 'utf8'));
    } catch (err) {
      throw new ModelInvalidError(`${hf} is not valid JSON`, { cause: err });
    }
    return preprocessFromHf(parsed, hf);
  }
  if (entry) return preprocessFromEntry(entry);
  const h = input.height ?? IMAGENET_PREPROCESS.inputHeight;
  const w = input.width ?? IMAGENET_PREPROCESS.inputWidth;
  if (h === IMAGENET_PREPROCESS.inputHeight && w === IMAGENET_PREPROCESS.inputWidth) return { ...IMAGENET_PREPROCESS };
  // Same 0.875 crop ratio as 224/256 for other input sizes.
  return {
    ...IMAGENET_PREPROCESS,
    inputWidth: w,
    inputHeight: h,
    resizeShorter: Math.round(Math.min(h, w) / 0.875),
    source: `default ImageNet transform at the model's ${w}x${h} input`,
  };
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
