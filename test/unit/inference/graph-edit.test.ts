import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { ModelInvalidError } from '../../../src/shared/errors.ts';
import { addEmbeddingOutput } from '../../../src/inference/graph-edit.ts';
import {
  DataType,
  attrInt,
  decodeModel,
  encodeModel,
  floatTensor,
  makeNode,
  tensorToFloat32,
  tensorValueInfo,
  type ModelProto,
  type NodeProto,
} from '../../../src/inference/onnx-proto.ts';
import { synthResnet, type HeadStyle, type ResnetArch } from '../../../src/inference/resnet-synth.ts';

const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], logSeverityLevel: 3 };
// Width sets the embedding size; the spatial size only costs time here.
const INPUT_SIZE = 64;
const HEAD_STYLES: readonly HeadStyle[] = ['torchvision', 'zoo-v1', 'zoo-v2', 'hf'];

function randomImages(seed: number, batch: number, size: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: batch * 3 * size * size }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 4 - 2;
  });
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  return a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - (b[i] ?? NaN))), 0);
}

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
  const session = await ort.InferenceSession.create(bytes, SESSION_OPTIONS);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** A minimal model: input -> nodes -> output, with the given initializers. */
function tinyModel(parts: {
  input: ReturnType<typeof tensorValueInfo>;
  nodes: NodeProto[];
  output: string;
  outputDims: (number | string)[];
  initializers?: ReturnType<typeof floatTensor>[];
}): Uint8Array {
  const model: ModelProto = {
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    graph: {
      name: 'tiny',
      node: parts.nodes,
      initializer: parts.initializers ?? [],
      input: [parts.input],
      output: [tensorValueInfo(parts.output, DataType.FLOAT, parts.outputDims)],
    },
  };
  return encodeModel(model);
}

function assertRefused(bytes: Uint8Array, message: RegExp): void {
  assert.throws(
    () => addEmbeddingOutput(bytes),
    (err: unknown) => err instanceof ModelInvalidError && err.code === 'E_MODEL_INVALID' && message.test(err.message),
  );
}

const CASES: readonly [ResnetArch, number][] = [
  ['resnet18', 512],
  ['resnet50', 2048],
];

for (const [arch, embeddingDim] of CASES) {
  for (const headStyle of HEAD_STYLES) {
    test(`${arch} ${headStyle}: the edited model returns the same logits plus the ${embeddingDim}-d classifier input`, async () => {
      const original = synthResnet({ arch, seed: 2, inputSize: INPUT_SIZE, headStyle });
      const edited = addEmbeddingOutput(original);

      assert.equal(edited.embeddingDim, embeddingDim);
      assert.equal(edited.classCount, 1000);
      assert.deepEqual(edited.inputShape, { height: INPUT_SIZE, width: INPUT_SIZE, channels: 3 });
      assert.equal(edited.outputIsProbability, false);
      assert.equal(edited.metadata['streamsight.arch'], arch);

      const feeds = { [edited.inputName]: new ort.Tensor('float32', randomImages(5, 2, INPUT_SIZE), [2, 3, INPUT_SIZE, INPUT_SIZE]) };
      const before = await run(original, feeds);
      const after = await run(edited.bytes, feeds);
      const logits = after[edited.logitsName]!;
      const embedding = after[edited.embeddingName!]!;
      assert.deepEqual(logits.dims, [2, 1000]);
      assert.deepEqual(embedding.dims, [2, embeddingDim]);
      assert.ok(maxAbsDiff(logits.data as Float32Array, before[edited.logitsName]!.data as Float32Array) <= 1e-5);

      // The embedding really is the classifier's input: fc(embedding) = logits.
      const graph = decodeModel(original).graph!;
      const gemm = graph.node!.find((n) => n.op_type === 'Gemm')!;
      const [weight, bias] = [1, 2].map((i) => tensorToFloat32(graph.initializer!.find((t) => t.name === gemm.input![i])!));
      const e = embedding.data as Float32Array;
      const recomputed = Float32Array.from({ length: 2 * 1000 }, (_, k) => {
        const [row, cls] = [Math.floor(k / 1000), k % 1000];
        let sum = bias![cls] ?? 0;
        for (let j = 0; j < embeddingDim; j++) sum += (e[row * embeddingDim + j] ?? 0) * (weight![cls * embeddingDim + j] ?? 0);
        return sum;
      });
      assert.ok(maxAbsDiff(recomputed, logits.data as Float32Array) <= 1e-4);
    });
  }
}

test('initializers listed as graph inputs are skipped when finding the image input', () => {
  for (const headStyle of ['zoo-v1', 'zoo-v2'] as const) {
    const bytes = synthResnet({ arch: 'resnet18', baseWidth: 8, inputSize: INPUT_SIZE, numClasses: 10, headStyle });
    const graph = decodeModel(bytes).graph!;
    assert.ok(graph.input!.length > 1, 'fixture lists initializers as inputs');
    assert.equal(addEmbeddingOutput(bytes).inputName, 'data', headStyle);
  }
});

test('editing an already edited model does not add the embedding output twice', () => {
  const once = addEmbeddingOutput(synthResnet({ arch: 'resnet18', baseWidth: 8, inputSize: INPUT_SIZE, numClasses: 10 }));
  const twice = addEmbeddingOutput(once.bytes);
  assert.equal(twice.embeddingName, once.embeddingName);
  assert.equal(decodeModel(twice.bytes).graph!.output!.length, 2);
});

