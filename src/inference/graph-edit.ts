/**
 * The load-time graph edit that gives classification and embedding from one
 * forward pass: the input of the final classifier layer (the pooled feature
 * vector, 512-d for resnet18/34, 2048-d for resnet50+, 1280-d for
 * MobileNetV2, the CLS token for a ViT) is added as a second graph output.
 * No re-export is needed.
 *
 * Works on torchvision, timm, ONNX model zoo (v1/v2), Hugging Face and
 * tf2onnx (NHWC input) exports of ResNet, MobileNet, EfficientNet, ConvNeXt
 * and ViT: the classifier is found by walking back from the first graph
 * output through Softmax/Identity/Reshape-like nodes to a Gemm, a MatMul
 * (+ Add), or a 1x1 Conv after the pooling (Keras MobileNet). The embedding is that classifier's input when, walking back from
 * it, a global pooling (or a CLS token picked from the sequence) comes
 * before any other layer; models whose classifier is a convolution before
 * the pooling (SqueezeNet) give labels only.
 */
import { ModelInvalidError } from '../shared/errors.ts';
import {
  DataType,
  attrIntValue,
  attrIntsValue,
  decodeModel,
  encodeModel,
  findAttr,
  metadataRecord,
  tensorToInt64,
  tensorValueInfo,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type TensorShapeDimension,
  type ValueInfoProto,
} from './onnx-proto.ts';

/** How the embedding tensor was found. */
export type EmbeddingKind =
  /** The output of a global pooling, through reshapes/normalisation only. */
  | 'pooling'
  /** The CLS token picked from a transformer's sequence (Gather/Slice on axis 1). */
  | 'cls-token'
  /** A hidden layer's output after the pooling (MobileNetV3's Linear -> Hardswish). */
  | 'feature';

export interface EmbeddingInfo {
  /** The classifier's input, added as a graph output: [batch, dim]. */
  name: string;
  /** Feature width from the classifier weight; null if the weight is computed. */
  dim: number | null;
  kind: EmbeddingKind;
  /** The producing op, for people: `pooled feature of GlobalAveragePool 'x' (1280-d)`. */
  description: string;
}

export interface EmbeddingModel {
  /** The edited model, ready for InferenceSession.create. */
  bytes: Uint8Array;
  /** The image input: the first graph input that is not an initializer. */
  inputName: string;
  /** Where the 3 colour channels sit: [N,3,H,W] (torch) or [N,H,W,3] (TF/Keras). */
  inputLayout: 'NCHW' | 'NHWC';
  /** From the input's shape (either layout); null where the dim is symbolic. */
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
  /** The layer that gives the class scores. */
  classifier: { op: string; name: string };
  /** The pooled feature, or null: the model gives labels only. */
  embedding: EmbeddingInfo | null;
  /** Same as embedding?.name (kept for older callers); null for labels-only models. */
  embeddingName: string | null;
  /** Same as embedding?.dim; null for labels-only models or a computed weight. */
  embeddingDim: number | null;
  /** Classifier outputs from its weight (or the output shape); null if unknown. */
  classCount: number | null;
  /** The model's metadata_props (class names, preprocessing hints, ...). */
  metadata: Record<string, string>;
}

/** What `models inspect` says of a model without an embedding. */
export const LABELS_ONLY = 'labels only: no pooled feature before the classifier';

/**
 * Nodes that may sit between the classifier and the graph output without
 * changing which tensor is the feature vector.
 */
const AFTER_HEAD = new Set(['Softmax', 'LogSoftmax', 'Identity', 'Reshape', 'Flatten', 'Squeeze', 'Cast']);
const PROBABILITY_OPS = new Set(['Softmax']);
/** Walk-back limit in nodes; real exporters put at most 2-3 after the head. */
const MAX_AFTER_HEAD = 8;

/** Global pooling ops: the spatial map (or token sequence) reduced to one vector. */
const POOLING = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'ReduceMean', 'ReduceMax', 'AveragePool', 'MaxPool', 'GlobalLpPool']);
/** Between the pooling and the classifier without making a new feature: reshapes, dropout, normalisation. */
const PASS_THROUGH = new Set([
  'Flatten',
  'Reshape',
  'Squeeze',
  'Unsqueeze',
  'Identity',
  'Dropout',
  'Cast',
  'Transpose',
  'LayerNormalization',
  'BatchNormalization',
  'InstanceNormalization',
  // A LayerNorm written out op by op (opset < 17): the first operand is the data.
  'Add',
  'Sub',
  'Mul',
  'Div',
]);
/** A hidden layer of a multi-layer head (MobileNetV3, VGG): the embedding is its output. */
const HIDDEN = new Set([
  'Gemm',
  'MatMul',
  'Relu',
  'LeakyRelu',
  'HardSwish',
  'HardSigmoid',
  'Sigmoid',
  'Tanh',
  'Gelu',
  'Erf',
  'Clip',
  'Elu',
  'Selu',
  'Mish',
  'Softplus',
]);
/** Between a SqueezeNet-style classifier conv and the output. */
const AFTER_CONV_HEAD = new Set([...POOLING, ...AFTER_HEAD, 'Relu', 'Dropout', 'Transpose']);
/** Walk-back limit from the classifier to the pooling. */
const MAX_TO_POOLING = 24;

