/**
 * Writes an UNTRAINED ResNet as an ONNX model: the exact torchvision topology
 * (v1.5: stride on the 3x3 conv of a Bottleneck) with seeded random weights.
 * Used by tests and throughput runs (`streamsight models synth`); its class
 * scores mean nothing, and the model says so in metadata_props
 * (`streamsight.untrained` = "true").
 *
 * The graph keeps BatchNormalization as separate nodes (torch.onnx.export
 * would fold them into the convs) so a reference forward pass can check each
 * operator. `headStyle` renames the input, the output and the head the way
 * other real exporters do, so the graph edit can be tested on each.
 */
import {
  DataType,
  attrFloat,
  attrInt,
  attrInts,
  elementCount,
  encodeModel,
  floatTensor,
  int64Tensor,
  makeNode,
  tensorValueInfo,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './onnx-proto.ts';

export type ResnetArch = 'resnet18' | 'resnet34' | 'resnet50' | 'resnet101' | 'resnet152';

/**
 * - `torchvision`: input "input", GlobalAveragePool -> Flatten -> Gemm, output "output".
 * - `zoo-v1`: ONNX model zoo resnet*-v1-7 (MXNet export): input "data",
 *   GlobalAveragePool -> Flatten -> Gemm, output "resnetv17_dense0_fwd", and
 *   every initializer also listed as a graph input, as old exporters did.
 * - `zoo-v2`: model zoo resnet*-v2-7 naming: input "data",
 *   GlobalAveragePool -> Reshape([0, -1]) -> Gemm, output
 *   "resnetv24_dense0_fwd"; initializers are listed as graph inputs *before*
 *   "data", to exercise the "first input that is not an initializer" rule.
 *   (Only the naming and head are mimicked; the body stays torchvision v1.5.)
 * - `hf`: Hugging Face (optimum) export: input "pixel_values", pooler
 *   GlobalAveragePool -> Flatten -> Gemm, output "logits".
 */
export type HeadStyle = 'torchvision' | 'zoo-v1' | 'zoo-v2' | 'hf';

export interface SynthResnetOptions {
  arch: ResnetArch;
  /** PRNG seed (uint32); the same seed gives byte-identical output. Default 0. */
  seed?: number;
  /** Classifier outputs. Default 1000 (ImageNet). */
  numClasses?: number;
  /** Input height = width in pixels. Default 224. */
  inputSize?: number;
  /**
   * Channels of the stem and of layer1 (torchvision: 64). Every stage scales
   * with it, so 8 gives a tiny model for fast tests; the embedding is
   * 8 * baseWidth (BasicBlock) or 32 * baseWidth (Bottleneck) wide.
   */
  baseWidth?: number;
  /** Which exporter's naming and head to mimic. Default 'torchvision'. */
  headStyle?: HeadStyle;
}

/** torchvision's trainable parameter counts (BN running stats excluded). */
export const TORCHVISION_PARAM_COUNTS: Readonly<Record<ResnetArch, number>> = {
  resnet18: 11_689_512,
  resnet34: 21_797_672,
  resnet50: 25_557_032,
  resnet101: 44_549_160,
  resnet152: 60_192_808,
};

interface ArchPlan {
  block: 'basic' | 'bottleneck';
  layers: readonly [number, number, number, number];
}

const ARCHS: Readonly<Record<ResnetArch, ArchPlan>> = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2] },
  resnet34: { block: 'basic', layers: [3, 4, 6, 3] },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  resnet101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  resnet152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
};

const OPSET = 17;
const IR_VERSION = 8;
/** torch.nn.BatchNorm2d's default epsilon. */
const BN_EPSILON = 1e-5;

/** The ONNX bytes of an untrained ResNet; see SynthResnetOptions. */
export function synthResnet(options: SynthResnetOptions): Uint8Array {
  return encodeModel(synthResnetModel(options));
}

