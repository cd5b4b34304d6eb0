import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { ModelInvalidError } from '../../../src/shared/errors.ts';
import {
  AttributeType,
  ONNX_PROTO,
  DataType,
  decodeModel,
  encodeModel,
  floatTensor,
  int64Tensor,
  makeNode,
  metadataRecord,
  tensorToFloat32,
  tensorToInt64,
  tensorValueInfo,
  type ModelProto,
} from '../../../src/inference/onnx-proto.ts';
import { synthResnet } from '../../../src/inference/resnet-synth.ts';

// INT64_MAX as the nearest double (2^63): what decodeModel returns for it.
const INT64_MAX = 2 ** 63;

/** A model that sets at least one of every message and field kind in onnx.proto. */
function everyFieldModel(): ModelProto {
  const sparse = {
    values: { dims: [2], data_type: DataType.FLOAT, float_data: [1.5, -2.5], name: 'sp' },
    indices: { dims: [2], data_type: DataType.INT64, int64_data: [0, 3] },
    dims: [4],
  };
  const subgraph = { name: 'body', node: [makeNode('Identity', ['a'], ['b'], 'id')] };
  return {
    ir_version: 10,
    opset_import: [
      { domain: '', version: 21 },
      { domain: 'com.example', version: 1 },
    ],
    producer_name: 'test',
    producer_version: '1.2',
    domain: 'org.example',
    model_version: 3,
    doc_string: 'every field',
    graph: {
      name: 'g',
      doc_string: 'graph doc',
      node: [
        {
          input: ['x', ''],
          output: ['y'],
          name: 'n',
          op_type: 'Custom',
          domain: 'com.example',
          overload: 'o1',
          doc_string: 'node doc',
          metadata_props: [{ key: 'nk', value: 'nv' }],
          device_configurations: [{ configuration_id: 'cfg', pipeline_stage: 2 }],
          attribute: [
            { name: 'f', type: AttributeType.FLOAT, f: 0.25 },
            { name: 'i', type: AttributeType.INT, i: -7 },
            { name: 'big', type: AttributeType.INTS, ints: [INT64_MAX, -INT64_MAX - 1, 0, -1] },
            { name: 's', type: AttributeType.STRING, s: new Uint8Array([104, 105]) },
            { name: 't', type: AttributeType.TENSOR, t: { dims: [1], data_type: DataType.DOUBLE, double_data: [Math.PI] } },
            { name: 'g', type: AttributeType.GRAPH, g: subgraph },
            { name: 'sp', type: AttributeType.SPARSE_TENSOR, sparse_tensor: sparse },
            { name: 'tp', type: AttributeType.TYPE_PROTO, tp: { tensor_type: { elem_type: DataType.FLOAT } } },
            { name: 'fs', type: AttributeType.FLOATS, floats: [1, 2] },
            { name: 'ss', type: AttributeType.STRINGS, strings: [new Uint8Array([1]), new Uint8Array([2])] },
            { name: 'ts', type: AttributeType.TENSORS, tensors: [{ dims: [1], data_type: DataType.INT32, int32_data: [-3] }] },
            { name: 'gs', type: AttributeType.GRAPHS, graphs: [subgraph] },
            { name: 'sps', type: AttributeType.SPARSE_TENSORS, sparse_tensors: [sparse] },
            { name: 'tps', type: AttributeType.TYPE_PROTOS, type_protos: [{ denotation: 'IMAGE' }] },
            { name: 'ref', ref_attr_name: 'outer', doc_string: 'attr doc', type: AttributeType.INT },
          ],
        },
      ],
      initializer: [
        {
          dims: [2, 2],
          data_type: DataType.FLOAT,
          name: 'ext',
          doc_string: 'external',
          segment: { begin: 0, end: 4 },
          external_data: [
            { key: 'location', value: 'weights.bin' },
            { key: 'offset', value: '0' },
          ],
          data_location: 1,
          metadata_props: [{ key: 'tk', value: 'tv' }],
        },
        { dims: [2], data_type: 13 /* UINT64 */, uint64_data: [0, 2 ** 40] },
        { dims: [1], data_type: DataType.STRING, string_data: [new Uint8Array([0xe2, 0x82, 0xac])] },
        floatTensor('raw', [3], new Float32Array([1, -0, Number.MIN_VALUE])),
      ],
      sparse_initializer: [sparse],
      input: [
        tensorValueInfo('x', DataType.FLOAT, ['batch', 3, null]),
        { name: 'seq', type: { sequence_type: { elem_type: { tensor_type: { elem_type: DataType.INT64 } } } } },
        { name: 'map', type: { map_type: { key_type: DataType.STRING, value_type: { tensor_type: { elem_type: 1 } } } } },
        { name: 'opt', type: { optional_type: { elem_type: { tensor_type: { elem_type: 1 } } } } },
        { name: 'spt', type: { sparse_tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 4, denotation: 'DATA_CHANNEL' }] } } } },
        { name: 'opq', type: { opaque_type: { domain: 'd', name: 'n' } }, doc_string: 'opaque', metadata_props: [{ key: 'vk', value: 'vv' }] },
      ],
      output: [tensorValueInfo('y', DataType.FLOAT, ['batch', 3])],
      value_info: [tensorValueInfo('mid', DataType.FLOAT, [1])],
      quantization_annotation: [{ tensor_name: 'y', quant_parameter_tensor_names: [{ key: 'SCALE_TENSOR', value: 's' }] }],
      metadata_props: [{ key: 'gk', value: 'gv' }],
    },
    metadata_props: [{ key: 'k', value: 'v' }],
    training_info: [
      {
        initialization: { name: 'init' },
        algorithm: { name: 'algo' },
        initialization_binding: [{ key: 'w', value: 'w0' }],
        update_binding: [{ key: 'w', value: 'w1' }],
      },
    ],
    functions: [
      {
        name: 'F',
        domain: 'com.example',
        overload: 'o1',
        input: ['a'],
        output: ['b'],
        attribute: ['alpha'],
        attribute_proto: [{ name: 'beta', type: AttributeType.FLOAT, f: 2 }],
        node: [makeNode('Identity', ['a'], ['b'], 'fid')],
        doc_string: 'fn doc',
        opset_import: [{ domain: '', version: 21 }],
        value_info: [tensorValueInfo('b', DataType.FLOAT, null)],
        metadata_props: [{ key: 'fk', value: 'fv' }],
      },
    ],
    configuration: [{ name: 'cfg', num_devices: 2, device: ['cuda:0', 'cuda:1'] }],
  };
}

