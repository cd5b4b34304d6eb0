/**
 * The ONNX file format (`onnx.proto`, IR version 11) for protobufjs, plus
 * typed views of the messages and small builders for tensors, nodes and
 * attributes.
 *
 * The schema is written in proto2 syntax like the upstream `onnx.proto`
 * (not `onnx.proto3`), because that is what PyTorch, the `onnx` Python
 * package and ONNX Runtime serialise with: `dims` and attribute `ints` are
 * unpacked on the wire, the typed `*_data` fields are `[packed = true]`.
 * Using the same packing makes decode -> encode byte-identical for files
 * written by those tools; files written with proto3 packing still decode and
 * re-encode field-for-field equal.
 *
 * Every message and field of upstream onnx.proto is declared, so nothing is
 * dropped as an unknown field on a round trip.
 *
 * int64: protobufjs decodes int64 as `Long`. `decodeModel` converts every
 * int64/uint64 to a JS `number`, so callers see one type. Values beyond
 * +-2^53 are rounded to the nearest double; the only such values exporters
 * write in practice are INT64_MAX / INT64_MIN (e.g. Slice "to the end"), and
 * those re-encode exactly because Long.fromNumber saturates at the limits.
 */
import protobuf from 'protobufjs';
import { ModelInvalidError } from '../shared/errors.ts';

/** The schema text (upstream onnx.proto, proto2, comments removed). */
export const ONNX_PROTO = `
syntax = "proto2";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5;
    SPARSE_TENSOR = 11; TYPE_PROTO = 13;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10;
    SPARSE_TENSORS = 12; TYPE_PROTOS = 14;
  }
  optional string name = 1;
  optional string ref_attr_name = 21;
  optional string doc_string = 13;
  optional AttributeType type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  optional GraphProto g = 6;
  optional SparseTensorProto sparse_tensor = 22;
  optional TypeProto tp = 14;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
  repeated SparseTensorProto sparse_tensors = 23;
  repeated TypeProto type_protos = 15;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
  repeated StringStringEntryProto metadata_props = 4;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  optional string overload = 8;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
  repeated StringStringEntryProto metadata_props = 9;
  repeated NodeDeviceConfigurationProto device_configurations = 10;
}

message IntIntListEntryProto {
  optional int64 key = 1;
  repeated int64 value = 2;
}

message NodeDeviceConfigurationProto {
  optional string configuration_id = 1;
  repeated ShardingSpecProto sharding_spec = 2;
  optional int32 pipeline_stage = 3;
}

message ShardingSpecProto {
  optional string tensor_name = 1;
  repeated int64 device = 2;
  repeated IntIntListEntryProto index_to_device_group_map = 3;
  repeated ShardedDimProto sharded_dim = 4;
}

message ShardedDimProto {
  optional int64 axis = 1;
  repeated SimpleShardedDimProto simple_sharding = 2;
}

message SimpleShardedDimProto {
  oneof dim {
    int64 dim_value = 1;
    string dim_param = 2;
  }
  optional int64 num_shards = 3;
}

message TrainingInfoProto {
  optional GraphProto initialization = 1;
  optional GraphProto algorithm = 2;
  repeated StringStringEntryProto initialization_binding = 3;
  repeated StringStringEntryProto update_binding = 4;
}

message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
  repeated TrainingInfoProto training_info = 20;
  repeated FunctionProto functions = 25;
  repeated DeviceConfigurationProto configuration = 26;
}

message DeviceConfigurationProto {
  optional string name = 1;
  optional int32 num_devices = 2;
  repeated string device = 3;
}

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message TensorAnnotation {
  optional string tensor_name = 1;
  repeated StringStringEntryProto quant_parameter_tensor_names = 2;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated SparseTensorProto sparse_initializer = 15;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
  repeated TensorAnnotation quantization_annotation = 14;
  repeated StringStringEntryProto metadata_props = 16;
}

message TensorProto {
  enum DataLocation {
    DEFAULT = 0;
    EXTERNAL = 1;
  }
  message Segment {
    optional int64 begin = 1;
    optional int64 end = 2;
  }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional Segment segment = 3;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional string doc_string = 12;
  optional bytes raw_data = 9;
  repeated StringStringEntryProto external_data = 13;
  optional DataLocation data_location = 14;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
  repeated StringStringEntryProto metadata_props = 16;
}

message SparseTensorProto {
  optional TensorProto values = 1;
  optional TensorProto indices = 2;
  repeated int64 dims = 3;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  message Sequence {
    optional TypeProto elem_type = 1;
  }
  message Map {
    optional int32 key_type = 1;
    optional TypeProto value_type = 2;
  }
  message Optional {
    optional TypeProto elem_type = 1;
  }
  message SparseTensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  message Opaque {
    optional string domain = 1;
    optional string name = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
    Sequence sequence_type = 4;
    Map map_type = 5;
    Optional optional_type = 9;
    SparseTensor sparse_tensor_type = 8;
    Opaque opaque_type = 7;
  }
  optional string denotation = 6;
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}

message FunctionProto {
  optional string name = 1;
  repeated string input = 4;
  repeated string output = 5;
  repeated string attribute = 6;
  repeated AttributeProto attribute_proto = 11;
  repeated NodeProto node = 7;
  optional string doc_string = 8;
  repeated OperatorSetIdProto opset_import = 9;
  optional string domain = 10;
  optional string overload = 13;
  repeated ValueInfoProto value_info = 12;
  repeated StringStringEntryProto metadata_props = 14;
}
`;