/** Like synthResnet, but the unencoded model (tensors share the weight arrays). */
export function synthResnetModel(options: SynthResnetOptions): ModelProto {
  const plan = ARCHS[options.arch];
  if (plan === undefined) throw new RangeError(`arch: unknown ResNet "${String(options.arch)}"`);
  const seed = options.seed ?? 0;
  const numClasses = options.numClasses ?? 1000;
  const inputSize = options.inputSize ?? 224;
  const baseWidth = options.baseWidth ?? 64;
  const headStyle = options.headStyle ?? 'torchvision';
  checkInt('seed', seed, 0, 0xffff_ffff);
  checkInt('numClasses', numClasses, 1, 1_000_000);
  // Below 32 px the stem and four stride-2 stages leave no spatial extent.
  checkInt('inputSize', inputSize, 32, 4096);
  checkInt('baseWidth', baseWidth, 1, 4096);

  const naming = NAMINGS[headStyle];
  const b = new Builder(naming, new NormalRng(seed));

  // Stem: conv 7x7/2 pad 3, BN, ReLU, MaxPool 3x3/2 pad 1.
  let x = naming.input;
  x = b.conv('conv1', x, 3, baseWidth, 7, 2, 3);
  x = b.bn('bn1', x, baseWidth, false);
  x = b.relu('relu', x);
  x = b.op(
    'maxpool',
    'MaxPool',
    [x],
    [attrInt('ceil_mode', 0), attrInts('dilations', [1, 1]), attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1]), attrInts('strides', [2, 2])],
  );

  const expansion = plan.block === 'basic' ? 1 : 4;
  let inplanes = baseWidth;
  plan.layers.forEach((blocks, stage) => {
    const planes = baseWidth * 2 ** stage;
    for (let i = 0; i < blocks; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      const path = `layer${stage + 1}.${i}`;
      const needsDownsample = stride !== 1 || inplanes !== planes * expansion;
      x =
        plan.block === 'basic'
          ? b.basicBlock(path, x, inplanes, planes, stride, needsDownsample)
          : b.bottleneck(path, x, inplanes, planes, stride, needsDownsample);
      inplanes = planes * expansion;
    }
  });

  const embeddingDim = inplanes;
  x = b.op(naming.poolPath, 'GlobalAveragePool', [x]);
  if (headStyle === 'zoo-v2') {
    // [0, -1]: keep the batch dim (0 = copy), flatten the rest.
    const shapeName = naming.param('reshape0', 'shape');
    b.initializers.push(int64Tensor(shapeName, [2], [0, -1]));
    x = b.op(naming.flattenPath, 'Reshape', [x, shapeName]);
  } else {
    x = b.op(naming.flattenPath, 'Flatten', [x], [attrInt('axis', 1)]);
  }
  b.gemm(naming.fcPath, x, embeddingDim, numClasses, naming.output);

  const inputInfo = tensorValueInfo(naming.input, DataType.FLOAT, ['batch', 3, inputSize, inputSize]);
  const initializerInputs = b.initializers.map((t) => tensorValueInfo(t.name ?? '', t.data_type ?? DataType.FLOAT, t.dims ?? []));
  const inputs = headStyle === 'zoo-v1' ? [inputInfo, ...initializerInputs] : headStyle === 'zoo-v2' ? [...initializerInputs, inputInfo] : [inputInfo];

  return {
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: OPSET }],
    producer_name: 'streamsight-synth',
    producer_version: '1',
    doc_string: `UNTRAINED ${options.arch} with random weights (seed ${seed}); its labels mean nothing.`,
    graph: {
      node: b.nodes,
      name: `${options.arch}_untrained`,
      initializer: b.initializers,
      input: inputs,
      output: [tensorValueInfo(naming.output, DataType.FLOAT, ['batch', numClasses])],
    },
    metadata_props: [
      { key: 'streamsight.untrained', value: 'true' },
      { key: 'streamsight.arch', value: options.arch },
      { key: 'streamsight.seed', value: String(seed) },
    ],
  };
}

/**
 * Trainable parameters as torchvision counts them: the elements of every
 * float initializer except BatchNormalization running mean/var (inputs 3, 4).
 */