/** Deep equality with typed arrays compared by content (Buffer vs Uint8Array). */
function normalise(value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v)]));
  }
  return value;
}

test('decode -> encode of a synthesized model is byte-identical', () => {
  for (const headStyle of ['torchvision', 'zoo-v2'] as const) {
    const bytes = synthResnet({ arch: 'resnet18', baseWidth: 8, inputSize: 64, numClasses: 10, headStyle });
    const again = encodeModel(decodeModel(bytes));
    assert.ok(Buffer.from(again).equals(Buffer.from(bytes)), `${headStyle}: re-encoded bytes differ`);
  }
});

test('encodeModel (raw_data spliced in) writes the same bytes as a plain protobufjs encode', () => {
  const type = protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');
  for (const headStyle of ['torchvision', 'zoo-v1', 'zoo-v2'] as const) {
    // baseWidth 16: tensors from 64 B (BN) to 590 KB (layer4 convs), both sides of the 64 KB splice threshold.
    const bytes = synthResnet({ arch: 'resnet18', baseWidth: 16, inputSize: 64, numClasses: 10, headStyle });
    const plain = type.encode(type.fromObject(decodeModel(bytes))).finish();
    assert.ok(Buffer.from(plain).equals(Buffer.from(bytes)), headStyle);
  }
});

