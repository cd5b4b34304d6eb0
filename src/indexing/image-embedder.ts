/**
 * The ImageEmbedder of search by picture (CLI and HTTP): loads the model the
 * index was made with (or the one given), runs it in an inference engine and
 * embeds the picture as a video frame is embedded (image-query.ts).
 *
 * - `createImageEmbedder`: one engine per query, closed after it. For the
 *   CLI, which embeds one picture and exits: nothing stays loaded.
 * - `ReusableImageEmbedder`: for a server (serve --index, POST /api/search).
 *   The engine starts on the first picture, not with the server, and stays
 *   for the next ones, one picture at a time; `close()` at shutdown.
 */
import { statSync } from 'node:fs';
import { InferenceEngine } from '../inference/inference-engine.ts';
import { loadModel, modelIdentity, requireEmbedding, type LoadedModel } from '../inference/model-loader.ts';
import type { PreprocessOverrides } from '../contracts/preprocess.ts';
import { resolveModel } from '../inference/model-registry.ts';
import type { DeviceChoice } from '../inference/ort-session.ts';
import { InferenceError } from '../shared/errors.ts';
import type { Metrics } from '../shared/metrics.ts';
import { embedImage, type PictureInput, type PictureLimits } from './image-query.ts';
import type { ImageEmbedder } from './search-runner.ts';

export interface ImageEmbedderOptions {
  /** A registry name or file instead of the index's own model. */
  model?: string | undefined;
  labelsFile?: string | undefined;
  cacheDir?: string | undefined;
  /** Default `cpu`. */
  device?: DeviceChoice;
  /** ONNX Runtime intra-op threads; 0 = one per physical core this process may use (within a cgroup v2 CPU quota). Default 1 (a query must not take the cores of live inference). */
  threads?: number;
  /** Largest picture decoded, pixels (width x height; config `decode.maxPixels`). Checked from the header, before decoding. */
  maxPixels: number;
  /** Largest picture file read, bytes (a picture given by its path; config `search.maxImageBytes`). */
  maxBytes: number;
}

function limitsOf(options: ImageEmbedderOptions): PictureLimits {
  return { maxPixels: options.maxPixels, maxBytes: options.maxBytes };
}

interface Loaded {
  model: LoadedModel;
  engine: InferenceEngine;
  /** The model and preprocessing identity, as the index stores it (modelIdentity). */
  modelHash: string;
}

async function startEngine(nameOrPath: string, options: ImageEmbedderOptions, preprocess: PreprocessOverrides | undefined): Promise<Loaded> {
  const model = loadModel(nameOrPath, {
    ...(options.labelsFile === undefined ? {} : { labelsFile: options.labelsFile }),
    ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
    ...(preprocess === undefined ? {} : { preprocess: [{ origin: 'the index (preprocessing its frames were made with)', values: preprocess }] }),
  });
  requireEmbedding(model, 'search by picture');
  // Hashed before the engine starts: starting it transfers the model's bytes to the inference thread.
  const modelHash = modelIdentity(model);
  const engine = await InferenceEngine.start(model, { device: options.device ?? 'cpu', threads: options.threads ?? 1, topK: 1, embeddings: true });
  return { model, engine, modelHash };
}

/** One engine per query: started, used once, closed. */
export function createImageEmbedder(options: ImageEmbedderOptions): ImageEmbedder {
  return async (picture, modelPath, preprocess) => {
    const { model, engine, modelHash } = await startEngine(options.model ?? modelPath, options, preprocess);
    try {
      return { ...(await embedImage(picture, model.preprocess, engine, limitsOf(options))), modelHash };
    } finally {
      await engine.close();
    }
  };
}

export interface ReusableImageEmbedderOptions extends ImageEmbedderOptions {
  /** Counts engine starts (streamsight_search_image_engine_starts_total). */
  metrics?: Metrics | undefined;
}

/** What a model file looked like when its engine started: a change on disk starts a new one. */
function fileStamp(path: string): string {
  const s = statSync(path, { throwIfNoEntry: false });
  return s === undefined ? 'missing' : `${s.size}:${s.mtimeMs}`;
}

/**
 * Keeps one inference engine between pictures. Starting one costs a model
 * load and an ONNX session (about a second for resnet50), far more than
 * embedding a picture; so the first picture starts it and the next ones reuse
 * it. Pictures are embedded one at a time, in arrival order. The engine is
 * replaced when the model asked for changes (another index model) or its file
 * changed on disk, and dropped after an inference failure (a crashed thread),
 * so the next picture starts a fresh one.
 */
export class ReusableImageEmbedder {
  private current: { key: string; stamp: string; loaded: Promise<Loaded> } | undefined;
  private turn: Promise<unknown> = Promise.resolve();
  private closed = false;
  private closing: Promise<void> | undefined;
  private started = 0;

  constructor(private readonly options: ReusableImageEmbedderOptions) {}

  /** Engines started so far (a reused engine is not counted again). */
  get enginesStarted(): number {
    return this.started;
  }

  /** 1 while an engine is loaded (or starting), else 0. */
  get enginesOpen(): number {
    return this.current === undefined ? 0 : 1;
  }

  /** The ImageEmbedder to hand to runSearch / createSearchRoute. */
  readonly embed: ImageEmbedder = (picture, modelPath, preprocess) => {
    const run = this.turn.then(() => this.embedOne(picture, modelPath, preprocess));
    this.turn = run.catch(() => undefined);
    return run;
  };

  private async embedOne(
    picture: PictureInput,
    modelPath: string,
    preprocess: PreprocessOverrides | undefined,
  ): Promise<{ embedding: Float32Array; modelHash: string; damage?: string }> {
    if (this.closed) throw new InferenceError('image embedder is closed');
    const { model, engine, modelHash } = await this.engineFor(this.options.model ?? modelPath, preprocess);
    try {
      return { ...(await embedImage(picture, model.preprocess, engine, limitsOf(this.options))), modelHash };
    } catch (err) {
      // Not the picture's fault (that is a decode error): the engine may be dead; start a new one next time.
      if (err instanceof InferenceError) await this.drop();
      throw err;
    }
  }

  private async engineFor(name: string, preprocess: PreprocessOverrides | undefined): Promise<Loaded> {
    const key = preprocess === undefined ? name : `${name} ${JSON.stringify(preprocess)}`;
    const current = this.current;
    if (current !== undefined && current.key === key) {
      const loaded = await current.loaded;
      if (fileStamp(loaded.model.path) === current.stamp) return loaded;
    }
    await this.drop();
    if (this.closed) throw new InferenceError('image embedder is closed');
    // Stamped before the model is read: a file written during the load is seen as changed next time.
    const stamp = fileStamp(resolveModel(name, this.options.cacheDir === undefined ? {} : { cacheDir: this.options.cacheDir }).path);
    const entry = { key, stamp, loaded: startEngine(name, this.options, preprocess) };
    this.current = entry;
    try {
      const loaded = await entry.loaded;
      this.started++;
      this.options.metrics?.searchImageEngineStarts.inc();
      return loaded;
    } catch (err) {
      if (this.current === entry) this.current = undefined;
      throw err;
    }
  }

  /** Closes the current engine, if any; a start that failed leaves nothing to close. */
  private async drop(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (current === undefined) return;
    const loaded = await current.loaded.catch(() => undefined);
    await loaded?.engine.close();
  }

  /**
   * Idempotent. Closes the engine now (also one still starting): a picture
   * being embedded fails with E_INFERENCE, waiting ones fail at once.
   */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= this.drop();
    return this.closing;
  }
}
