/**
 * Moves a model's value preprocessing into its graph: a new input takes the
 * decoded frames' bytes as they are (uint8, NHWC, RGB), and a few nodes in
 * front of the model's own input do per element what JavaScript would
 * otherwise do per pixel:
 *
 *   frames uint8 [N,H,W,3] -> Cast(float) -> Gather(axis 3, [2,1,0]) (BGR models only)
 *     -> Mul(scale / std) -> Add(-mean / std) -> Transpose(0,3,1,2) (NCHW models only)
 *     -> the model's input
 *
 * (v * scale - mean) / std = v * (scale / std) + (-mean / std), per channel
 * in the model's channel order. The inference thread applies it when it
 * opens a session, so LoadedModel.bytes stays the float model (what
 * `models quantize` calibrates and the index hashes). Pure.
 */
import type { PreprocessSpec } from '../contracts/preprocess.ts';
import { ModelInvalidError } from '../shared/errors.ts';
import { DataType, attrInt, attrInts, decodeModel, encodeModel, floatTensor, int64Tensor, makeNode, tensorValueInfo, type GraphProto } from './onnx-proto.ts';

/** The name of the uint8 input the prefix adds. */
export const FRAMES_INPUT = 'streamsight_frames';

export interface PrefixedModel {
  bytes: Uint8Array;
  /** FRAMES_INPUT: feed it uint8 [count, inputHeight, inputWidth, 3], packed rgb24 frames. */
  inputName: string;
}

/** The per-channel multiplier and offset, in the model's channel order. */
export function channelAffine(spec: Pick<PreprocessSpec, 'scale' | 'mean' | 'std' | 'channelOrder'>): { mul: Float32Array; add: Float32Array } {
  const order = spec.channelOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const mul = new Float32Array(order.map((c) => spec.scale / spec.std[c]!));
  const add = new Float32Array(order.map((c) => -spec.mean[c]! / spec.std[c]!));
  return { mul, add };
}

/**
 * The model with the uint8 frames input in front of `inputName`. Throws
 * ModelInvalidError when `inputName` is not one of the graph's inputs or
 * the frames input's name is taken.
 */
export function prefixFramesInput(modelBytes: Uint8Array, inputName: string, spec: PreprocessSpec): PrefixedModel {
  const model = decodeModel(modelBytes);
  const graph = model.graph as GraphProto;
  const inputs = graph.input ?? [];
  const at = inputs.findIndex((i) => i.name === inputName);
  if (at === -1) throw new ModelInvalidError(`model has no input "${inputName}" to put the frames input in front of`);
  const taken = new Set([...inputs.map((i) => i.name), ...(graph.node ?? []).flatMap((n) => n.output ?? [])]);
  if (taken.has(FRAMES_INPUT)) throw new ModelInvalidError(`model already has a tensor named ${FRAMES_INPUT}`);

  const dims = inputs[at]!.type?.tensor_type?.shape?.dim ?? [];
  const batch = dims[0]?.dim_value !== undefined && Number(dims[0].dim_value) > 0 ? Number(dims[0].dim_value) : 'batch';
  const p = (s: string): string => `${FRAMES_INPUT}_${s}`;
  const { mul, add } = channelAffine(spec);
  const nodes = [makeNode('Cast', [FRAMES_INPUT], [p('float')], p('cast'), [attrInt('to', DataType.FLOAT)])];
  let last = p('float');
  const initializers = [floatTensor(p('mul_k'), [3], mul), floatTensor(p('add_k'), [3], add)];
  if (spec.channelOrder === 'BGR') {
    initializers.push(int64Tensor(p('bgr_k'), [3], [2, 1, 0]));
    nodes.push(makeNode('Gather', [last, p('bgr_k')], [p('bgr')], p('gather'), [attrInt('axis', 3)]));
    last = p('bgr');
  }
  const nchw = spec.layout === 'NCHW';
  nodes.push(makeNode('Mul', [last, p('mul_k')], [p('scaled')], p('mul')));
  nodes.push(makeNode('Add', [p('scaled'), p('add_k')], [nchw ? p('nhwc') : inputName], p('add')));
  if (nchw) nodes.push(makeNode('Transpose', [p('nhwc')], [inputName], p('transpose'), [attrInts('perm', [0, 3, 1, 2])]));

  graph.node = [...nodes, ...(graph.node ?? [])];
  graph.initializer = [...(graph.initializer ?? []), ...initializers];
  graph.input = [...inputs.slice(0, at), tensorValueInfo(FRAMES_INPUT, DataType.UINT8, [batch, spec.inputHeight, spec.inputWidth, 3]), ...inputs.slice(at + 1)];
  return { bytes: encodeModel(model), inputName: FRAMES_INPUT };
}
