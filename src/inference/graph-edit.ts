/**
 * The load-time graph edit that gives classification and embedding from one
 * forward pass: the input of the final classifier layer (the pooled feature
 * vector, 512-d for resnet18/34, 2048-d for resnet50+) is added as a second
 * graph output. No re-export is needed.
 *
 * Works on torchvision, ONNX model zoo (v1/v2) and Hugging Face exports: the
 * classifier is found by walking back from the first graph output through
 * Softmax/Identity/Reshape-like nodes to a Gemm, or a MatMul (+ Add).
 */
import { ModelInvalidError } from '../shared/errors.ts';
import {
  DataType,
  attrIntValue,
  decodeModel,
  encodeModel,
  findAttr,
  metadataRecord,
  tensorValueInfo,
  type GraphProto,
  type NodeProto,
  type TensorShapeDimension,
  type ValueInfoProto,
} from './onnx-proto.ts';

export interface EmbeddingModel {
  /** The edited model, ready for InferenceSession.create. */
  bytes: Uint8Array;
  /** The image input: the first graph input that is not an initializer. */
  inputName: string;
  /** From the input's NCHW shape; null where the dim is symbolic. */
  inputShape: { height: number | null; width: number | null; channels: number };
  /**
   * The batch size when the file fixes it (older ONNX Model Zoo exports say
   * 1); null when the batch dimension is dynamic.
   */
  fixedBatch: number | null;
  /** The first graph output: class scores (probabilities if outputIsProbability). */
  logitsName: string;
  /** True when a Softmax sits between the classifier and logitsName. */
  outputIsProbability: boolean;
  /** The classifier's input, now also a graph output: [batch, embeddingDim]. */
  embeddingName: string;
  /** Feature width from the classifier weight; null if the weight is computed. */
  embeddingDim: number | null;
  /** Classifier outputs from its weight (or the output shape); null if unknown. */
  classCount: number | null;
  /** The model's metadata_props (class names, preprocessing hints, ...). */
  metadata: Record<string, string>;
}

/**
 * Nodes that may sit between the classifier and the graph output without
 * changing which tensor is the feature vector.
 */
const AFTER_HEAD = new Set(['Softmax', 'LogSoftmax', 'Identity', 'Reshape', 'Flatten', 'Squeeze', 'Cast']);
const PROBABILITY_OPS = new Set(['Softmax']);
/** Walk-back limit in nodes; real exporters put at most 2-3 after the head. */
const MAX_AFTER_HEAD = 8;

/**
 * Edits an ONNX image classifier so one run returns logits and embedding.
 * Throws ModelInvalidError when the bytes are not an ONNX model, the model
 * has no image input (float32, rank 4, NCHW with 3 channels), or no
 * classifier head can be found.
 */
export function addEmbeddingOutput(modelBytes: Uint8Array): EmbeddingModel {
  const model = decodeModel(modelBytes);
  const graph = model.graph as GraphProto; // decodeModel guarantees a graph
  const constants = constantDims(graph);

  const input = (graph.input ?? []).find((vi) => !constants.has(vi.name ?? ''));
  if (input === undefined || !input.name) throw new ModelInvalidError('model has no inputs (all graph inputs are initializers)');
  const inputShape = checkImageInput(input);

  const output = graph.output?.[0];
  if (output === undefined || !output.name) throw new ModelInvalidError('model has no outputs');

  const head = findClassifier(graph, output.name, constants);
  const outputDims = output.type?.tensor_type?.shape?.dim;
  const classCount = head.classCount ?? dimValue(outputDims?.[outputDims.length - 1]);

  if (head.feature === input.name) {
    throw new ModelInvalidError(`classifier ${head.description} reads the model input directly; no feature extractor`);
  }
  const alreadyOutput = (graph.output ?? []).some((o) => o.name === head.feature);
  if (!alreadyOutput) {
    (graph.output ??= []).push(embeddingValueInfo(graph, head.feature, head.embeddingDim, outputDims?.[0]));
  }

  return {
    bytes: encodeModel(model),
    inputName: input.name,
    inputShape,
    fixedBatch: batchDim(input),
    logitsName: output.name,
    outputIsProbability: head.probability,
    embeddingName: head.feature,
    embeddingDim: head.embeddingDim,
    classCount,
    metadata: metadataRecord(model),
  };
}

function checkImageInput(input: ValueInfoProto): EmbeddingModel['inputShape'] {
  const name = input.name ?? '';
  const tensorType = input.type?.tensor_type;
  if (tensorType === undefined) throw new ModelInvalidError(`input "${name}" is not a tensor`);
  if (tensorType.elem_type !== DataType.FLOAT) {
    throw new ModelInvalidError(`input "${name}" has element type ${elemTypeName(tensorType.elem_type)}, expected float32`);
  }
  const dims = tensorType.shape?.dim;
  if (dims === undefined) throw new ModelInvalidError(`input "${name}" has no shape, expected rank 4 (NCHW)`);
  if (dims.length !== 4) throw new ModelInvalidError(`input "${name}" has rank ${dims.length}, expected rank 4 (NCHW)`);
  const channels = dimValue(dims[1]);
  if (channels !== 3) {
    const hint = dimValue(dims[3]) === 3 ? ' (looks like NHWC)' : '';
    throw new ModelInvalidError(`input "${name}" has ${channels ?? 'unknown'} channels in dim 1, expected 3 (NCHW)${hint}`);
  }
  return { height: dimValue(dims[2]), width: dimValue(dims[3]), channels };
}

