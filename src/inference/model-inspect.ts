import type { PreprocessSpec } from '../contracts/preprocess.ts';
import type { EmbeddingInfo } from './graph-edit.ts';
import { loadModel, type LoadModelOptions } from './model-loader.ts';
import { decodeModel, type ValueInfoProto } from './onnx-proto.ts';
import { precisionOf } from './quantize/metadata-keys.ts';

export interface TensorDescription {
  name: string;
  /** Dimensions; a symbolic one (dynamic batch) is its name, an unknown one null. */
  shape: Array<number | string | null>;
}

export interface ModelReport {
  name: string;
  path: string;
  bytes: number;
  untrained: boolean;
  /** int8: written by `models quantize` (metadata streamsight.precision). */
  precision: 'int8' | 'float32';
  opset: number | null;
  producer: string;
  input: TensorDescription;
  inputLayout: 'NCHW' | 'NHWC';
  /** Outputs of the file as it is on disk (before the embedding output is added). */
  outputs: TensorDescription[];
  classifier: { op: string; name: string };
  classCount: number;
  outputIsProbability: boolean;
  /** The pooled feature and how it was found; null: the model gives labels only. */
  embedding: EmbeddingInfo | null;
  labelsSource: string;
  labelExamples: string[];
  preprocess: PreprocessSpec;
  metadata: Record<string, string>;
}

/** What `models inspect` prints: the file's graph and how StreamSight will use it. */
export function inspectModel(nameOrPath: string, options: LoadModelOptions = {}): ModelReport {
  const model = loadModel(nameOrPath, options);
  // The edited bytes hold the original graph plus one output; describe the original ones.
  const proto = decodeModel(model.bytes);
  const graph = proto.graph!;
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const input = (graph.input ?? []).find((i) => !initializers.has(i.name ?? ''));
  const outputs = (graph.output ?? []).filter((o) => o.name !== model.embeddingName || o.name === model.logitsName);
  const opset = (proto.opset_import ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return {
    name: model.name,
    path: model.path,
    bytes: model.fileBytes,
    untrained: model.untrained,
    precision: precisionOf(model.metadata),
    opset: opset?.version ?? null,
    producer: [proto.producer_name, proto.producer_version].filter(Boolean).join(' '),
    input: describe(input),
    inputLayout: model.inputLayout,
    outputs: outputs.map(describe),
    classifier: model.classifier,
    classCount: model.classCount,
    outputIsProbability: model.alreadyProbabilities,
    embedding: model.embedding,
    labelsSource: model.labelsSource,
    labelExamples: model.labels.slice(0, 3),
    preprocess: model.preprocess,
    metadata: model.metadata,
  };
}

function describe(v: ValueInfoProto | undefined): TensorDescription {
  const dims = v?.type?.tensor_type?.shape?.dim ?? [];
  return {
    name: v?.name ?? '(none)',
    shape: dims.map((d) => (d.dim_value !== undefined && d.dim_value !== null && Number(d.dim_value) > 0 ? Number(d.dim_value) : d.dim_param || null)),
  };
}
