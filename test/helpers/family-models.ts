/**
 * Small UNTRAINED classifiers with the real head topology of each family a
 * user exports to ONNX, for tests of the graph edit (test support only).
 * The body is a couple of convolutions; the head is the op sequence that
 * torch.onnx / tf2onnx write for that family:
 *
 * - `mobilenetv2`: ... Clip(0, 6) -> GlobalAveragePool -> Flatten -> Gemm
 * - `mobilenetv3`: ... GlobalAveragePool -> Flatten -> Gemm -> HardSwish -> (Dropout, gone in eval) -> Gemm
 * - `efficientnet`: squeeze-excitation block (a GlobalAveragePool inside the body), conv head, SiLU
 *   (Sigmoid, Mul) -> GlobalAveragePool -> Flatten -> Gemm (Dropout gone in eval)
 * - `convnext`: patchify stem, LayerNorm2d (Transpose -> LayerNormalization -> Transpose), then
 *   GlobalAveragePool (torchvision) or ReduceMean (timm) -> LayerNorm2d -> Flatten -> Gemm (opset 17)
 * - `vit`: patch embedding Conv -> Reshape -> Transpose, CLS token concatenated, one attention-free
 *   MatMul block with residual, LayerNormalization, CLS picked with Gather (torchvision) or
 *   Slice -> Squeeze (Hugging Face), then MatMul + Add (or Gemm)
 * - `nhwc`: a TF/Keras export by tf2onnx: [N,H,W,3] input -> Transpose -> Conv -> Relu ->
 *   Transpose -> ReduceMean over H, W -> MatMul + Add -> Softmax
 * - `keras-mobilenet`: Keras MobileNet by tf2onnx: [N,H,W,3] input -> Transpose -> Conv -> Clip ->
 *   GlobalAveragePool (keepdims) -> 1x1 Conv classifier -> Reshape -> Softmax
 * - `squeezenet`: classifier Conv (one channel per class) -> Relu -> GlobalAveragePool -> Flatten:
 *   no pooled feature before the classifier, labels only
 * - `ultralytics`: YOLO-cls Classify head: Conv (SiLU) -> GlobalAveragePool -> Flatten -> Gemm -> Softmax
 *
 * Each generator says which tensor the embedding must be (or null), so a
 * test can check the graph edit against a name it did not compute.
 */
