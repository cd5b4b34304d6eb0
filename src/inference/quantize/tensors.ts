/**
 * Integer initializers for a quantized graph (raw_data, little-endian like
 * the float builders of onnx-proto.ts).
 */
import { DataType, type TensorProto } from '../onnx-proto.ts';

function checkCount(name: string, dims: readonly number[], length: number): void {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== length) throw new RangeError(`tensor ${name}: dims [${dims.join(',')}] need ${expected} values, got ${length}`);
}

function rawTensor(name: string, dims: readonly number[], dataType: number, data: ArrayBufferView, length: number): TensorProto {
  checkCount(name, dims, length);
  return { dims: [...dims], data_type: dataType, name, raw_data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export function int8Tensor(name: string, dims: readonly number[], data: Int8Array): TensorProto {
  return rawTensor(name, dims, DataType.INT8, data, data.length);
}

export function uint8Tensor(name: string, dims: readonly number[], data: Uint8Array): TensorProto {
  return rawTensor(name, dims, DataType.UINT8, data, data.length);
}

export function int32Tensor(name: string, dims: readonly number[], data: Int32Array): TensorProto {
  return rawTensor(name, dims, DataType.INT32, data, data.length);
}

/** A float32 initializer that owns a copy of `values`. */
export function float32Tensor(name: string, dims: readonly number[], values: ArrayLike<number>): TensorProto {
  const data = Float32Array.from(values as ArrayLike<number>);
  return rawTensor(name, dims, DataType.FLOAT, data, data.length);
}
