/**
 * Writes the QDQ graph (pure): the float graph with a QuantizeLinear ->
 * DequantizeLinear pair on every planned activation tensor, Conv weights as
 * int8 per-channel initializers behind a DequantizeLinear (axis 0), biases
 * as int32 behind one. ONNX Runtime turns the patterns into QLinearConv,
 * QLinearAdd and uint8 MaxPool at session creation (see qdq-plan.ts).
 */
import { attrInt, makeNode, tensorToFloat32, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx-proto.ts';
import { dropUnused } from './fold-batchnorm.ts';
import { GraphIndex } from './graph-index.ts';
import type { QdqPlan } from './qdq-plan.ts';
import { quantizeBias, quantizeWeightsPerChannel, type ActivationParams } from './quant-params.ts';
import { float32Tensor, int32Tensor, int8Tensor, uint8Tensor } from './tensors.ts';

export interface QdqBuildInput {
  /** The float model with BatchNormalization folded (not modified). */
  model: ModelProto;
  plan: QdqPlan;
  /** Parameters of every tensor in plan.tensors. */
  params: ReadonlyMap<string, ActivationParams>;
  /** Per Conv output: mean(quantized) - mean(float) per channel, subtracted from the bias. */
  biasShift?: ReadonlyMap<string, Float32Array>;
  /** How the int8 weights are stored; see WeightZeroPoint. Default -1. */
  weightZeroPoint?: WeightZeroPoint;
}

/**
 * The weights are always on the symmetric grid -127..127 (scale max|w|/127,
 * 0 exact). Stored with zero point 0, ONNX Runtime's QLinearConv runs its
 * symmetric direct-convolution kernel (MlasConvSym); stored offset by one
 * (value - 1, zero point -1: the same dequantized weights, bit-identical
 * outputs) it runs im2col + its U8S8 QGEMM kernels, which on this project's
 * CPU (AVX-512 VNNI and AMX) were 1.2x faster for resnet50 at batch 8
 * (BENCHMARKS.md). -1 is the default.
 */
export type WeightZeroPoint = 0 | -1;

/** Suffixes of the names this pass adds; chosen not to collide with exporters' names. */
export const QUANTIZED_SUFFIX = '__q';
export const DEQUANTIZED_SUFFIX = '__dq';

export function buildQdqModel(input: QdqBuildInput): ModelProto {
  const { model, plan, params } = input;
  const wzp = input.weightZeroPoint ?? -1;
  const source = model.graph as GraphProto;
  const index = new GraphIndex(source);
  const nodes: NodeProto[] = (source.node ?? []).map((n) => ({ ...n, input: [...(n.input ?? [])], output: [...(n.output ?? [])] }));
  const initializers: TensorProto[] = [...(source.initializer ?? [])];
  const head: NodeProto[] = [];
  const after = new Map<number, NodeProto[]>();
  const producerIndex = new Map<string, number>();
  nodes.forEach((n, i) => n.output?.forEach((o) => producerIndex.set(o, i)));

  const paramsOf = (t: string): ActivationParams => {
    const p = params.get(t);
    if (p === undefined) throw new RangeError(`no quantization parameters for tensor "${t}"`);
    return p;
  };

  // Activations: x -> Q -> DQ, every reader of x reads the DQ output instead.
  for (const t of plan.tensors) {
    const p = paramsOf(t);
    const scale = `${t}.scale`;
    const zp = `${t}.zero_point`;
    initializers.push(float32Tensor(scale, [], [p.scale]), uint8Tensor(zp, [], Uint8Array.of(p.zeroPoint)));
    const q = `${t}${QUANTIZED_SUFFIX}`;
    const dq = `${t}${DEQUANTIZED_SUFFIX}`;
    for (const n of nodes) n.input = n.input!.map((i) => (i === t ? dq : i));
    const pair = [makeNode('QuantizeLinear', [t, scale, zp], [q], `${t}.quantize`), makeNode('DequantizeLinear', [q, scale, zp], [dq], `${t}.dequantize`)];
    const at = producerIndex.get(t);
    if (at === undefined) head.push(...pair);
    else after.set(at, [...(after.get(at) ?? []), ...pair]);
  }

  // Conv weights and biases.
  for (const conv of plan.convs) {
    const copy = nodes[(source.node ?? []).indexOf(conv.node)]!;
    const [x = '', wName = '', bName = ''] = conv.node.input ?? [];
    const wTensor = index.initializers.get(wName) as TensorProto;
    const w = quantizeWeightsPerChannel(tensorToFloat32(wTensor), conv.outChannels);
    const base = conv.node.name || conv.output;
    const wq = `${base}.weight_int8`;
    initializers.push(
      int8Tensor(wq, wTensor.dims ?? [], wzp === 0 ? w.data : w.data.map((v) => v + wzp)),
      float32Tensor(`${wq}.scale`, [conv.outChannels], w.scales),
      int8Tensor(`${wq}.zero_point`, [conv.outChannels], new Int8Array(conv.outChannels).fill(wzp)),
    );
    head.push(makeNode('DequantizeLinear', [wq, `${wq}.scale`, `${wq}.zero_point`], [`${wq}${DEQUANTIZED_SUFFIX}`], `${wq}.dequantize`, [attrInt('axis', 0)]));
    const inputs = [`${x}${DEQUANTIZED_SUFFIX}`, `${wq}${DEQUANTIZED_SUFFIX}`];

    const shift = input.biasShift?.get(conv.output);
    const bias = bName ? tensorToFloat32(index.initializers.get(bName) as TensorProto) : shift ? new Float32Array(conv.outChannels) : undefined;
    if (bias) {
      const corrected = shift ? bias.map((v, c) => v - shift[c]!) : bias;
      const b = quantizeBias(corrected, paramsOf(x).scale, w.scales);
      const bq = `${base}.bias_int32`;
      initializers.push(
        int32Tensor(bq, [conv.outChannels], b.data),
        float32Tensor(`${bq}.scale`, [conv.outChannels], b.scales),
        int32Tensor(`${bq}.zero_point`, [conv.outChannels], new Int32Array(conv.outChannels)),
      );
      head.push(
        makeNode('DequantizeLinear', [bq, `${bq}.scale`, `${bq}.zero_point`], [`${bq}${DEQUANTIZED_SUFFIX}`], `${bq}.dequantize`, [attrInt('axis', 0)]),
      );
      inputs.push(`${bq}${DEQUANTIZED_SUFFIX}`);
    }
    copy.input = inputs;
  }

  const ordered: NodeProto[] = [...head];
  nodes.forEach((n, i) => ordered.push(n, ...(after.get(i) ?? [])));
  const graph: GraphProto = {
    ...source,
    node: ordered,
    initializer: initializers,
    input: [...(source.input ?? [])],
    value_info: [...(source.value_info ?? [])],
  };
  dropUnused(graph);
  return { ...model, graph };
}
