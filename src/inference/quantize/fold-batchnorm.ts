/**
 * Folds BatchNormalization into the Conv that feeds it, as torch.onnx.export
 * does: a quantized Conv must be followed directly by its QuantizeLinear (or
 * a Relu) for ONNX Runtime to fuse it into QLinearConv, and the folded
 * weights are what gets quantized per output channel.
 *
 *   W'[c] = W[c] * gamma[c] / sqrt(var[c] + eps)
 *   b'[c] = (b[c] - mean[c]) * gamma[c] / sqrt(var[c] + eps) + beta[c]
 */
import { attrFloatValue, attrInt, attrInts, floatTensor, makeNode, tensorToFloat32, type GraphProto, type NodeProto, type TensorProto } from '../onnx-proto.ts';
import { GraphIndex } from './graph-index.ts';

/** Default epsilon of ONNX BatchNormalization. */
const ONNX_BN_EPSILON = 1e-5;

/** Edits `graph` in place; answers how many BatchNormalization nodes were folded. */
export function foldBatchNorm(graph: GraphProto): number {
  const index = new GraphIndex(graph);
  const removed = new Set<NodeProto>();
  const replaced = new Map<string, TensorProto>();
  let folded = 0;
  for (const bn of graph.node ?? []) {
    if (bn.op_type !== 'BatchNormalization' || (bn.output ?? []).filter((o) => o).length !== 1) continue;
    const x = bn.input?.[0] ?? '';
    const conv = index.producer.get(x);
    if (conv?.op_type !== 'Conv' || index.soleConsumer(x) !== bn) continue;
    const [, gName = '', bName = '', mName = '', vName = ''] = bn.input ?? [];
    const params = [gName, bName, mName, vName].map((n) => index.initializers.get(n));
    const wTensor = index.initializers.get(conv.input?.[1] ?? '');
    if (params.some((p) => p === undefined) || wTensor === undefined) continue;
    const [gamma, beta, mean, variance] = params.map((p) => tensorToFloat32(p as TensorProto)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const eps = attrFloatValue(bn, 'epsilon', ONNX_BN_EPSILON);
    const w = tensorToFloat32(wTensor);
    const outChannels = wTensor.dims?.[0] ?? 0;
    const perChannel = w.length / outChannels;
    const biasName = conv.input?.[2];
    const bias = biasName ? tensorToFloat32(index.initializers.get(biasName) as TensorProto) : new Float32Array(outChannels);
    const newBias = new Float32Array(outChannels);
    for (let c = 0; c < outChannels; c++) {
      const k = gamma[c]! / Math.sqrt(variance[c]! + eps);
      for (let i = c * perChannel; i < (c + 1) * perChannel; i++) w[i] = w[i]! * k;
      newBias[c] = (bias[c]! - mean[c]!) * k + beta[c]!;
    }
    // Fresh names: the originals may be shared with other nodes.
    const wName = `${conv.name || conv.output?.[0] || 'conv'}.folded_weight`;
    const bNameNew = `${conv.name || conv.output?.[0] || 'conv'}.folded_bias`;
    replaced.set(wName, floatTensor(wName, wTensor.dims ?? [], w));
    replaced.set(bNameNew, floatTensor(bNameNew, [outChannels], newBias));
    conv.input = [conv.input?.[0] ?? '', wName, bNameNew];
    conv.output = [bn.output?.[0] ?? ''];
    removed.add(bn);
    folded++;
  }
  if (folded === 0) return 0;
  graph.node = (graph.node ?? []).filter((n) => !removed.has(n));
  graph.initializer = [...(graph.initializer ?? []), ...replaced.values()];
  dropUnused(graph);
  return folded;
}

/** Removes initializers (and their graph-input listings) no node reads any more. */
export function dropUnused(graph: GraphProto): void {
  const used = new Set<string>();
  for (const node of graph.node ?? []) for (const i of node.input ?? []) used.add(i);
  for (const o of graph.output ?? []) used.add(o.name ?? '');
  const dead = new Set((graph.initializer ?? []).map((t) => t.name ?? '').filter((n) => !used.has(n)));
  if (dead.size === 0) return;
  graph.initializer = (graph.initializer ?? []).filter((t) => !dead.has(t.name ?? ''));
  graph.input = (graph.input ?? []).filter((vi) => !dead.has(vi.name ?? ''));
  graph.value_info = (graph.value_info ?? []).filter((vi) => !dead.has(vi.name ?? ''));
}

/** Ops whose output has the rank of their (image) input: a BatchNormalization after them is on an NCHW map. */
const SPATIAL_PRODUCERS = new Set(['Conv', 'Add', 'Relu', 'MaxPool', 'AveragePool', 'BatchNormalization', 'Clip']);

/**
 * A BatchNormalization that no Conv feeds (a pre-activation ResNet v2 has one
 * after each residual Add, and one on the input) becomes the 1x1 depthwise
 * Conv it is: weight gamma / sqrt(var + eps) per channel, bias beta - mean *
 * that. ONNX Runtime then runs it as a QLinearConv, with the Relu after it
 * folded, instead of dequantizing, normalising in float and quantizing again
 * with a layout change on each side (half the INT8 speed of a pre-activation
 * resnet50 here). Only on 4-d maps: the input must come from a convolutional
 * op, or be the graph's rank-4 input. Edits `graph` in place; answers how many.
 */
export function batchNormToConv(graph: GraphProto): number {
  const index = new GraphIndex(graph);
  const rank4Inputs = new Set((graph.input ?? []).filter((vi) => vi.type?.tensor_type?.shape?.dim?.length === 4).map((vi) => vi.name ?? ''));
  const added: TensorProto[] = [];
  let converted = 0;
  graph.node = (graph.node ?? []).map((bn) => {
    if (bn.op_type !== 'BatchNormalization' || (bn.output ?? []).filter((o) => o).length !== 1) return bn;
    const [x = '', gName = '', bName = '', mName = '', vName = ''] = bn.input ?? [];
    const spatial = rank4Inputs.has(x) || SPATIAL_PRODUCERS.has(index.producer.get(x)?.op_type ?? '');
    const params = [gName, bName, mName, vName].map((n) => index.initializers.get(n));
    if (!spatial || params.some((p) => p === undefined)) return bn;
    const [gamma, beta, mean, variance] = params.map((p) => tensorToFloat32(p as TensorProto)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const eps = attrFloatValue(bn, 'epsilon', ONNX_BN_EPSILON);
    const c = gamma.length;
    const weight = new Float32Array(c);
    const bias = new Float32Array(c);
    for (let i = 0; i < c; i++) {
      weight[i] = gamma[i]! / Math.sqrt(variance[i]! + eps);
      bias[i] = beta[i]! - mean[i]! * weight[i]!;
    }
    const base = bn.name || bn.output?.[0] || 'batchnorm';
    added.push(floatTensor(`${base}.as_conv_weight`, [c, 1, 1, 1], weight), floatTensor(`${base}.as_conv_bias`, [c], bias));
    converted++;
    return makeNode('Conv', [x, `${base}.as_conv_weight`, `${base}.as_conv_bias`], [bn.output?.[0] ?? ''], `${base}.as_conv`, [
      attrInt('group', c),
      attrInts('kernel_shape', [1, 1]),
    ]);
  });
  if (converted === 0) return 0;
  graph.initializer = [...(graph.initializer ?? []), ...added];
  dropUnused(graph);
  return converted;
}
