import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { addEmbeddingOutput } from '../../../src/inference/graph-edit.ts';
import { DataType, decodeModel, encodeModel, tensorValueInfo } from '../../../src/inference/onnx-proto.ts';
import { synthFamily, type Family, type FamilyOptions, type FamilyModel } from '../../helpers/family-models.ts';

const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], logSeverityLevel: 3 };
const BATCH = 2;

function randomImages(seed: number, count: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 4 - 2;
  });
}

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
  const session = await ort.InferenceSession.create(bytes, SESSION_OPTIONS);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function assertClose(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, what);
  const worst = got.reduce((w, v, i) => Math.max(w, Math.abs(v - want[i]!)), 0);
  assert.ok(worst <= 1e-5, `${what}: max abs diff ${worst}`);
}

/** The model as generated, with the tensor the generator names as the embedding made an output by hand. */
function withOutputByHand(m: FamilyModel, name: string): Uint8Array {
  const model = decodeModel(m.bytes);
  model.graph!.output!.push(tensorValueInfo(name, DataType.FLOAT, null));
  return encodeModel(model);
}

function feedsOf(m: FamilyModel): Record<string, ort.Tensor> {
  const s = m.inputSize;
  const dims = m.inputLayout === 'NHWC' ? [BATCH, s, s, 3] : [BATCH, 3, s, s];
  return { [m.inputName]: new ort.Tensor('float32', randomImages(7, BATCH * 3 * s * s), dims) };
}

const CASES: ReadonlyArray<[string, Family, FamilyOptions, RegExp]> = [
  ['MobileNetV2 (Clip, GlobalAveragePool, Flatten, Gemm)', 'mobilenetv2', {}, /^pooled feature of GlobalAveragePool '.+' \(24-d\)$/],
  ['MobileNetV3 (Gemm, HardSwish, Gemm)', 'mobilenetv3', {}, /^hidden feature of HardSwish '.+' after GlobalAveragePool '.+' \(32-d\)$/],
  ['EfficientNet (squeeze-excitation pooling in the body, SiLU, Gemm)', 'efficientnet', {}, /^pooled feature of GlobalAveragePool '.+' \(20-d\)$/],
  ['ConvNeXt torchvision (GlobalAveragePool, LayerNorm2d, Flatten, Gemm)', 'convnext', {}, /^pooled feature of GlobalAveragePool '.+' \(12-d\)$/],
  ['ConvNeXt timm (ReduceMean, LayerNorm2d, Flatten, Gemm)', 'convnext', { reduceMean: true }, /^pooled feature of ReduceMean '.+' \(12-d\)$/],
  [
    'ConvNeXt below opset 17 (LayerNorm written out: ReduceMean, Sub, Pow, Sqrt, Div, Mul, Add)',
    'convnext',
    { decomposedLayerNorm: true },
    /^pooled feature of GlobalAveragePool '.+' \(12-d\)$/,
  ],
  ['ViT torchvision (Gather CLS token, MatMul + Add)', 'vit', {}, /^CLS token picked by Gather '.+' \(16-d\)$/],
  ['ViT Hugging Face (Slice + Squeeze CLS token, Gemm)', 'vit', { hfVit: true }, /^CLS token picked by Slice '.+' \(16-d\)$/],
  ['NHWC tf2onnx (Transpose, ReduceMean, MatMul + Add, Softmax)', 'nhwc', {}, /^pooled feature of ReduceMean '.+' \(16-d\)$/],
  [
    'Keras MobileNet by tf2onnx (NHWC, GlobalAveragePool, 1x1 Conv classifier, Reshape, Softmax)',
    'keras-mobilenet',
    {},
    /^pooled feature of GlobalAveragePool '.+' \(16-d\)$/,
  ],
  ['Ultralytics classify (GlobalAveragePool, Gemm, Softmax)', 'ultralytics', {}, /^pooled feature of GlobalAveragePool '.+' \(24-d\)$/],
  ['MobileNetV2 with a final Softmax', 'mobilenetv2', { softmax: true }, /^pooled feature of GlobalAveragePool '.+' \(24-d\)$/],
];