/**
 * Edits an ONNX image classifier so one run returns logits and embedding.
 * Throws ModelInvalidError when the bytes are not an ONNX model, the model
 * has no image input (float32, rank 4, NCHW or NHWC with 3 channels), or no
 * classifier head can be found. A model whose classifier has no pooled
 * feature before it is returned unedited with `embedding: null`.
 */
export function addEmbeddingOutput(modelBytes: Uint8Array): EmbeddingModel {
  const model = decodeModel(modelBytes);
  const graph = model.graph as GraphProto; // decodeModel guarantees a graph
  const constants = constantDims(graph);

  const input = (graph.input ?? []).find((vi) => !constants.has(vi.name ?? ''));
  if (input === undefined || !input.name) throw new ModelInvalidError('model has no inputs (all graph inputs are initializers)');
  const { layout, shape: inputShape } = checkImageInput(input);

  const output = graph.output?.[0];
  if (output === undefined || !output.name) throw new ModelInvalidError('model has no outputs');

  const producers = new Map<string, NodeProto>();
  for (const node of graph.node ?? []) {
    for (const out of node.output ?? []) producers.set(out, node);
  }
  const head = findClassifier(producers, output.name, input.name, constants);
  const outputDims = output.type?.tensor_type?.shape?.dim;
  const classCount = head.classCount ?? dimValue(outputDims?.[outputDims.length - 1]);

  let embedding: EmbeddingInfo | null = null;
  if (head.feature !== null) {
    if (head.feature === input.name) {
      throw new ModelInvalidError(`classifier ${head.description} reads the model input directly; no feature extractor`);
    }
    const found = findPooling(head.feature, producers, constants, graph);
    if (found !== null) {
      embedding = { name: head.feature, dim: head.embeddingDim, kind: found.kind, description: describeEmbedding(found, head.embeddingDim) };
      const alreadyOutput = (graph.output ?? []).some((o) => o.name === head.feature);
      if (!alreadyOutput) {
        (graph.output ??= []).push(embeddingValueInfo(graph, head.feature, head.embeddingDim, outputDims?.[0], head.featureIsMap ?? false));
      }
    }
  }

  return {
    bytes: embedding === null ? modelBytes : encodeModel(model),
    inputName: input.name,
    inputLayout: layout,
    inputShape,
    fixedBatch: batchDim(input),
    logitsName: output.name,
    outputIsProbability: head.probability,
    classifier: { op: head.op, name: head.name },
    embedding,
    embeddingName: embedding?.name ?? null,
    embeddingDim: embedding?.dim ?? null,
    classCount,
    metadata: metadataRecord(model),
  };
}

function checkImageInput(input: ValueInfoProto): { layout: EmbeddingModel['inputLayout']; shape: EmbeddingModel['inputShape'] } {
  const name = input.name ?? '';
  const tensorType = input.type?.tensor_type;
  if (tensorType === undefined) throw new ModelInvalidError(`input "${name}" is not a tensor`);
  if (tensorType.elem_type !== DataType.FLOAT) {
    throw new ModelInvalidError(`input "${name}" has element type ${elemTypeName(tensorType.elem_type)}, expected float32`);
  }
  const dims = tensorType.shape?.dim;
  if (dims === undefined) throw new ModelInvalidError(`input "${name}" has no shape, expected rank 4 (NCHW or NHWC)`);
  if (dims.length !== 4) throw new ModelInvalidError(`input "${name}" has rank ${dims.length}, expected rank 4 (NCHW or NHWC)`);
  // [N,3,H,W] wins over [N,H,W,3] when both read 3 (a 3-pixel-high picture is not an image model).
  if (dimValue(dims[1]) === 3) return { layout: 'NCHW', shape: { height: dimValue(dims[2]), width: dimValue(dims[3]), channels: 3 } };
  if (dimValue(dims[3]) === 3) return { layout: 'NHWC', shape: { height: dimValue(dims[1]), width: dimValue(dims[2]), channels: 3 } };
  const shown = dims.map((d) => d.dim_param ?? dimValue(d) ?? '?').join(',');
  throw new ModelInvalidError(`input "${name}" has shape [${shown}]: expected 3 colour channels in dim 1 (NCHW) or dim 3 (NHWC)`);
}

function batchDim(input: ValueInfoProto): number | null {
  return dimValue(input.type?.tensor_type?.shape?.dim?.[0]);
}

