/**
 * Per-channel DequantizeLinear (the `axis` attribute) needs ONNX opset 13.
 * Older classifiers, such as the registry's ONNX Model Zoo ResNets
 * (resnet*-v2-7, opset 7, IR 3), are moved to opset 13 here (pure, in place):
 * the ops they use kept their meaning from opset 7 to 13 except for a few
 * attributes that became inputs or were dropped, which are rewritten; a graph
 * holding an op whose meaning changed in a way not rewritten here is refused.
 */
import { ModelInvalidError } from '../../shared/errors.ts';
import { int64Tensor, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx-proto.ts';
import { float32Tensor } from './tensors.ts';

export const QDQ_OPSET = 13;
/** IR version that opset 13 needs. */
const QDQ_IR_VERSION = 7;

/** Ops whose inputs or meaning changed between opset 7 and 13 and that are not rewritten. */
const CHANGED_OPS = new Set([
  'Slice',
  'Pad',
  'Split',
  'ReduceSum',
  'Upsample',
  'Resize',
  'TopK',
  'Scan',
  'Loop',
  'If',
  'Scatter',
  'ScatterElements',
  'MaxUnpool',
  'Cast',
]);

export function defaultOpset(model: ModelProto): number {
  return (model.opset_import ?? []).find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx')?.version ?? 0;
}

/** Answers the opset the model had; the model is at QDQ_OPSET or later afterwards. */
export function upgradeToQdqOpset(model: ModelProto, name: string): number {
  const from = defaultOpset(model);
  if (from >= QDQ_OPSET) return from;
  const graph = model.graph as GraphProto;
  const refused = [...new Set((graph.node ?? []).map((n) => n.op_type ?? '').filter((op) => CHANGED_OPS.has(op)))];
  if (refused.length > 0) {
    throw new ModelInvalidError(
      `${name} uses ONNX opset ${from} with ${refused.join(', ')}, which changed before opset ${QDQ_OPSET} (needed for per-channel quantization)`,
      {
        hint: `re-export the model with opset_version >= ${QDQ_OPSET}`,
      },
    );
  }
  const added: TensorProto[] = [];
  const nodes: NodeProto[] = [];
  const renamed = new Map<string, string>();
  for (const node of graph.node ?? []) {
    const op = node.op_type ?? '';
    const drop = (...names: string[]): void => {
      node.attribute = (node.attribute ?? []).filter((a) => !names.includes(a.name ?? ''));
    };
    if (op === 'Dropout') {
      // Identity at inference; its ratio attribute became an input in opset 12.
      renamed.set(node.output?.[0] ?? '', node.input?.[0] ?? '');
      continue;
    }
    if (op === 'BatchNormalization') drop('spatial', 'is_test', 'consumed_inputs'); // spatial = 1 is opset 9's only behaviour
    if (op === 'Squeeze' || op === 'Unsqueeze') {
      const axes = node.attribute?.find((a) => a.name === 'axes')?.ints;
      if (axes !== undefined) {
        const t = int64Tensor(`${node.name || node.output?.[0] || op}.axes`, [axes.length], axes);
        added.push(t);
        node.input = [...(node.input ?? []), t.name ?? ''];
        drop('axes');
      }
    }
    if (op === 'Clip') {
      const min = node.attribute?.find((a) => a.name === 'min')?.f;
      const max = node.attribute?.find((a) => a.name === 'max')?.f;
      const base = node.name || node.output?.[0] || op;
      const inputs = [node.input?.[0] ?? ''];
      inputs.push(min === undefined ? '' : tensorName(added, float32Tensor(`${base}.min`, [], [min])));
      if (max !== undefined) inputs.push(tensorName(added, float32Tensor(`${base}.max`, [], [max])));
      node.input = inputs;
      drop('min', 'max');
    }
    nodes.push(node);
  }
  for (const node of nodes) node.input = (node.input ?? []).map((i) => renamed.get(i) ?? i);
  for (const out of graph.output ?? []) {
    if (renamed.has(out.name ?? '')) throw new ModelInvalidError(`${name}: a Dropout output is a graph output; re-export without it`);
  }
  graph.node = nodes;
  graph.initializer = [...(graph.initializer ?? []), ...added];
  // IR < 4 listed every initializer as a graph input too; ONNX Runtime treats those as
  // overridable, so not as constants it may fold or fuse.
  const init = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  graph.input = (graph.input ?? []).filter((vi) => !init.has(vi.name ?? ''));
  model.opset_import = [...(model.opset_import ?? []).filter((o) => !((o.domain ?? '') === '' || o.domain === 'ai.onnx')), { domain: '', version: QDQ_OPSET }];
  model.ir_version = Math.max(model.ir_version ?? 0, QDQ_IR_VERSION);
  return from;
}

function tensorName(into: TensorProto[], t: TensorProto): string {
  into.push(t);
  return t.name ?? '';
}
