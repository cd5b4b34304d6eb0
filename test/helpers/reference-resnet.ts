/**
 * An independent, deliberately plain forward pass for the ResNet graphs that
 * resnet-synth writes, used to check ONNX Runtime's results (and so the
 * synthesised weights' layout) without trusting ONNX Runtime. Direct loops,
 * float64 accumulation, batch 1, no shortcuts: slow, fine for tiny models.
 *
 * Operators: Conv (group 1), BatchNormalization (inference), Relu, MaxPool,
 * Add, GlobalAveragePool, Flatten, Reshape, Gemm. Anything else throws.
 */
import {
  DataType,
  attrFloatValue,
  attrIntValue,
  attrIntsValue,
  decodeModel,
  tensorToFloat32,
  tensorToInt64,
  type ModelProto,
  type NodeProto,
} from '../../src/inference/onnx-proto.ts';

interface Tensor {
  dims: number[];
  data: Float32Array;
}

export interface ReferenceOutput {
  /** The final Gemm's output, [numClasses]. */
  logits: Float32Array;
  /** The final Gemm's input: the pooled feature vector, [embeddingDim]. */
  embedding: Float32Array;
}

/**
 * Runs the model on one image. `input` is NCHW float32 of shape
 * [1, 3, height, width]; the model's first non-initializer input receives it.
 */
export function referenceForward(model: ModelProto | Uint8Array, input: Float32Array, height: number, width: number): ReferenceOutput {
  const m = model instanceof Uint8Array ? decodeModel(model) : model;
  const graph = m.graph ?? {};
  const values = new Map<string, Tensor>();
  const shapes = new Map<string, number[]>();
  for (const t of graph.initializer ?? []) {
    const dims = (t.dims ?? []).map(Number);
    if (t.data_type === DataType.FLOAT) values.set(t.name ?? '', { dims, data: tensorToFloat32(t) });
    else if (t.data_type === DataType.INT64) shapes.set(t.name ?? '', tensorToInt64(t));
  }
  const inputName = (graph.input ?? []).find((vi) => !values.has(vi.name ?? '') && !shapes.has(vi.name ?? ''))?.name;
  if (!inputName) throw new Error('reference: model has no input');
  if (input.length !== 3 * height * width) throw new Error('reference: input must be [1, 3, height, width]');
  values.set(inputName, { dims: [1, 3, height, width], data: input });

  let lastGemm: { input: Tensor; output: Tensor } | undefined;
  for (const node of graph.node ?? []) {
    const get = (i: number): Tensor => {
      const name = node.input?.[i] ?? '';
      const v = values.get(name);
      if (v === undefined) throw new Error(`reference: ${node.op_type} "${node.name}" input ${name} not computed`);
      return v;
    };
    let out: Tensor;
    switch (node.op_type) {
      case 'Conv':
        out = conv(node, get(0), get(1), node.input?.[2] ? get(2) : undefined);
        break;
      case 'BatchNormalization':
        out = batchNorm(get(0), get(1), get(2), get(3), get(4), attrFloatValue(node, 'epsilon', 1e-5));
        break;
      case 'Relu':
        out = { dims: get(0).dims, data: get(0).data.map((v) => (v > 0 ? v : 0)) };
        break;
      case 'MaxPool':
        out = maxPool(node, get(0));
        break;
      case 'Add':
        out = add(get(0), get(1));
        break;
      case 'GlobalAveragePool':
        out = globalAveragePool(get(0));
        break;
      case 'Flatten': {
        const x = get(0);
        const axis = attrIntValue(node, 'axis', 1);
        out = { dims: [product(x.dims.slice(0, axis)), product(x.dims.slice(axis))], data: x.data };
        break;
      }
      case 'Reshape': {
        const shape = shapes.get(node.input?.[1] ?? '');
        if (shape === undefined) throw new Error('reference: Reshape needs an int64 shape initializer');
        out = reshape(get(0), shape);
        break;
      }
      case 'Gemm': {
        const a = get(0);
        out = gemm(node, a, get(1), node.input?.[2] ? get(2) : undefined);
        lastGemm = { input: a, output: out };
        break;
      }
      default:
        throw new Error(`reference: operator ${node.op_type} not implemented`);
    }
    values.set(node.output?.[0] ?? '', out);
  }
  if (lastGemm === undefined) throw new Error('reference: no Gemm in the model');
  return { logits: lastGemm.output.data, embedding: lastGemm.input.data };
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Input [1, C, H, W], weight [M, C, kH, kW]; pads are [top, left, bottom, right]. */
function conv(node: NodeProto, x: Tensor, w: Tensor, bias: Tensor | undefined): Tensor {
  if (attrIntValue(node, 'group', 1) !== 1) throw new Error('reference: Conv group != 1');
  const [, C = 0, H = 0, W = 0] = x.dims;
  const [M = 0, wc = 0, kH = 0, kW = 0] = w.dims;
  if (wc !== C) throw new Error(`reference: Conv weight has ${wc} input channels, tensor has ${C}`);
  const [sH = 1, sW = 1] = attrIntsValue(node, 'strides', [1, 1]);
  const [dH = 1, dW = 1] = attrIntsValue(node, 'dilations', [1, 1]);
  const [pT = 0, pL = 0, pB = 0, pR = 0] = attrIntsValue(node, 'pads', [0, 0, 0, 0]);
  const oH = Math.floor((H + pT + pB - dH * (kH - 1) - 1) / sH) + 1;
  const oW = Math.floor((W + pL + pR - dW * (kW - 1) - 1) / sW) + 1;
  const out = new Float32Array(M * oH * oW);
  const acc = new Float64Array(oH * oW);
  for (let m = 0; m < M; m++) {
    acc.fill(bias ? (bias.data[m] ?? 0) : 0);
    for (let c = 0; c < C; c++) {
      for (let ky = 0; ky < kH; ky++) {
        for (let kx = 0; kx < kW; kx++) {
          const wv = w.data[((m * C + c) * kH + ky) * kW + kx] ?? 0;
          for (let oy = 0; oy < oH; oy++) {
            const iy = oy * sH - pT + ky * dH;
            if (iy < 0 || iy >= H) continue;
            for (let ox = 0; ox < oW; ox++) {
              const ix = ox * sW - pL + kx * dW;
              if (ix < 0 || ix >= W) continue;
              acc[oy * oW + ox] = (acc[oy * oW + ox] ?? 0) + wv * (x.data[(c * H + iy) * W + ix] ?? 0);
            }
          }
        }
      }
    }
    out.set(acc, m * oH * oW);
  }
  return { dims: [1, M, oH, oW], data: out };
}

function batchNorm(x: Tensor, scale: Tensor, b: Tensor, mean: Tensor, variance: Tensor, epsilon: number): Tensor {
  const [, C = 0] = x.dims;
  const plane = product(x.dims.slice(2));
  const out = new Float32Array(x.data.length);
  for (let c = 0; c < C; c++) {
    const k = (scale.data[c] ?? 0) / Math.sqrt((variance.data[c] ?? 0) + epsilon);
    const shift = (b.data[c] ?? 0) - (mean.data[c] ?? 0) * k;
    for (let i = c * plane; i < (c + 1) * plane; i++) out[i] = (x.data[i] ?? 0) * k + shift;
  }
  return { dims: x.dims, data: out };
}

function maxPool(node: NodeProto, x: Tensor): Tensor {
  if (attrIntValue(node, 'ceil_mode', 0) !== 0) throw new Error('reference: MaxPool ceil_mode');
  const [, C = 0, H = 0, W = 0] = x.dims;
  const [kH = 1, kW = 1] = attrIntsValue(node, 'kernel_shape', []);
  const [sH = 1, sW = 1] = attrIntsValue(node, 'strides', [1, 1]);
  const [pT = 0, pL = 0, pB = 0, pR = 0] = attrIntsValue(node, 'pads', [0, 0, 0, 0]);
  const oH = Math.floor((H + pT + pB - kH) / sH) + 1;
  const oW = Math.floor((W + pL + pR - kW) / sW) + 1;
  const out = new Float32Array(C * oH * oW);
  for (let c = 0; c < C; c++) {
    for (let oy = 0; oy < oH; oy++) {
      for (let ox = 0; ox < oW; ox++) {
        let best = -Infinity; // padding never wins
        for (let ky = 0; ky < kH; ky++) {
          const iy = oy * sH - pT + ky;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < kW; kx++) {
            const ix = ox * sW - pL + kx;
            if (ix < 0 || ix >= W) continue;
            best = Math.max(best, x.data[(c * H + iy) * W + ix] ?? -Infinity);
          }
        }
        out[(c * oH + oy) * oW + ox] = best;
      }
    }
  }
  return { dims: [1, C, oH, oW], data: out };
}