// keepCase: field names stay snake_case, as in onnx.proto and the Python API.
const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
const ModelType = root.lookupType('onnx.ModelProto');

/** TensorProto.DataType values (the subset StreamSight meets). */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  BFLOAT16: 16,
} as const;

/** AttributeProto.AttributeType values. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

// Typed views. Every field is optional, as in proto2: absent means "not on the
// wire". int64 fields are numbers (see the file comment), bytes are Uint8Array
// views into the decoded buffer (not copies).

export interface StringStringEntryProto {
  key?: string;
  value?: string;
}

export interface OperatorSetIdProto {
  domain?: string;
  version?: number;
}

export interface TensorSegment {
  begin?: number;
  end?: number;
}

export interface TensorProto {
  dims?: number[];
  data_type?: number;
  segment?: TensorSegment;
  float_data?: number[];
  int32_data?: number[];
  string_data?: Uint8Array[];
  int64_data?: number[];
  name?: string;
  doc_string?: string;
  raw_data?: Uint8Array;
  external_data?: StringStringEntryProto[];
  /** 0 = DEFAULT (data in this file), 1 = EXTERNAL (see external_data). */
  data_location?: number;
  double_data?: number[];
  uint64_data?: number[];
  metadata_props?: StringStringEntryProto[];
}

export interface SparseTensorProto {
  values?: TensorProto;
  indices?: TensorProto;
  dims?: number[];
}

export interface TensorShapeDimension {
  dim_value?: number;
  dim_param?: string;
  denotation?: string;
}

export interface TensorShapeProto {
  dim?: TensorShapeDimension[];
}

export interface TypeProto {
  tensor_type?: { elem_type?: number; shape?: TensorShapeProto };
  sequence_type?: { elem_type?: TypeProto };
  map_type?: { key_type?: number; value_type?: TypeProto };
  optional_type?: { elem_type?: TypeProto };
  sparse_tensor_type?: { elem_type?: number; shape?: TensorShapeProto };
  opaque_type?: { domain?: string; name?: string };
  denotation?: string;
}

export interface ValueInfoProto {
  name?: string;
  type?: TypeProto;
  doc_string?: string;
  metadata_props?: StringStringEntryProto[];
}

export interface AttributeProto {
  name?: string;
  ref_attr_name?: string;
  doc_string?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  sparse_tensor?: SparseTensorProto;
  tp?: TypeProto;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  sparse_tensors?: SparseTensorProto[];
  type_protos?: TypeProto[];
}