export function countParameters(model: ModelProto): number {
  const runningStats = new Set<string>();
  for (const node of model.graph?.node ?? []) {
    if (node.op_type === 'BatchNormalization') {
      for (const name of (node.input ?? []).slice(3, 5)) runningStats.add(name);
    }
  }
  let count = 0;
  for (const t of model.graph?.initializer ?? []) {
    if (t.data_type === DataType.FLOAT && !runningStats.has(t.name ?? '')) count += elementCount(t);
  }
  return count;
}

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name}: must be an integer in [${min}, ${max}], got ${value}`);
  }
}

// ---- naming per exporter --------------------------------------------------

type ParamKind = 'weight' | 'bias' | 'running_mean' | 'running_var' | 'shape';

interface Naming {
  input: string;
  output: string;
  poolPath: string;
  flattenPath: string;
  fcPath: string;
  /** Initializer name of a module's parameter. */
  param(path: string, kind: ParamKind): string;
  /** Output tensor name of the node for a module. */
  tensor(path: string, opType: string): string;
}

function torchNaming(prefix: string, input: string, output: string, fcPath: string, poolPath: string): Naming {
  return {
    input,
    output,
    poolPath,
    flattenPath: fcPath === 'fc' ? 'flatten' : `${fcPath.split('.')[0]}.0`,
    fcPath,
    param: (path, kind) => `${prefix}${path}.${kind}`,
    // torch.onnx names tensors after the module path: /layer1/layer1.0/conv1/Conv_output_0
    // (a Sequential index joins its parent: /layer1/layer1.0/downsample/downsample.0/...)
    tensor: (path, opType) => {
      const parts = `${prefix}${path}`.split('.');
      const scopes = parts.map((part, i) => (/^\d+$/.test(part) && i > 0 ? `${parts[i - 1]}.${part}` : part));
      return `/${scopes.join('/')}/${opType}_output_0`;
    },
  };
}

function zooNaming(prefix: string): Naming {
  const flat = (path: string): string => `${prefix}_${path.replaceAll('.', '_')}`;
  return {
    input: 'data',
    output: `${prefix}_dense0_fwd`,
    poolPath: 'pool1',
    flattenPath: 'flatten0',
    fcPath: 'dense0',
    param: (path, kind) => `${flat(path)}_${kind}`,
    tensor: (path) => `${flat(path)}_fwd`,
  };
}

const NAMINGS: Readonly<Record<HeadStyle, Naming>> = {
  torchvision: torchNaming('', 'input', 'output', 'fc', 'avgpool'),
  'zoo-v1': zooNaming('resnetv17'),
  'zoo-v2': zooNaming('resnetv24'),
  hf: torchNaming('resnet.', 'pixel_values', 'logits', 'classifier.1', 'pooler'),
};

// ---- weights --------------------------------------------------------------

/**
 * mulberry32 uniforms and normals by Marsaglia's polar form of Box-Muller
 * (no trigonometry: ~40% faster, which matters for 60M resnet152 weights).
 * Seedable and portable: the same seed gives the same weights everywhere.
 */
class NormalRng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  normals(count: number, mean: number, std: number): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i += 2) {
      let u: number;
      let v: number;
      let s: number;
      do {
        u = 2 * this.uniform() - 1;
        v = 2 * this.uniform() - 1;
        s = u * u + v * v;
      } while (s >= 1 || s === 0);
      const f = std * Math.sqrt((-2 * Math.log(s)) / s);
      out[i] = mean + u * f;
      if (i + 1 < count) out[i + 1] = mean + v * f;
    }
    return out;
  }

  uniforms(count: number, low: number, high: number): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = low + (high - low) * this.uniform();
    return out;
  }
}

class Builder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Map<string, number>();

  constructor(
    private readonly naming: Naming,
    private readonly rng: NormalRng,
  ) {}

  /** Adds a node for module `path`; returns its (unique) output tensor name. */
  op(path: string, opType: string, inputs: string[], attributes = [] as NodeProto['attribute'], output?: string): string {
    const base = output ?? this.naming.tensor(path, opType);
    const n = this.used.get(base) ?? 0;
    this.used.set(base, n + 1);
    // torch reuses one ReLU module several times per block: number the repeats.
    const out = n === 0 ? base : `${base}_${n}`;
    this.nodes.push(makeNode(opType, inputs, [out], out.replace(/_output_0(_\d+)?$/, '$1'), attributes ?? []));
    return out;
  }

  conv(path: string, x: string, cin: number, cout: number, k: number, stride: number, pad: number): string {
    // Kaiming normal in fan_in mode (std = sqrt(2 / fan_in)): keeps the
    // activation variance constant through conv + ReLU, so a random
    // resnet152 neither explodes nor dies. (torchvision uses fan_out, which
    // matters for training, not for a forward pass with made-up BN stats.)
    const fanIn = cin * k * k;
    const weight = this.param(path, 'weight', [cout, cin, k, k], this.rng.normals(cout * fanIn, 0, Math.sqrt(2 / fanIn)));
    return this.op(
      path,
      'Conv',
      [x, weight],
      [
        attrInts('dilations', [1, 1]),
        attrInt('group', 1),
        attrInts('kernel_shape', [k, k]),
        attrInts('pads', [pad, pad, pad, pad]),
        attrInts('strides', [stride, stride]),
      ],
    );
  }

  /**
   * BatchNormalization with made-up statistics. running_var near 1 and
   * gamma near 1 keep the scale He init gives; the last BN of a residual
   * branch gets gamma in [0.1, 0.3] so 50 residual additions grow the
   * activations by a small factor, not exponentially. Running mean and beta
   * are small and random so a reference that mixes them up is caught.
   */
  bn(path: string, x: string, c: number, lastInBranch: boolean): string {
    const gamma = lastInBranch ? this.rng.uniforms(c, 0.1, 0.3) : this.rng.uniforms(c, 0.8, 1.2);
    const inputs = [
      x,
      this.param(path, 'weight', [c], gamma),
      this.param(path, 'bias', [c], this.rng.normals(c, 0, 0.05)),
      this.param(path, 'running_mean', [c], this.rng.normals(c, 0, 0.1)),
      this.param(path, 'running_var', [c], this.rng.uniforms(c, 0.6, 1.4)),
    ];
    return this.op(path, 'BatchNormalization', inputs, [attrFloat('epsilon', BN_EPSILON), attrFloat('momentum', 0.9)]);
  }

  relu(path: string, x: string): string {
    return this.op(path, 'Relu', [x]);
  }

  basicBlock(path: string, x: string, inplanes: number, planes: number, stride: number, downsample: boolean): string {
    let y = this.conv(`${path}.conv1`, x, inplanes, planes, 3, stride, 1);
    y = this.bn(`${path}.bn1`, y, planes, false);
    y = this.relu(`${path}.relu`, y);
    y = this.conv(`${path}.conv2`, y, planes, planes, 3, 1, 1);
    y = this.bn(`${path}.bn2`, y, planes, true);
    const identity = downsample ? this.downsample(path, x, inplanes, planes, stride) : x;
    return this.relu(`${path}.relu`, this.op(path, 'Add', [y, identity]));
  }

  bottleneck(path: string, x: string, inplanes: number, planes: number, stride: number, downsample: boolean): string {
    const out = planes * 4;
    let y = this.conv(`${path}.conv1`, x, inplanes, planes, 1, 1, 0);
    y = this.bn(`${path}.bn1`, y, planes, false);
    y = this.relu(`${path}.relu`, y);
    // v1.5: the stride sits on the 3x3 conv, not on the first 1x1.
    y = this.conv(`${path}.conv2`, y, planes, planes, 3, stride, 1);
    y = this.bn(`${path}.bn2`, y, planes, false);
    y = this.relu(`${path}.relu`, y);
    y = this.conv(`${path}.conv3`, y, planes, out, 1, 1, 0);
    y = this.bn(`${path}.bn3`, y, out, true);
    const identity = downsample ? this.downsample(path, x, inplanes, out, stride) : x;
    return this.relu(`${path}.relu`, this.op(path, 'Add', [y, identity]));
  }

  private downsample(path: string, x: string, cin: number, cout: number, stride: number): string {
    const y = this.conv(`${path}.downsample.0`, x, cin, cout, 1, stride, 0);
    return this.bn(`${path}.downsample.1`, y, cout, false);
  }

  gemm(path: string, x: string, inFeatures: number, outFeatures: number, output: string): string {
    // nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
    const bound = 1 / Math.sqrt(inFeatures);
    const weight = this.param(path, 'weight', [outFeatures, inFeatures], this.rng.uniforms(outFeatures * inFeatures, -bound, bound));
    const bias = this.param(path, 'bias', [outFeatures], this.rng.uniforms(outFeatures, -bound, bound));
    return this.op(path, 'Gemm', [x, weight, bias], [attrFloat('alpha', 1), attrFloat('beta', 1), attrInt('transB', 1)], output);
  }

  private param(path: string, kind: ParamKind, dims: number[], data: Float32Array): string {
    const name = this.naming.param(path, kind);
    this.initializers.push(floatTensor(name, dims, data));
    return name;
  }
}
