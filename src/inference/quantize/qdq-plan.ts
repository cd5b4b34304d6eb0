/**
 * Where the QuantizeLinear -> DequantizeLinear pairs go (pure). ONNX
 * Runtime's QDQ transformers fuse a node into its integer kernel only when
 * every activation input arrives through a DequantizeLinear and its one
 * output goes straight into a QuantizeLinear:
 *
 *   DQ(x), DQ(w int8, axis 0), DQ(b int32) -> Conv [-> Relu] -> Q   => QLinearConv
 *   DQ(a), DQ(b) -> Add [-> Relu] -> Q                              => QLinearAdd
 *   DQ(x) -> MaxPool -> Q (same scale and zero point)               => MaxPool on uint8
 *
 * A Relu between the node and its Q is removed by ONNX Runtime when the Q's
 * zero point is 0 (ReluQuantFusion), so a Relu output is quantized with the
 * range [0, hi]: the Relu is folded into its producer's range.
 */
import type { GraphProto, NodeProto } from '../onnx-proto.ts';
import { GraphIndex } from './graph-index.ts';

export interface QuantizedConv {
  node: NodeProto;
  /** The Conv's own output (before any Relu): where bias correction measures the mean shift. */
  output: string;
  outChannels: number;
}

export interface QdqPlan {
  /** Activation tensors that get a Q -> DQ pair, in graph order. */
  tensors: string[];
  /** Tensors that are the output of a Relu folded into its producer: quantized as [0, hi]. */
  reluOutputs: Set<string>;
  /** MaxPool-like outputs that reuse their input's scale and zero point. */
  sharesParamsWith: Map<string, string>;
  convs: QuantizedConv[];
  adds: NodeProto[];
  /** Op types left in float, with counts (for the report). */
  floatOps: Record<string, number>;
}

/** Ops whose integer form needs the same input and output parameters. */
const PARAM_PRESERVING = new Set(['MaxPool']);

/**
 * `keepFloat` names nodes (by name, else first output) that stay float: the
 * classifier, so that the graph edit still finds it at load (a Conv
 * classifier, SqueezeNet or Keras MobileNet, would otherwise be quantized)
 * and the class scores keep float precision.
 */
export function planQdq(graph: GraphProto, keepFloat: ReadonlySet<string> = new Set()): QdqPlan {
  const index = new GraphIndex(graph);
  const tensors = new Set<string>();
  const reluOutputs = new Set<string>();
  const sharesParamsWith = new Map<string, string>();
  const convs: QuantizedConv[] = [];
  const adds: NodeProto[] = [];
  const floatOps: Record<string, number> = {};

  // The tensor a quantized node's result is quantized at: its output, or the output of a Relu that alone reads it.
  const quantizeResult = (output: string): void => {
    const next = index.soleConsumer(output);
    if (next?.op_type === 'Relu' && next.output?.[0] && !index.graphOutputs.has(next.output[0])) {
      reluOutputs.add(next.output[0]);
      tensors.add(next.output[0]);
    } else if (!index.graphOutputs.has(output)) {
      tensors.add(output);
    }
  };
  const activation = (name: string): boolean => name !== '' && !index.isConstant(name);

  for (const node of graph.node ?? []) {
    const op = node.op_type ?? '';
    if (keepFloat.has(node.name || node.output?.[0] || '')) continue;
    const [x = '', w = '', b = ''] = node.input ?? [];
    if (op === 'Conv' && activation(x) && index.isConstant(w) && (b === '' || index.isConstant(b))) {
      const dims = index.initializers.get(w)?.dims ?? [];
      if (dims.length < 3) continue;
      tensors.add(x);
      quantizeResult(node.output?.[0] ?? '');
      convs.push({ node, output: node.output?.[0] ?? '', outChannels: dims[0]! });
    } else if (op === 'Add' && activation(x) && activation(w)) {
      tensors.add(x);
      tensors.add(w);
      quantizeResult(node.output?.[0] ?? '');
      adds.push(node);
    }
  }
  for (const node of graph.node ?? []) {
    const op = node.op_type ?? '';
    const x = node.input?.[0] ?? '';
    const y = node.output?.[0] ?? '';
    if (PARAM_PRESERVING.has(op) && tensors.has(x) && (node.output ?? []).filter((o) => o).length === 1 && !index.graphOutputs.has(y)) {
      tensors.add(y);
      sharesParamsWith.set(y, x);
    }
  }
  const quantizedNodes = new Set<NodeProto>([...convs.map((c) => c.node), ...adds]);
  for (const node of graph.node ?? []) {
    const op = node.op_type ?? '';
    if (quantizedNodes.has(node)) continue;
    if (op === 'Relu' && reluOutputs.has(node.output?.[0] ?? '')) continue;
    if (PARAM_PRESERVING.has(op) && sharesParamsWith.has(node.output?.[0] ?? '')) continue;
    floatOps[op] = (floatOps[op] ?? 0) + 1;
  }
  // Graph order, so that the report and the inserted nodes read top to bottom.
  const order = new Map<string, number>();
  for (const vi of graph.input ?? []) order.set(vi.name ?? '', -1);
  (graph.node ?? []).forEach((n, i) => (n.output ?? []).forEach((o) => order.set(o, i)));
  const sorted = [...tensors].sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
  return { tensors: sorted, reluOutputs, sharesParamsWith, convs, adds, floatOps };
}