test('a Softmax after the classifier is walked through and reported', async () => {
  const model = decodeModel(synthResnet({ arch: 'resnet18', baseWidth: 8, inputSize: INPUT_SIZE, numClasses: 10 }));
  const graph = model.graph!;
  const gemm = graph.node!.find((n) => n.op_type === 'Gemm')!;
  gemm.output = ['raw_logits'];
  graph.node!.push(makeNode('Softmax', ['raw_logits'], ['output'], 'softmax', [attrInt('axis', 1)]));
  const edited = addEmbeddingOutput(encodeModel(model));
  assert.equal(edited.logitsName, 'output');
  assert.equal(edited.outputIsProbability, true);
  assert.equal(edited.embeddingDim, 64);
  assert.equal(edited.classCount, 10);
  const result = await run(edited.bytes, { input: new ort.Tensor('float32', randomImages(1, 1, INPUT_SIZE), [1, 3, INPUT_SIZE, INPUT_SIZE]) });
  const probabilities = result.output!.data as Float32Array;
  assert.ok(Math.abs(probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  assert.deepEqual(result[edited.embeddingName!]!.dims, [1, 64]);
});

test('a MatMul + Add classifier head is found, with dims from the [K, N] weight', async () => {
  const bytes = tinyModel({
    input: tensorValueInfo('image', DataType.FLOAT, ['n', 3, 8, 8]),
    nodes: [
      makeNode('GlobalAveragePool', ['image'], ['pooled'], 'pool'),
      makeNode('Flatten', ['pooled'], ['features'], 'flatten', [attrInt('axis', 1)]),
      makeNode('MatMul', ['features', 'W'], ['mm'], 'matmul'),
      makeNode('Add', ['mm', 'b'], ['scores'], 'add'),
    ],
    output: 'scores',
    outputDims: ['n', 5],
    initializers: [floatTensor('W', [3, 5], new Float32Array(15).fill(0.5)), floatTensor('b', [5], new Float32Array(5))],
  });
  const edited = addEmbeddingOutput(bytes);
  assert.equal(edited.embeddingName, 'features');
  assert.equal(edited.embeddingDim, 3);
  assert.equal(edited.classCount, 5);
  assert.deepEqual(edited.inputShape, { height: 8, width: 8, channels: 3 });
  const result = await run(edited.bytes, { image: new ort.Tensor('float32', new Float32Array(3 * 64).fill(2), [1, 3, 8, 8]) });
  assert.deepEqual(Array.from(result.features!.data as Float32Array), [2, 2, 2]);
  assert.deepEqual(Array.from(result.scores!.data as Float32Array), [3, 3, 3, 3, 3]);
});

test('bytes that are not an ONNX model are refused', () => {
  assertRefused(new TextEncoder().encode('<html>404 not found</html>'), /^not an ONNX model: /);
  assertRefused(new Uint8Array(0), /^not an ONNX model: /);
});

test('a model whose input is not rank 4 is refused', () => {
  const bytes = tinyModel({
    input: tensorValueInfo('x', DataType.FLOAT, ['n', 3, 8]),
    nodes: [makeNode('Gemm', ['x', 'W'], ['y'], 'gemm', [attrInt('transB', 1)])],
    output: 'y',
    outputDims: ['n', 2],
    initializers: [floatTensor('W', [2, 8], new Float32Array(16))],
  });
  assertRefused(bytes, /input "x" has rank 3, expected rank 4 \(NCHW or NHWC\)/);
});

test('a model with a non-float input, or no 3-channel dim, is refused', () => {
  const body = {
    nodes: [makeNode('GlobalAveragePool', ['x'], ['y'], 'pool')],
    output: 'y',
    outputDims: ['n', 3, 1, 1] as (number | string)[],
  };
  assertRefused(tinyModel({ ...body, input: tensorValueInfo('x', DataType.UINT8, ['n', 3, 8, 8]) }), /element type uint8, expected float32/);
  assertRefused(
    tinyModel({ ...body, input: tensorValueInfo('x', DataType.FLOAT, ['n', 8, 8, 4]) }),
    /input "x" has shape \[n,8,8,4\]: expected 3 colour channels in dim 1 \(NCHW\) or dim 3 \(NHWC\)/,
  );
});

test('a model without a Gemm or MatMul head is refused', () => {
  const bytes = tinyModel({
    input: tensorValueInfo('x', DataType.FLOAT, ['n', 3, 8, 8]),
    nodes: [makeNode('GlobalAveragePool', ['x'], ['pooled'], 'pool'), makeNode('Flatten', ['pooled'], ['y'], 'flatten', [attrInt('axis', 1)])],
    output: 'y',
    outputDims: ['n', 3],
  });
  assertRefused(bytes, /^no classifier head found: output "y" comes from GlobalAveragePool "pool"/);
});

test('a model whose only inputs are initializers is refused', () => {
  const model: ModelProto = {
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    graph: {
      node: [makeNode('Relu', ['W'], ['y'], 'relu')],
      initializer: [floatTensor('W', [1], new Float32Array(1))],
      input: [tensorValueInfo('W', DataType.FLOAT, [1])],
      output: [tensorValueInfo('y', DataType.FLOAT, [1])],
    },
  };
  assertRefused(encodeModel(model), /^model has no inputs/);
});