/** Multi-device annotations (IR 11); carried through untouched. */
export interface NodeDeviceConfigurationProto {
  configuration_id?: string;
  sharding_spec?: unknown[];
  pipeline_stage?: number;
}

export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  overload?: string;
  attribute?: AttributeProto[];
  doc_string?: string;
  metadata_props?: StringStringEntryProto[];
  device_configurations?: NodeDeviceConfigurationProto[];
}

export interface TensorAnnotation {
  tensor_name?: string;
  quant_parameter_tensor_names?: StringStringEntryProto[];
}

export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  sparse_initializer?: SparseTensorProto[];
  doc_string?: string;
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  value_info?: ValueInfoProto[];
  quantization_annotation?: TensorAnnotation[];
  metadata_props?: StringStringEntryProto[];
}

export interface TrainingInfoProto {
  initialization?: GraphProto;
  algorithm?: GraphProto;
  initialization_binding?: StringStringEntryProto[];
  update_binding?: StringStringEntryProto[];
}

export interface FunctionProto {
  name?: string;
  input?: string[];
  output?: string[];
  attribute?: string[];
  attribute_proto?: AttributeProto[];
  node?: NodeProto[];
  doc_string?: string;
  opset_import?: OperatorSetIdProto[];
  domain?: string;
  overload?: string;
  value_info?: ValueInfoProto[];
  metadata_props?: StringStringEntryProto[];
}

export interface DeviceConfigurationProto {
  name?: string;
  num_devices?: number;
  device?: string[];
}

export interface ModelProto {
  ir_version?: number;
  opset_import?: OperatorSetIdProto[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: number;
  doc_string?: string;
  graph?: GraphProto;
  metadata_props?: StringStringEntryProto[];
  training_info?: TrainingInfoProto[];
  functions?: FunctionProto[];
  configuration?: DeviceConfigurationProto[];
}

/**
 * Parses an ONNX model file. Throws ModelInvalidError ("not an ONNX model:
 * ...") when the bytes are not a protobuf ModelProto with an IR version and a
 * graph. Tensor bytes in the result are views into `bytes`, not copies.
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  let model: ModelProto;
  try {
    const message = ModelType.decode(bytes);
    // longs: Number gives one int64 type; defaults: false keeps only the
    // fields that were on the wire, so re-encoding writes exactly those.
    model = ModelType.toObject(message, { longs: Number, defaults: false }) as unknown as ModelProto;
  } catch (err) {
    throw new ModelInvalidError(`not an ONNX model: ${describe(err)}`, { cause: err });
  }
  // Random bytes sometimes parse as a protobuf message by chance; a real
  // model always carries its IR version and a graph.
  if (typeof model.ir_version !== 'number' || model.ir_version < 1) {
    throw new ModelInvalidError('not an ONNX model: no IR version');
  }
  if (model.graph === undefined) throw new ModelInvalidError('not an ONNX model: no graph');
  return model;
}

/** Serialises a model; the inverse of decodeModel. */
export function encodeModel(model: ModelProto): Uint8Array {
  const chunks = modelChunks(model);
  const out = Buffer.allocUnsafeSlow(chunks.reduce((n, c) => n + c.byteLength, 0));
  let pos = 0;
  for (const chunk of chunks) {
    out.set(chunk, pos);
    pos += chunk.byteLength;
  }
  return out;
}

// Why chunks: protobufjs 8's writer grows one buffer by doubling and shifts a
// nested message's bytes when its length prefix needs more than one byte, so
// a 100 MB graph was copied four or five times (over a second for resnet50,
// paid at every model load by the graph edit). Here protobufjs encodes only
// the small parts; each large raw_data is copied once, into the output.
// Fields are emitted in field-number order, as protobufjs (and C++ protobuf)
// do, so the bytes are identical to a plain protobufjs encode.

/** raw_data at least this long (bytes) is spliced, not encoded by protobufjs. */
const SPLICE_MIN_BYTES = 64 * 1024;
const GraphType = root.lookupType('onnx.GraphProto');
const TensorType = root.lookupType('onnx.TensorProto');

function modelChunks(model: ModelProto): Uint8Array[] {
  if (model.graph === undefined) return [encodePart(ModelType, model)];
  const [before, after] = splitAtField(ModelType, model, 'graph');
  return [encodePart(ModelType, before), ...nested(7, graphChunks(model.graph)), encodePart(ModelType, after)];
}

function graphChunks(graph: GraphProto): Uint8Array[] {
  const [before, after] = splitAtField(GraphType, graph, 'initializer');
  const initializers = (graph.initializer ?? []).flatMap((t) => nested(5, tensorChunks(t)));
  return [encodePart(GraphType, before), ...initializers, encodePart(GraphType, after)];
}

function tensorChunks(tensor: TensorProto): Uint8Array[] {
  const raw = tensor.raw_data;
  if (raw === undefined || raw.byteLength < SPLICE_MIN_BYTES) return [encodePart(TensorType, tensor)];
  const [before, after] = splitAtField(TensorType, tensor, 'raw_data');
  return [encodePart(TensorType, before), lengthDelimitedHeader(9, raw.byteLength), raw, encodePart(TensorType, after)];
}

/** A length-delimited field: its tag and length, then its content. */
function nested(field: number, content: Uint8Array[]): Uint8Array[] {
  return [
    lengthDelimitedHeader(
      field,
      content.reduce((n, c) => n + c.byteLength, 0),
    ),
    ...content,
  ];
}

function lengthDelimitedHeader(field: number, length: number): Uint8Array {
  const bytes: number[] = [];
  for (const value of [field * 8 + 2, length]) {
    let v = value;
    while (v > 127) {
      bytes.push((v % 128) | 128);
      v = Math.floor(v / 128);
    }
    bytes.push(v);
  }
  return Uint8Array.from(bytes);
}

/** The object's fields numbered below and above `key`'s field number. */
function splitAtField<T extends object>(type: protobuf.Type, message: T, key: keyof T & string): [object, object] {
  const pivot = type.fields[key]?.id ?? 0;
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(message)) {
    const id = type.fields[name]?.id;
    if (id === undefined || id === pivot) continue;
    (id < pivot ? before : after)[name] = value;
  }
  return [before, after];
}

