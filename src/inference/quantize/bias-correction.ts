/**
 * Empirical bias correction (Nagel et al., "Data-Free Quantization Through
 * Weight Equalization and Bias Correction", 2019, section 4.2, measured on
 * data): the rounding of a layer's int8 weights and int32 bias shifts the
 * mean of its output, E[W~x + b~] - E[Wx + b], and the next layers see that
 * shift as a bias of their own. Subtracting it from the bias removes it.
 *
 * Each Conv of the QDQ model gets a float twin that reads the same
 * dequantized input with the float weights; both outputs are exposed, so
 * ONNX Runtime leaves the Conv unfused and computes its integer arithmetic in
 * float, exactly. Comparing the twins on the same input measures each layer's
 * own shift only; comparing with the float model instead would also count
 * the shift of every layer upstream, which those layers correct themselves,
 * and over-correct.
 */
import type { GraphProto, ModelProto, NodeProto } from '../onnx-proto.ts';
import type { QdqPlan } from './qdq-plan.ts';
import type { TensorStats } from './tensor-stats.ts';

export const REFERENCE_SUFFIX = '__float_reference';

/**
 * The QDQ model plus, for each planned Conv, a float Conv on the same
 * dequantized input, output `<conv output>__float_reference`.
 */
export function withReferenceConvs(qdq: ModelProto, folded: ModelProto, plan: QdqPlan): ModelProto {
  const graph = qdq.graph as GraphProto;
  const floatInit = new Map(((folded.graph as GraphProto).initializer ?? []).map((t) => [t.name ?? '', t]));
  const byOutput = new Map<string, NodeProto>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) byOutput.set(o, n);
  const twins: NodeProto[] = [];
  const initializers = [...(graph.initializer ?? [])];
  const have = new Set(initializers.map((t) => t.name ?? ''));
  for (const conv of plan.convs) {
    const quantized = byOutput.get(conv.output);
    if (quantized === undefined) throw new RangeError(`Conv output "${conv.output}" is missing from the QDQ model`);
    const [, w = '', b = ''] = conv.node.input ?? [];
    for (const name of [w, b]) {
      if (name === '' || have.has(name)) continue;
      initializers.push(floatInit.get(name)!);
      have.add(name);
    }
    const inputs = [quantized.input?.[0] ?? '', w, ...(b ? [b] : [])];
    twins.push({ ...conv.node, name: `${conv.node.name ?? conv.output}${REFERENCE_SUFFIX}`, input: inputs, output: [`${conv.output}${REFERENCE_SUFFIX}`] });
  }
  return { ...qdq, graph: { ...graph, node: [...(graph.node ?? []), ...twins], initializer: initializers } };
}

/** Per Conv output: mean(quantized) - mean(float twin), per channel. */
export function biasShifts(plan: QdqPlan, stats: TensorStats): Map<string, Float32Array> {
  const shifts = new Map<string, Float32Array>();
  for (const conv of plan.convs) {
    const q = stats.channelMeans.get(conv.output)?.means();
    const f = stats.channelMeans.get(`${conv.output}${REFERENCE_SUFFIX}`)?.means();
    if (q === undefined || f === undefined) throw new RangeError(`no statistics for Conv output "${conv.output}"`);
    shifts.set(
      conv.output,
      Float32Array.from(q, (v, c) => v - f[c]!),
    );
  }
  return shifts;
}

/** The tensors (and channel counts) the correction pass measures. */
export function correctionTensors(plan: QdqPlan): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of plan.convs) {
    out.set(c.output, c.outChannels);
    out.set(`${c.output}${REFERENCE_SUFFIX}`, c.outChannels);
  }
  return out;
}