for (const [title, family, options, description] of CASES) {
  test(`${title}: the embedding output is the tensor the family's head reads, and the logits are unchanged`, async () => {
    const m = synthFamily(family, { seed: 3, ...options });
    const want = m.embedding!;
    const edited = addEmbeddingOutput(m.bytes);

    assert.equal(edited.inputLayout, m.inputLayout);
    assert.deepEqual(edited.inputShape, { height: m.inputSize, width: m.inputSize, channels: 3 });
    assert.equal(edited.classCount, m.numClasses);
    assert.equal(edited.classifier.op, m.classifierOp);
    assert.equal(edited.outputIsProbability, m.probabilities);
    assert.ok(edited.embedding !== null, 'an embedding is found');
    assert.equal(edited.embedding.name, want.name);
    assert.equal(edited.embedding.dim, want.dim);
    assert.equal(edited.embedding.kind, want.kind);
    assert.match(edited.embedding.description, description);
    assert.equal(edited.embeddingName, want.name);
    assert.equal(edited.embeddingDim, want.dim);

    // Independent value: the same tensor made an output by hand, on the unedited graph.
    const feeds = feedsOf(m);
    const byHand = await run(withOutputByHand(m, want.name), feeds);
    const after = await run(edited.bytes, feeds);
    const embedding = after[want.name]!;
    assert.deepEqual(embedding.dims, want.map ? [BATCH, want.dim, 1, 1] : [BATCH, want.dim]);
    assertClose(embedding.data as Float32Array, byHand[want.name]!.data as Float32Array, 'embedding');
    assertClose(after[edited.logitsName]!.data as Float32Array, byHand[edited.logitsName]!.data as Float32Array, 'logits');
    if (m.probabilities) {
      const p = after[edited.logitsName]!.data as Float32Array;
      for (let i = 0; i < BATCH; i++) {
        const sum = p.subarray(i * m.numClasses, (i + 1) * m.numClasses).reduce((a, v) => a + v, 0);
        assert.ok(Math.abs(sum - 1) < 1e-5, `row ${i} sums to ${sum}`);
      }
    }
  });
}

for (const softmax of [false, true]) {
  test(`SqueezeNet-like (classifier Conv before the pooling${softmax ? ', final Softmax' : ''}): labels only, the graph left as it is`, async () => {
    const m = synthFamily('squeezenet', { seed: 4, softmax });
    const edited = addEmbeddingOutput(m.bytes);
    assert.equal(edited.embedding, null);
    assert.equal(edited.embeddingName, null);
    assert.equal(edited.embeddingDim, null);
    assert.deepEqual(edited.classifier.op, 'Conv');
    assert.equal(edited.classCount, m.numClasses);
    assert.equal(edited.outputIsProbability, softmax);
    assert.deepEqual(
      decodeModel(edited.bytes).graph!.output!.map((o) => o.name),
      [edited.logitsName],
    );
    const out = await run(edited.bytes, feedsOf(m));
    assert.deepEqual(out[edited.logitsName]!.dims, [BATCH, m.numClasses]);
  });
}

test('a classifier that reads a flattened spatial map (no pooling, no CLS token) gives labels only', () => {
  // The ViT without its CLS pick: the MatMul head reads the LayerNorm of every token, flattened.
  const m = synthFamily('vit', { seed: 5 });
  const model = decodeModel(m.bytes);
  const graph = model.graph!;
  const gather = graph.node!.find(
    (n) => n.op_type === 'Gather' && n.input![0] !== undefined && graph.node!.some((p) => p.op_type === 'LayerNormalization' && p.output![0] === n.input![0]),
  )!;
  gather.op_type = 'Flatten';
  gather.input = [gather.input![0]!];
  gather.attribute = [{ name: 'axis', type: 2, i: 1 }];
  const edited = addEmbeddingOutput(encodeModel(model));
  assert.equal(edited.embedding, null);
  assert.equal(edited.classifier.op, 'MatMul');
});
