/**
 * Look-ups over a GraphProto that the quantization passes share: which node
 * produces a tensor, which nodes read it, which tensors are constants.
 * A snapshot: rebuild it after editing the graph.
 */
import { findAttr, type GraphProto, type NodeProto, type TensorProto } from '../onnx-proto.ts';

export class GraphIndex {
  readonly producer = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly initializers = new Map<string, TensorProto>();
  readonly graphOutputs: Set<string>;

  constructor(readonly graph: GraphProto) {
    for (const t of graph.initializer ?? []) if (t.name) this.initializers.set(t.name, t);
    for (const node of graph.node ?? []) {
      for (const out of node.output ?? []) if (out) this.producer.set(out, node);
      for (const input of node.input ?? []) {
        if (!input) continue;
        const list = this.consumers.get(input);
        if (list) list.push(node);
        else this.consumers.set(input, [node]);
      }
      // Constant nodes hold a tensor too.
      if (node.op_type === 'Constant' && node.output?.[0]) {
        const t = findAttr(node, 'value')?.t;
        if (t) this.initializers.set(node.output[0], { ...t, name: node.output[0] });
      }
    }
    this.graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  }

  isConstant(name: string): boolean {
    return this.initializers.has(name);
  }

  consumersOf(name: string): NodeProto[] {
    return this.consumers.get(name) ?? [];
  }

  /** The single node reading `name`, when exactly one does and it is not also a graph output. */
  soleConsumer(name: string): NodeProto | undefined {
    const list = this.consumersOf(name);
    return list.length === 1 && !this.graphOutputs.has(name) ? list[0] : undefined;
  }
}