import {
  DataType,
  attrFloat,
  attrInt,
  attrInts,
  encodeModel,
  floatTensor,
  int64Tensor,
  makeNode,
  tensorValueInfo,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from '../../src/inference/onnx-proto.ts';

export type Family = 'mobilenetv2' | 'mobilenetv3' | 'efficientnet' | 'convnext' | 'vit' | 'nhwc' | 'keras-mobilenet' | 'squeezenet' | 'ultralytics';

export const FAMILIES: readonly Family[] = [
  'mobilenetv2',
  'mobilenetv3',
  'efficientnet',
  'convnext',
  'vit',
  'nhwc',
  'keras-mobilenet',
  'squeezenet',
  'ultralytics',
];

export interface FamilyOptions {
  /** PRNG seed; the same seed gives the same bytes. Default 0. */
  seed?: number;
  /** Classifier outputs. Default 5. */
  numClasses?: number;
  /** Input height = width. Default 32 (a multiple of 8). */
  inputSize?: number;
  /** Append a Softmax to the graph output (the families that do not end in one). */
  softmax?: boolean;
  /** ConvNeXt: the pooling timm writes (ReduceMean) instead of torchvision's GlobalAveragePool. */
  reduceMean?: boolean;
  /** LayerNorm written out op by op (ReduceMean, Sub, Pow, Sqrt, Div, Mul, Add), as exports below opset 17 do. */
  decomposedLayerNorm?: boolean;
  /** ViT: Hugging Face's `[:, 0:1]` Slice -> Squeeze and a Gemm head instead of torchvision's Gather + MatMul/Add. */
  hfVit?: boolean;
  /** Classifier weights multiplied by this (a large value gives peaked probabilities). Default 1. */
  headGain?: number;
}

export interface FamilyModel {
  model: ModelProto;
  bytes: Uint8Array;
  inputName: string;
  inputLayout: 'NCHW' | 'NHWC';
  inputSize: number;
  /** The tensor the embedding must be, or null for a labels-only model. */
  /** `map`: the tensor is [batch, dim, 1, 1] (read by a 1x1 Conv classifier). */
  embedding: { name: string; dim: number; kind: 'pooling' | 'cls-token' | 'feature'; op: string; map?: boolean } | null;
  /** The op that computes the class scores. */
  classifierOp: 'Gemm' | 'MatMul' | 'Conv';
  numClasses: number;
  /** The graph ends in Softmax. */
  probabilities: boolean;
}

/** A tiny untrained model of `family`; see the file comment for the heads. */
export function synthFamily(family: Family, options: FamilyOptions = {}): FamilyModel {
  const b = new GraphBuilder(options.seed ?? 0, options.headGain ?? 1, options.decomposedLayerNorm ?? false);
  const numClasses = options.numClasses ?? 5;
  const size = options.inputSize ?? 32;
  const built = BUILDERS[family](b, { numClasses, size, options });
  let output = built.logits;
  let probabilities = built.probabilities ?? false;
  if (options.softmax && !probabilities) {
    output = b.op('Softmax', [output], [attrInt('axis', 1)]);
    probabilities = true;
  }
  const inputLayout = built.nhwc ? 'NHWC' : 'NCHW';
  const inputDims = built.nhwc ? ['batch', size, size, 3] : ['batch', 3, size, size];
  const model: ModelProto = {
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    producer_name: 'streamsight-test-families',
    doc_string: `UNTRAINED ${family}-like classifier for tests; its labels mean nothing.`,
    graph: {
      name: `${family}_untrained`,
      node: b.nodes,
      initializer: b.initializers,
      input: [tensorValueInfo('input', DataType.FLOAT, inputDims)],
      output: [tensorValueInfo(output, DataType.FLOAT, ['batch', numClasses])],
    },
    metadata_props: [
      { key: 'streamsight.untrained', value: 'true' },
      { key: 'streamsight.family', value: family },
    ],
  };
  return {
    model,
    bytes: encodeModel(model),
    inputName: 'input',
    inputLayout,
    inputSize: size,
    embedding: built.embedding,
    classifierOp: built.classifierOp,
    numClasses,
    probabilities,
  };
}

interface Built {
  logits: string;
  embedding: FamilyModel['embedding'];
  classifierOp: FamilyModel['classifierOp'];
  probabilities?: boolean;
  nhwc?: boolean;
}

type Build = (b: GraphBuilder, p: { numClasses: number; size: number; options: FamilyOptions }) => Built;

const BUILDERS: Readonly<Record<Family, Build>> = {
  mobilenetv2(b, { numClasses }) {
    let x = b.conv('input', 3, 8, 3, 2);
    x = b.relu6(x);
    x = b.conv(x, 8, 16, 3, 2, 8); // grouped (depthwise-like) conv
    x = b.relu6(b.conv(x, 16, 24, 1, 1));
    const pooled = b.op('GlobalAveragePool', [x]);
    const flat = b.op('Flatten', [pooled], [attrInt('axis', 1)]);
    return { logits: b.gemm(flat, 24, numClasses, true), embedding: { name: flat, dim: 24, kind: 'pooling', op: 'GlobalAveragePool' }, classifierOp: 'Gemm' };
  },

  mobilenetv3(b, { numClasses }) {
    let x = b.hardswish(b.conv('input', 3, 8, 3, 2));
    x = b.hardswish(b.conv(x, 8, 16, 1, 1));
    const pooled = b.op('GlobalAveragePool', [x]);
    const flat = b.op('Flatten', [pooled], [attrInt('axis', 1)]);
    // classifier = Linear(16, 32) -> Hardswish -> Dropout -> Linear(32, classes); Dropout is gone in eval export.
    const hidden = b.hardswish(b.gemm(flat, 16, 32, false));
    return { logits: b.gemm(hidden, 32, numClasses, true), embedding: { name: hidden, dim: 32, kind: 'feature', op: 'HardSwish' }, classifierOp: 'Gemm' };
  },

  efficientnet(b, { numClasses }) {
    let x = b.silu(b.bn(b.conv('input', 3, 8, 3, 2), 8));
    // Squeeze-excitation: a GlobalAveragePool in the body that must not be taken for the head's.
    const squeezed = b.op('GlobalAveragePool', [x]);
    const excite = b.op('Sigmoid', [b.conv(b.silu(b.conv(squeezed, 8, 4, 1, 1)), 4, 8, 1, 1)]);
    x = b.op('Mul', [x, excite]);
    x = b.silu(b.bn(b.conv(x, 8, 20, 1, 1), 20)); // conv_head
    const pooled = b.op('GlobalAveragePool', [x]);
    const flat = b.op('Flatten', [pooled], [attrInt('axis', 1)]);
    return { logits: b.gemm(flat, 20, numClasses, true), embedding: { name: flat, dim: 20, kind: 'pooling', op: 'GlobalAveragePool' }, classifierOp: 'Gemm' };
  },

  convnext(b, { numClasses, options }) {
    let x = b.conv('input', 3, 12, 4, 4, 1, 0); // patchify stem
    x = b.layerNorm2d(x, 12);
    const dw = b.conv(x, 12, 12, 7, 1, 12, 3); // depthwise 7x7
    // The inverted bottleneck (GELU is an Erf subgraph at opset 17; Relu stands in), with the residual.
    x = b.op('Add', [x, b.conv(b.relu(b.conv(dw, 12, 24, 1, 1)), 24, 12, 1, 1)]);
    const pooled = options.reduceMean ? b.op('ReduceMean', [x], [attrInts('axes', [2, 3]), attrInt('keepdims', 1)]) : b.op('GlobalAveragePool', [x]);
    const normed = b.layerNorm2d(pooled, 12);
    const flat = b.op('Flatten', [normed], [attrInt('axis', 1)]);
    return {
      logits: b.gemm(flat, 12, numClasses, true),
      embedding: { name: flat, dim: 12, kind: 'pooling', op: options.reduceMean ? 'ReduceMean' : 'GlobalAveragePool' },
      classifierOp: 'Gemm',
    };
  },

  vit(b, { numClasses, size, options }) {
    const width = 16;
    const patch = 8;
    const tokens = (size / patch) ** 2;
    let x = b.conv('input', 3, width, patch, patch, 1, 0); // [b, width, h, w]
    x = b.op('Reshape', [x, b.ints([3], [0, width, -1])]); // [b, width, tokens]
    x = b.op('Transpose', [x], [attrInts('perm', [0, 2, 1])]); // [b, tokens, width]
    // The CLS token, expanded to the batch: Expand(cls, [batch, 1, width]).
    const batch = b.op('Slice', [b.op('Shape', [x]), b.ints([1], [0]), b.ints([1], [1])]);
    const clsShape = b.op('Concat', [batch, b.ints([2], [1, width])], [attrInt('axis', 0)]);
    const cls = b.op('Expand', [b.weight([1, 1, width], 0.5), clsShape]);
    x = b.op('Concat', [cls, x], [attrInt('axis', 1)]); // [b, 1 + tokens, width]
    x = b.op('Add', [x, b.weight([1, 1 + tokens, width], 0.1)]); // position embedding
    // One block: LN -> MatMul + Add -> Gelu-free MLP (Relu) -> MatMul + Add, with the residual.
    let y = b.layerNorm(x, width);
    y = b.op('Relu', [b.linear(y, width, 2 * width)]);
    y = b.linear(y, 2 * width, width);
    x = b.op('Add', [x, y]);
    x = b.layerNorm(x, width); // the encoder's final norm, on every token
    let picked: string;
    if (options.hfVit) {
      const sliced = b.op('Slice', [x, b.ints([1], [0]), b.ints([1], [1]), b.ints([1], [1])]);
      picked = b.op('Squeeze', [sliced, b.ints([1], [1])]);
    } else {
      picked = b.op('Gather', [x, b.scalarInt(0)], [attrInt('axis', 1)]);
    }
    const logits = options.hfVit ? b.gemm(picked, width, numClasses, true) : b.linear(picked, width, numClasses, true);
    return {
      logits,
      embedding: { name: picked, dim: width, kind: 'cls-token', op: options.hfVit ? 'Slice' : 'Gather' },
      classifierOp: options.hfVit ? 'Gemm' : 'MatMul',
    };
  },

  nhwc(b, { numClasses }) {
    let x = b.op('Transpose', ['input'], [attrInts('perm', [0, 3, 1, 2])]);
    x = b.op('Relu', [b.conv(x, 3, 8, 3, 2)]);
    x = b.op('Relu', [b.conv(x, 8, 16, 3, 2)]);
    x = b.op('Transpose', [x], [attrInts('perm', [0, 2, 3, 1])]);
    const pooled = b.op('ReduceMean', [x], [attrInts('axes', [1, 2]), attrInt('keepdims', 0)]);
    const logits = b.op('Softmax', [b.linear(pooled, 16, numClasses, true)], [attrInt('axis', -1)]);
    return { logits, embedding: { name: pooled, dim: 16, kind: 'pooling', op: 'ReduceMean' }, classifierOp: 'MatMul', probabilities: true, nhwc: true };
  },

  'keras-mobilenet'(b, { numClasses }) {
    let x = b.op('Transpose', ['input'], [attrInts('perm', [0, 3, 1, 2])]);
    x = b.relu6(b.conv(x, 3, 8, 3, 2));
    x = b.relu6(b.conv(x, 8, 16, 1, 1));
    const pooled = b.op('GlobalAveragePool', [x]); // GlobalAveragePooling2D(keepdims=True): [b, 16, 1, 1]
    const scores = b.conv(pooled, 16, numClasses, 1, 1, 1, 0, b.gain);
    const flat = b.op('Reshape', [scores, b.ints([2], [-1, numClasses])]);
    const logits = b.op('Softmax', [flat], [attrInt('axis', -1)]);
    return {
      logits,
      embedding: { name: pooled, dim: 16, kind: 'pooling', op: 'GlobalAveragePool', map: true },
      classifierOp: 'Conv',
      probabilities: true,
      nhwc: true,
    };
  },

  squeezenet(b, { numClasses }) {
    let x = b.op('Relu', [b.conv('input', 3, 8, 3, 2)]);
    x = b.op('MaxPool', [x], [attrInts('kernel_shape', [3, 3]), attrInts('strides', [2, 2])]);
    // A fire module: squeeze 1x1, then expand 1x1 and 3x3, concatenated.
    const squeeze = b.op('Relu', [b.conv(x, 8, 4, 1, 1)]);
    x = b.op('Concat', [b.op('Relu', [b.conv(squeeze, 4, 8, 1, 1)]), b.op('Relu', [b.conv(squeeze, 4, 8, 3, 1)])], [attrInt('axis', 1)]);
    // classifier = Dropout -> Conv(16, classes, 1x1) -> ReLU -> AdaptiveAvgPool(1); then flatten.
    x = b.op('Relu', [b.conv(x, 16, numClasses, 1, 1, 1, 0, b.gain)]);
    const pooled = b.op('GlobalAveragePool', [x]);
    return { logits: b.op('Flatten', [pooled], [attrInt('axis', 1)]), embedding: null, classifierOp: 'Conv' };
  },

  ultralytics(b, { numClasses }) {
    let x = b.silu(b.bn(b.conv('input', 3, 8, 3, 2), 8));
    x = b.silu(b.bn(b.conv(x, 8, 16, 3, 2), 16));
    // Classify head: Conv(c1, 1280 in the real model) -> pool -> flatten -> drop -> linear -> softmax.
    x = b.silu(b.bn(b.conv(x, 16, 24, 1, 1), 24));
    const pooled = b.op('GlobalAveragePool', [x]);
    const flat = b.op('Flatten', [pooled], [attrInt('axis', 1)]);
    const logits = b.op('Softmax', [b.gemm(flat, 24, numClasses, true)], [attrInt('axis', 1)]);
    return { logits, embedding: { name: flat, dim: 24, kind: 'pooling', op: 'GlobalAveragePool' }, classifierOp: 'Gemm', probabilities: true };
  },
};

class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private count = 0;
  private state: number;

  constructor(
    seed: number,
    readonly gain: number,
    private readonly decomposed: boolean,
  ) {
    this.state = seed >>> 0;
  }

  private uniform(): number {
    // mulberry32
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  private name(prefix: string): string {
    return `/${prefix}_${this.count++}`;
  }

  op(opType: string, inputs: string[], attributes: NodeProto['attribute'] = []): string {
    const out = `${this.name(opType)}/${opType}_output_0`;
    this.nodes.push(makeNode(opType, inputs, [out], out.replace(/_output_0$/, ''), attributes ?? []));
    return out;
  }

  /** A float initializer, uniform in [-bound, bound]. */
  weight(dims: number[], bound: number): string {
    const name = `${this.name('param')}.weight`;
    const n = dims.reduce((a, d) => a * d, 1);
    this.initializers.push(
      floatTensor(
        name,
        dims,
        Float32Array.from({ length: n }, () => (2 * this.uniform() - 1) * bound),
      ),
    );
    return name;
  }

  private fill(dims: number[], value: number): string {
    const name = `${this.name('param')}.const`;
    this.initializers.push(floatTensor(name, dims, new Float32Array(dims.reduce((a, d) => a * d, 1)).fill(value)));
    return name;
  }

  ints(dims: number[], values: number[]): string {
    const name = `${this.name('const')}.ints`;
    this.initializers.push(int64Tensor(name, dims, values));
    return name;
  }

  scalarInt(value: number): string {
    // torch.onnx writes `x[:, 0]`'s index as a Constant node holding a 0-d int64 tensor.
    const out = `${this.name('Constant')}/Constant_output_0`;
    this.nodes.push({ ...makeNode('Constant', [], [out], out), attribute: [{ name: 'value', type: 4, t: int64Tensor('', [], [value]) }] });
    return out;
  }

  conv(x: string, cin: number, cout: number, k: number, stride: number, group = 1, pad = Math.floor(k / 2), gain = 1): string {
    const fanIn = (cin / group) * k * k;
    const w = this.weight([cout, cin / group, k, k], (gain * Math.sqrt(6 / fanIn)) / 2);
    const bias = this.weight([cout], 0.1);
    return this.op(
      'Conv',
      [x, w, bias],
      [attrInts('kernel_shape', [k, k]), attrInts('strides', [stride, stride]), attrInts('pads', [pad, pad, pad, pad]), attrInt('group', group)],
    );
  }

  bn(x: string, c: number): string {
    const scale = this.fill([c], 1);
    const bias = this.weight([c], 0.05);
    const mean = this.weight([c], 0.1);
    const variance = this.fill([c], 1.2);
    return this.op('BatchNormalization', [x, scale, bias, mean, variance], [attrFloat('epsilon', 1e-5)]);
  }

  relu6(x: string): string {
    return this.op('Clip', [x, this.fill([], 0), this.fill([], 6)]);
  }

  hardswish(x: string): string {
    return this.op('HardSwish', [x]);
  }

  silu(x: string): string {
    return this.op('Mul', [x, this.op('Sigmoid', [x])]);
  }

  relu(x: string): string {
    return this.op('Relu', [x]);
  }

  /** LayerNormalization over the last axis (opset 17), or the same written out op by op. */
  layerNorm(x: string, c: number): string {
    if (this.decomposed) {
      const mean = this.op('ReduceMean', [x], [attrInts('axes', [-1]), attrInt('keepdims', 1)]);
      const centred = this.op('Sub', [x, mean]);
      const variance = this.op('ReduceMean', [this.op('Pow', [centred, this.fill([], 2)])], [attrInts('axes', [-1]), attrInt('keepdims', 1)]);
      const normed = this.op('Div', [centred, this.op('Sqrt', [this.op('Add', [variance, this.fill([], 1e-6)])])]);
      return this.op('Add', [this.op('Mul', [normed, this.weight([c], 0.2)]), this.weight([c], 0.1)]);
    }
    return this.op('LayerNormalization', [x, this.weight([c], 0.2), this.weight([c], 0.1)], [attrInt('axis', -1), attrFloat('epsilon', 1e-6)]);
  }

  /** torchvision's LayerNorm2d: permute to channels-last, layer_norm, permute back. */
  layerNorm2d(x: string, c: number): string {
    const last = this.op('Transpose', [x], [attrInts('perm', [0, 2, 3, 1])]);
    return this.op('Transpose', [this.layerNorm(last, c)], [attrInts('perm', [0, 3, 1, 2])]);
  }

  /** nn.Linear on a 2-D input: Gemm with transB, weight [out, in]. */
  gemm(x: string, cin: number, cout: number, head: boolean): string {
    const bound = (head ? this.gain : 1) / Math.sqrt(cin);
    return this.op(
      'Gemm',
      [x, this.weight([cout, cin], bound), this.weight([cout], bound)],
      [attrFloat('alpha', 1), attrFloat('beta', 1), attrInt('transB', 1)],
    );
  }

  /** nn.Linear on a 3-D input (or as Hugging Face exports): MatMul by [in, out], then Add. */
  linear(x: string, cin: number, cout: number, head = false): string {
    const bound = (head ? this.gain : 1) / Math.sqrt(cin);
    return this.op('Add', [this.op('MatMul', [x, this.weight([cin, cout], bound)]), this.weight([cout], bound)]);
  }
}