test('a synthesized model decodes to the fields it was written with', () => {
  const model = decodeModel(synthResnet({ arch: 'resnet18', seed: 3, baseWidth: 8, inputSize: 64, numClasses: 10 }));
  assert.equal(model.ir_version, 8);
  assert.deepEqual(model.opset_import, [{ domain: '', version: 17 }]);
  assert.deepEqual(metadataRecord(model), {
    'streamsight.untrained': 'true',
    'streamsight.arch': 'resnet18',
    'streamsight.seed': '3',
  });
  const input = model.graph?.input?.[0];
  assert.equal(input?.name, 'input');
  assert.deepEqual(input?.type?.tensor_type?.shape?.dim, [{ dim_param: 'batch' }, { dim_value: 3 }, { dim_value: 64 }, { dim_value: 64 }]);
  const conv1 = model.graph?.initializer?.find((t) => t.name === 'conv1.weight');
  assert.deepEqual(conv1?.dims, [8, 3, 7, 7]);
  assert.equal(tensorToFloat32(conv1 ?? {}).length, 8 * 3 * 7 * 7);
});

test('every onnx.proto message and field survives a round trip, int64 limits included', () => {
  const model = everyFieldModel();
  const bytes = encodeModel(model);
  const decoded = decodeModel(bytes);
  const expected = normalise(model) as ModelProto;
  // INT64_MAX is not a double; it comes back as 2^63, which re-encodes as INT64_MAX.
  assert.deepEqual(normalise(decoded), expected);
  assert.ok(Buffer.from(encodeModel(decoded)).equals(Buffer.from(bytes)), 're-encoded bytes differ');
});

test('float and int64 tensors read back from raw_data at any byte offset', () => {
  const floats = new Float32Array([1, -2.5, 3e-8]);
  const t = floatTensor('w', [3], floats);
  // A view at an odd offset, as decoded raw_data may be inside a file buffer.
  const backing = new Uint8Array(t.raw_data!.byteLength + 1);
  backing.set(t.raw_data!, 1);
  assert.deepEqual(tensorToFloat32({ ...t, raw_data: backing.subarray(1) }), floats);
  assert.deepEqual(tensorToInt64(int64Tensor('s', [2], [0, -1])), [0, -1]);
  assert.throws(() => floatTensor('w', [2, 2], floats), RangeError);
});

test('bytes that are not an ONNX model are refused with ModelInvalidError', () => {
  const model = synthResnet({ arch: 'resnet18', baseWidth: 8, inputSize: 64, numClasses: 10 });
  const garbage: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['text', new TextEncoder().encode('this is not a model, just text\n')],
    ['random', Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)],
    ['truncated', model.subarray(0, model.length >> 1)],
    ['zeros', new Uint8Array(64)],
  ];
  for (const [what, bytes] of garbage) {
    assert.throws(
      () => decodeModel(bytes),
      (err: unknown) => err instanceof ModelInvalidError && err.code === 'E_MODEL_INVALID' && /^not an ONNX model: /.test(err.message),
      what,
    );
  }
});

test('int64 limits are written as INT64_MAX / INT64_MIN on the wire, not wrapped', () => {
  const model: ModelProto = {
    ir_version: 8,
    graph: { node: [makeNode('Slice', [], [], 's', [{ name: 'ends', type: AttributeType.INTS, ints: [INT64_MAX, -INT64_MAX] }])] },
  };
  const hex = Buffer.from(encodeModel(model)).toString('hex');
  assert.ok(hex.includes('ffffffffffffffff7f'), 'INT64_MAX varint');
  assert.ok(hex.includes('80808080808080808001'), 'INT64_MIN varint');
});

test('field numbers match onnx.proto on the wire', () => {
  // Tag byte = field number << 3 | wire type (0 varint, 2 length-delimited).
  const bytes = encodeModel({ ir_version: 8, graph: { name: 'g' }, metadata_props: [{ key: 'k', value: 'v' }] });
  assert.deepEqual(Array.from(bytes), [
    (1 << 3) | 0,
    8, // ir_version = 1
    (7 << 3) | 2,
    3,
    (2 << 3) | 2,
    1,
    0x67, // graph = 7 { name = 2: "g" }
    (14 << 3) | 2,
    6,
    (1 << 3) | 2,
    1,
    0x6b,
    (2 << 3) | 2,
    1,
    0x76, // metadata_props = 14 { key = 1, value = 2 }
  ]);
});