interface Classifier {
  /** The feature tensor the classifier reads; null for a convolution classifier over a spatial map (labels only). */
  feature: string | null;
  /** The feature is [batch, dim, 1, 1] (a pooled map read by a 1x1 Conv), not [batch, dim]. */
  featureIsMap?: boolean;
  embeddingDim: number | null;
  classCount: number | null;
  probability: boolean;
  op: string;
  name: string;
  /** `Gemm "fc"`, for messages. */
  description: string;
}

function findClassifier(producers: Map<string, NodeProto>, outputName: string, inputName: string, constants: Map<string, number[] | null>): Classifier {
  let probability = false;
  let node = producers.get(outputName);
  for (let steps = 0; node !== undefined && AFTER_HEAD.has(node.op_type ?? ''); steps++) {
    if (steps >= MAX_AFTER_HEAD) break;
    if (PROBABILITY_OPS.has(node.op_type ?? '')) probability = true;
    node = producers.get(node.input?.[0] ?? '');
  }
  const found = node === undefined ? 'nothing' : nodeLabel(node);
  const refuse = (why: string): never => {
    throw new ModelInvalidError(`no classifier head found: output "${outputName}" comes from ${found}; ${why}`);
  };
  if (node === undefined) return refuse('expected Gemm or MatMul');
  const identity = { op: node.op_type ?? '?', name: node.name || node.output?.[0] || '?', description: found };

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
    return { feature, embeddingDim: dims?.[0] ?? null, classCount: dims?.[1] ?? null, probability, ...identity };
  }

  if (POOLING.has(node.op_type ?? '')) return convClassifier(node, producers, inputName, constants, probability, refuse);
  if (node.op_type === 'Conv') {
    // Keras MobileNet's head: pooling (keepdims) -> 1x1 Conv with one channel per class -> Reshape -> Softmax.
    const weight = constants.get(node.input?.[1] ?? '') ?? null;
    if (weight === null || weight.length !== 4 || weight[2] !== 1 || weight[3] !== 1 || attrIntValue(node, 'group', 1) !== 1) {
      return refuse('expected Gemm, MatMul followed by Add, or a 1x1 Conv classifier');
    }
    return { feature: node.input?.[0] ?? '', featureIsMap: true, embeddingDim: weight[1] ?? null, classCount: weight[0] ?? null, probability, ...identity };
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
    op: 'MatMul',
    name: matmul.name || matmul.output?.[0] || '?',
    description: found,
  };
}

/**
 * SqueezeNet's head: Conv (one channel per class) -> Relu -> global pooling
 * -> Flatten. The conv is the classifier and what it reads is a spatial map,
 * not a pooled vector: such a model gives labels only.
 */
function convClassifier(
  pooling: NodeProto,
  producers: Map<string, NodeProto>,
  inputName: string,
  constants: Map<string, number[] | null>,
  probability: boolean,
  refuse: (why: string) => never,
): Classifier {
  let node: NodeProto | undefined = pooling;
  for (let steps = 0; node !== undefined && AFTER_CONV_HEAD.has(node.op_type ?? '') && steps < MAX_AFTER_HEAD; steps++) {
    node = producers.get(node.input?.[0] ?? '');
  }
  if (node?.op_type !== 'Conv') return refuse('expected Gemm, MatMul followed by Add, or a Conv classifier before the pooling');
  if (node.input?.[0] === inputName) refuse(`the classifier ${nodeLabel(node)} reads the model input directly; no feature extractor`);
  const weight = constants.get(node.input?.[1] ?? '') ?? null;
  return {
    feature: null,
    embeddingDim: null,
    classCount: weight !== null && weight.length === 4 ? (weight[0] ?? null) : null,
    probability,
    op: 'Conv',
    name: node.name || node.output?.[0] || '?',
    description: nodeLabel(node),
  };
}

interface PoolingFound {
  kind: EmbeddingKind;
  /** The pooling or token-picking node. */
  source: NodeProto;
  /** The last hidden layer (kind 'feature'): the node whose output the classifier reads, modulo reshapes. */
  hidden: NodeProto | undefined;
}

/**
 * Walks back from the classifier's input to a global pooling or a CLS-token
 * pick, through reshapes, dropout, normalisation and hidden layers of the
 * head. Null when something else comes first (a convolution, a Flatten of a
 * whole spatial map): there is no pooled vector, the model gives labels only.
 */
function findPooling(feature: string, producers: Map<string, NodeProto>, constants: Map<string, number[] | null>, graph: GraphProto): PoolingFound | null {
  let hidden: NodeProto | undefined;
  let node = producers.get(feature);
  for (let steps = 0; node !== undefined && steps < MAX_TO_POOLING; steps++) {
    const op = node.op_type ?? '';
    if (POOLING.has(op)) return { kind: hidden === undefined ? 'pooling' : 'feature', source: node, hidden };
    if (isClsPick(node, constants, graph)) return { kind: hidden === undefined ? 'cls-token' : 'feature', source: node, hidden };
    if (HIDDEN.has(op)) hidden ??= node;
    else if (!PASS_THROUGH.has(op)) return null;
    node = producers.get(dataOperand(node, constants));
  }
  return null;
}