function encodePart(type: protobuf.Type, part: object): Uint8Array {
  // fromObject() turns int64 numbers into Long with saturation at the int64
  // limits (encode() on a bare number would wrap 2^63 to INT64_MIN). It keeps
  // bytes fields by reference.
  return type.encode(type.fromObject(part)).finish();
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---- builders and readers -------------------------------------------------

// raw_data is little-endian by the ONNX spec; typed-array views are in host
// order, so the builders below are only right on little-endian hosts (x86,
// arm64: every host ONNX Runtime ships for).
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function assertLittleEndian(): void {
  if (!HOST_IS_LITTLE_ENDIAN) throw new RangeError('ONNX raw_data needs a little-endian host');
}

/** A float32 initializer stored as raw_data (shares `data`'s memory). */
export function floatTensor(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  assertLittleEndian();
  checkElementCount(name, dims, data.length);
  return {
    dims: [...dims],
    data_type: DataType.FLOAT,
    name,
    raw_data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

/** An int64 initializer stored as raw_data (e.g. a Reshape target shape). */
export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): TensorProto {
  assertLittleEndian();
  checkElementCount(name, dims, values.length);
  const data = BigInt64Array.from(values, (v) => BigInt(v));
  return { dims: [...dims], data_type: DataType.INT64, name, raw_data: new Uint8Array(data.buffer) };
}

function checkElementCount(name: string, dims: readonly number[], length: number): void {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== length) {
    throw new RangeError(`tensor ${name}: dims [${dims.join(',')}] need ${expected} values, got ${length}`);
  }
}

export function attrInt(name: string, i: number): AttributeProto {
  return { name, type: AttributeType.INT, i };
}

export function attrInts(name: string, ints: readonly number[]): AttributeProto {
  return { name, type: AttributeType.INTS, ints: [...ints] };
}

export function attrFloat(name: string, f: number): AttributeProto {
  return { name, type: AttributeType.FLOAT, f };
}

export function makeNode(opType: string, inputs: readonly string[], outputs: readonly string[], name: string, attributes: AttributeProto[] = []): NodeProto {
  const node: NodeProto = { input: [...inputs], output: [...outputs], name, op_type: opType };
  if (attributes.length > 0) node.attribute = attributes;
  return node;
}

/** A tensor value info; a string dim is symbolic (dim_param), a number fixed. */
export function tensorValueInfo(name: string, elemType: number, dims: readonly (number | string | null)[] | null): ValueInfoProto {
  const tensorType: NonNullable<TypeProto['tensor_type']> = { elem_type: elemType };
  if (dims !== null) {
    tensorType.shape = {
      dim: dims.map((d) => (d === null ? {} : typeof d === 'number' ? { dim_value: d } : { dim_param: d })),
    };
  }
  return { name, type: { tensor_type: tensorType } };
}

export function findAttr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

/** An INT attribute's value, or `fallback` (the operator's default) when absent. */
export function attrIntValue(node: NodeProto, name: string, fallback: number): number {
  return findAttr(node, name)?.i ?? fallback;
}

/** An INTS attribute's values, or `fallback` when absent. */
export function attrIntsValue(node: NodeProto, name: string, fallback: readonly number[]): number[] {
  const a = findAttr(node, name);
  return a?.ints ? [...a.ints] : [...fallback];
}

/** A FLOAT attribute's value, or `fallback` when absent. */
export function attrFloatValue(node: NodeProto, name: string, fallback: number): number {
  return findAttr(node, name)?.f ?? fallback;
}

export function elementCount(tensor: TensorProto): number {
  return (tensor.dims ?? []).reduce((a, b) => a * b, 1);
}

/** A float32 tensor's values (a copy), from raw_data or float_data. */
export function tensorToFloat32(tensor: TensorProto): Float32Array {
  if (tensor.data_type !== DataType.FLOAT) {
    throw new RangeError(`tensor ${tensor.name ?? '?'}: data_type ${tensor.data_type ?? '?'} is not FLOAT`);
  }
  if (tensor.data_location === 1) throw new RangeError(`tensor ${tensor.name ?? '?'}: data is external`);
  const count = elementCount(tensor);
  if (tensor.raw_data !== undefined) {
    assertLittleEndian();
    if (tensor.raw_data.byteLength !== count * 4) {
      throw new RangeError(`tensor ${tensor.name ?? '?'}: raw_data has ${tensor.raw_data.byteLength} bytes, need ${count * 4}`);
    }
    // slice() copies into a fresh, 4-byte aligned buffer; the decoded view
    // may sit at any offset of the file buffer.
    return new Float32Array(Uint8Array.prototype.slice.call(tensor.raw_data).buffer);
  }
  return Float32Array.from(tensor.float_data ?? []);
}

/** An int64 tensor's values as numbers, from raw_data or int64_data. */
export function tensorToInt64(tensor: TensorProto): number[] {
  if (tensor.data_type !== DataType.INT64) {
    throw new RangeError(`tensor ${tensor.name ?? '?'}: data_type ${tensor.data_type ?? '?'} is not INT64`);
  }
  if (tensor.raw_data !== undefined) {
    assertLittleEndian();
    const copy = Uint8Array.prototype.slice.call(tensor.raw_data);
    return Array.from(new BigInt64Array(copy.buffer), (v) => Number(v));
  }
  return [...(tensor.int64_data ?? [])];
}

/** metadata_props as a plain record (later duplicates win). */
export function metadataRecord(model: ModelProto): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, value } of model.metadata_props ?? []) {
    if (key !== undefined) out[key] = value ?? '';
  }
  return out;
}