function batchDim(input: ValueInfoProto): number | null {
  return dimValue(input.type?.tensor_type?.shape?.dim?.[0]);
}

interface Classifier {
  /** The feature tensor the classifier reads. */
  feature: string;
  embeddingDim: number | null;
  classCount: number | null;
  probability: boolean;
  description: string;
}

function findClassifier(graph: GraphProto, outputName: string, constants: Map<string, number[] | null>): Classifier {
  const producers = new Map<string, NodeProto>();
  for (const node of graph.node ?? []) {
    for (const out of node.output ?? []) producers.set(out, node);
  }

  let probability = false;
  let node = producers.get(outputName);
  for (let steps = 0; node !== undefined && AFTER_HEAD.has(node.op_type ?? ''); steps++) {
    if (steps >= MAX_AFTER_HEAD) break;
    if (PROBABILITY_OPS.has(node.op_type ?? '')) probability = true;
    node = producers.get(node.input?.[0] ?? '');
  }
  const found = node === undefined ? 'nothing' : `${node.op_type ?? '?'} "${node.name ?? ''}"`;
  const refuse = (why: string): never => {
    throw new ModelInvalidError(`no classifier head found: output "${outputName}" comes from ${found}; ${why}`);
  };
  if (node === undefined) return refuse('expected Gemm or MatMul');

  if (node.op_type === 'Gemm') {
    if (attrIntValue(node, 'transA', 0) !== 0) return refuse('Gemm with transA=1 is not a [batch, features] classifier');
    const [a = '', b = ''] = node.input ?? [];
    // The weight is the constant operand; exporters put the features first.
    const featureFirst = !constants.has(a) || constants.has(b);
    const feature = featureFirst ? a : b;
    const weight = constants.get(featureFirst ? b : a) ?? null;
    const transB = attrIntValue(node, 'transB', 0) !== 0;
    // Gemm weight is [K, N], or [N, K] with transB: K features in, N classes out.
    const dims = weight !== null && weight.length === 2 ? (transB ? [weight[1], weight[0]] : weight) : null;
    return { feature, embeddingDim: dims?.[0] ?? null, classCount: dims?.[1] ?? null, probability, description: found };
  }

  let matmul: NodeProto | undefined = node;
  if (node.op_type === 'Add') {
    // MatMul + bias Add: the non-constant Add operand must come from a MatMul.
    const [a = '', b = ''] = node.input ?? [];
    matmul = producers.get(constants.has(a) ? b : a);
  }
  if (matmul?.op_type !== 'MatMul') return refuse('expected Gemm, or MatMul followed by Add');
  const [a = '', b = ''] = matmul.input ?? [];
  const featureFirst = !constants.has(a) || constants.has(b);
  const weight = constants.get(featureFirst ? b : a) ?? null;
  const dims = weight !== null && weight.length === 2 ? weight : null;
  return {
    feature: featureFirst ? a : b,
    embeddingDim: dims?.[0] ?? null,
    classCount: dims?.[1] ?? null,
    probability,
    description: found,
  };
}

/** Names of constant tensors (initializers, Constant outputs) and their dims if known. */
function constantDims(graph: GraphProto): Map<string, number[] | null> {
  const out = new Map<string, number[] | null>();
  for (const t of graph.initializer ?? []) if (t.name) out.set(t.name, t.dims ?? []);
  for (const s of graph.sparse_initializer ?? []) if (s.values?.name) out.set(s.values.name, s.dims ?? null);
  for (const node of graph.node ?? []) {
    if (node.op_type !== 'Constant' || !node.output?.[0]) continue;
    out.set(node.output[0], findAttr(node, 'value')?.t?.dims ?? null);
  }
  return out;
}

function embeddingValueInfo(graph: GraphProto, name: string, embeddingDim: number | null, batchDim: TensorShapeDimension | undefined): ValueInfoProto {
  // Prefer the exporter's own shape annotation for this tensor, and move it:
  // a name listed in both value_info and output is redundant.
  const index = (graph.value_info ?? []).findIndex((vi) => vi.name === name);
  if (index >= 0 && graph.value_info?.[index]?.type?.tensor_type !== undefined) {
    return graph.value_info.splice(index, 1)[0] as ValueInfoProto;
  }
  const batch = batchDim?.dim_param ?? batchDim?.dim_value ?? null;
  return tensorValueInfo(name, DataType.FLOAT, [batch, embeddingDim]);
}

function dimValue(dim: TensorShapeDimension | undefined): number | null {
  return dim?.dim_value !== undefined && dim.dim_value > 0 ? dim.dim_value : null;
}

const ELEM_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  16: 'bfloat16',
};

function elemTypeName(elemType: number | undefined): string {
  return elemType === undefined ? 'unknown' : (ELEM_TYPE_NAMES[elemType] ?? `#${elemType}`);
}