/** The operand that carries the data: the first non-constant input. */
function dataOperand(node: NodeProto, constants: Map<string, number[] | null>): string {
  const inputs = node.input ?? [];
  return inputs.find((name) => name !== '' && !constants.has(name)) ?? inputs[0] ?? '';
}

/**
 * Token 0 taken from a [batch, tokens, width] sequence: Gather(axis=1,
 * index 0) as torchvision and Hugging Face ViTs export `x[:, 0]`, or
 * Slice(starts 0, ends 1, axes 1) as `x[:, 0:1]`.
 */
function isClsPick(node: NodeProto, constants: Map<string, number[] | null>, graph: GraphProto): boolean {
  const [data = '', second = ''] = node.input ?? [];
  if (constants.has(data)) return false;
  if (node.op_type === 'Gather') {
    if (attrIntValue(node, 'axis', 0) !== 1) return false;
    const index = constantInts(graph, second);
    return index !== null && index.length === 1 && index[0] === 0;
  }
  if (node.op_type === 'Slice') {
    const [, startsName = '', endsName = '', axesName = ''] = node.input ?? [];
    const starts = node.input && node.input.length > 1 ? constantInts(graph, startsName) : attrIntsValue(node, 'starts', []);
    const ends = node.input && node.input.length > 1 ? constantInts(graph, endsName) : attrIntsValue(node, 'ends', []);
    const axes = node.input && node.input.length > 1 ? (axesName ? constantInts(graph, axesName) : null) : attrIntsValue(node, 'axes', []);
    if (starts === null || ends === null) return false;
    const axisList = axes ?? starts.map((_, i) => i);
    const at = axisList.indexOf(1);
    return at >= 0 && starts[at] === 0 && ends[at] === 1;
  }
  return false;
}

/** The values of a small int64/int32 constant (initializer or Constant node), or null. */
function constantInts(graph: GraphProto, name: string): number[] | null {
  if (!name) return null;
  let tensor: TensorProto | undefined = (graph.initializer ?? []).find((t) => t.name === name);
  if (tensor === undefined) {
    const node = (graph.node ?? []).find((n) => n.op_type === 'Constant' && n.output?.[0] === name);
    tensor = node === undefined ? undefined : findAttr(node, 'value')?.t;
    if (tensor === undefined && node !== undefined) {
      const ints = findAttr(node, 'value_ints')?.ints ?? (findAttr(node, 'value_int')?.i !== undefined ? [findAttr(node, 'value_int')!.i!] : undefined);
      return ints ?? null;
    }
  }
  if (tensor === undefined) return null;
  try {
    if (tensor.data_type === DataType.INT64) return tensorToInt64(tensor);
    if (tensor.data_type === DataType.INT32) {
      if (tensor.raw_data !== undefined) return Array.from(new Int32Array(Uint8Array.prototype.slice.call(tensor.raw_data).buffer));
      return [...(tensor.int32_data ?? [])];
    }
  } catch {
    return null;
  }
  return null;
}

function describeEmbedding(found: PoolingFound, dim: number | null): string {
  const width = dim === null ? '' : ` (${dim}-d)`;
  const source = nodeLabel(found.source, "'");
  if (found.kind === 'pooling') return `pooled feature of ${source}${width}`;
  if (found.kind === 'cls-token') return `CLS token picked by ${source}${width}`;
  return `hidden feature of ${nodeLabel(found.hidden!, "'")} after ${source}${width}`;
}

function nodeLabel(node: NodeProto, quote = '"'): string {
  return `${node.op_type ?? '?'} ${quote}${node.name || node.output?.[0] || ''}${quote}`;
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

function embeddingValueInfo(
  graph: GraphProto,
  name: string,
  embeddingDim: number | null,
  batchDim: TensorShapeDimension | undefined,
  isMap: boolean,
): ValueInfoProto {
  // Prefer the exporter's own shape annotation for this tensor, and move it:
  // a name listed in both value_info and output is redundant.
  const index = (graph.value_info ?? []).findIndex((vi) => vi.name === name);
  if (index >= 0 && graph.value_info?.[index]?.type?.tensor_type !== undefined) {
    return graph.value_info.splice(index, 1)[0] as ValueInfoProto;
  }
  const batch = batchDim?.dim_param ?? batchDim?.dim_value ?? null;
  return tensorValueInfo(name, DataType.FLOAT, isMap ? [batch, embeddingDim, 1, 1] : [batch, embeddingDim]);
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
