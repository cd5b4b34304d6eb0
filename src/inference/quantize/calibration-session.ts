/**
 * Runs a model in ONNX Runtime on calibration frames with chosen
 * intermediate tensors added as graph outputs, and feeds each batch's values
 * to a TensorStats. Frames go in through the same graph prefix as in the
 * inference thread (frames-session.ts), so calibration sees what inference sees.
 */

import type { PreprocessSpec } from '../../contracts/preprocess.ts';
import { DataType, encodeModel, tensorValueInfo, type GraphProto, type ModelProto } from '../onnx-proto.ts';
import { openFramesSession } from './frames-session.ts';
import type { CalibrationFrame } from './calibration-frames.ts';
import type { TensorStats } from './tensor-stats.ts';

/** A copy of `model` (shallow) that also outputs `names`. */
export function withOutputs(model: ModelProto, names: readonly string[]): ModelProto {
  const graph = model.graph as GraphProto;
  const existing = new Set((graph.output ?? []).map((o) => o.name));
  const extra = names.filter((n) => !existing.has(n)).map((n) => tensorValueInfo(n, DataType.FLOAT, null));
  return { ...model, graph: { ...graph, output: [...(graph.output ?? []), ...extra] } };
}

export interface CollectRunOptions {
  inputName: string;
  preprocess: PreprocessSpec;
  batch: number;
  threads: number;
  onBatch?: (framesDone: number) => void;
}

export async function collectTensorStats(model: ModelProto, frames: readonly CalibrationFrame[], stats: TensorStats, opts: CollectRunOptions): Promise<void> {
  const names = stats.names;
  const session = await openFramesSession(encodeModel(withOutputs(model, names)), opts.inputName, opts.preprocess, opts.threads);
  try {
    for (let start = 0; start < frames.length; start += opts.batch) {
      const chunk = frames.slice(start, start + opts.batch);
      const out = await session.run(chunk, names);
      for (const name of names) {
        const t = out[name]!;
        stats.add(name, t.data as Float32Array, t.dims);
        t.dispose?.();
      }
      opts.onBatch?.(start + chunk.length);
    }
  } finally {
    await session.release();
  }
}