function add(a: Tensor, b: Tensor): Tensor {
  if (a.dims.join() !== b.dims.join()) throw new Error(`reference: Add [${a.dims}] + [${b.dims}] needs broadcasting`);
  return { dims: a.dims, data: a.data.map((v, i) => v + (b.data[i] ?? 0)) };
}

function globalAveragePool(x: Tensor): Tensor {
  const [, C = 0] = x.dims;
  const plane = product(x.dims.slice(2));
  const out = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let i = c * plane; i < (c + 1) * plane; i++) sum += x.data[i] ?? 0;
    out[c] = sum / plane;
  }
  return { dims: [1, C, ...x.dims.slice(2).map(() => 1)], data: out };
}

/** ONNX Reshape: 0 copies the input dim, -1 takes what is left. */
function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const dims = shape.map((d, i) => (d === 0 ? (x.dims[i] ?? 0) : d));
  const known = product(dims.filter((d) => d !== -1));
  return { dims: dims.map((d) => (d === -1 ? x.data.length / known : d)), data: x.data };
}

/** Y = alpha * A' * B' + beta * C, with C broadcast over rows. */
function gemm(node: NodeProto, a: Tensor, b: Tensor, c: Tensor | undefined): Tensor {
  if (attrIntValue(node, 'transA', 0) !== 0) throw new Error('reference: Gemm transA');
  const transB = attrIntValue(node, 'transB', 0) !== 0;
  const alpha = attrFloatValue(node, 'alpha', 1);
  const beta = attrFloatValue(node, 'beta', 1);
  const [M = 0, K = 0] = a.dims;
  const N = transB ? (b.dims[0] ?? 0) : (b.dims[1] ?? 0);
  const out = new Float32Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let sum = 0;
      for (let k = 0; k < K; k++) {
        sum += (a.data[i * K + k] ?? 0) * (b.data[transB ? j * K + k : k * N + j] ?? 0);
      }
      const bias = c === undefined ? 0 : ((c.data.length === N ? c.data[j] : c.data[i * N + j]) ?? 0);
      out[i * N + j] = alpha * sum + beta * bias;
    }
  }
  return { dims: [M, N], data: out };
}

/** softmax over class scores, in float64: the probabilities a logits model's scores become. */
export function softmax(x: ArrayLike<number>): number[] {
  const values = Array.from(x);
  const max = Math.max(...values);
  const e = values.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}
