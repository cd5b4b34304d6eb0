/**
 * Logits and embeddings of a model (as loadModel / addEmbeddingOutput edit
 * it) on a list of frames, for the agreement report; no embeddings for a
 * labels-only model.
 */
import type { PreprocessSpec } from '../../contracts/preprocess.ts';
import type { EmbeddingModel } from '../graph-edit.ts';
import type { ModelOutputs } from './agreement.ts';
import { openFramesSession } from './frames-session.ts';

export interface RunOutputsOptions {
  preprocess: PreprocessSpec;
  batch: number;
  threads: number;
  onBatch?: (framesDone: number) => void;
}

export async function runOutputs(
  model: Pick<EmbeddingModel, 'bytes' | 'inputName' | 'logitsName' | 'embeddingName'>,
  frames: readonly { data: Uint8Array }[],
  opts: RunOutputsOptions,
): Promise<ModelOutputs> {
  const session = await openFramesSession(model.bytes, model.inputName, opts.preprocess, opts.threads);
  const logits: Float32Array[] = [];
  const embeddings: Float32Array[] = [];
  const { embeddingName } = model;
  try {
    for (let start = 0; start < frames.length; start += opts.batch) {
      const chunk = frames.slice(start, start + opts.batch);
      const out = await session.run(chunk, embeddingName === null ? [model.logitsName] : [model.logitsName, embeddingName]);
      logits.push(Float32Array.from(out[model.logitsName]!.data as Float32Array));
      if (embeddingName !== null) embeddings.push(Float32Array.from(out[embeddingName]!.data as Float32Array));
      for (const t of Object.values(out)) t.dispose?.();
      opts.onBatch?.(start + chunk.length);
    }
  } finally {
    await session.release();
  }
  return { logits: concat(logits), embeddings: embeddingName === null ? null : concat(embeddings) };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
