/**
 * The ImageEmbedder of search by picture (CLI and HTTP): loads the model the
 * index was made with (or the one given), starts an inference engine, embeds
 * the picture as a video frame is embedded (image-query.ts), and closes the
 * engine. One engine per query: a search by picture is rare next to its
 * model's start (about a second for resnet50), and nothing stays loaded.
 */
import { createHash } from 'node:crypto';
import { InferenceEngine } from '../inference/inference-engine.ts';
import { loadModel } from '../inference/model-loader.ts';
import type { DeviceChoice } from '../inference/ort-session.ts';
import { embedImage } from './image-query.ts';
import type { ImageEmbedder } from './search-runner.ts';

export interface ImageEmbedderOptions {
  /** A registry name or file instead of the index's own model. */
  model?: string | undefined;
  labelsFile?: string | undefined;
  cacheDir?: string | undefined;
  /** Default `cpu`. */
  device?: DeviceChoice;
  /** ONNX Runtime intra-op threads; 0 = its default. Default 1. */
  threads?: number;
}

export function createImageEmbedder(options: ImageEmbedderOptions = {}): ImageEmbedder {
  return async (file, modelPath) => {
    const model = loadModel(options.model ?? modelPath, {
      ...(options.labelsFile === undefined ? {} : { labelsFile: options.labelsFile }),
      ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
    });
    // Hashed before the engine starts: starting it transfers the model's bytes to the inference thread.
    const modelHash = createHash('sha256').update(model.bytes).digest('hex');
    const engine = await InferenceEngine.start(model, { device: options.device ?? 'cpu', threads: options.threads ?? 1, topK: 1, embeddings: true });
    try {
      return { embedding: await embedImage(file, model.preprocess, engine), modelHash };
    } finally {
      await engine.close();
    }
  };
}
