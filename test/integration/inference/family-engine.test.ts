import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Frame } from '../../../src/contracts/frame.ts';
import { createImageEmbedder } from '../../../src/indexing/image-embedder.ts';
import { InferenceEngine } from '../../../src/inference/inference-engine.ts';
import { loadModel, requireEmbedding } from '../../../src/inference/model-loader.ts';
import { DataType, decodeModel, encodeModel, tensorValueInfo } from '../../../src/inference/onnx-proto.ts';
import { ModelInvalidError } from '../../../src/shared/errors.ts';
import { softmax } from '../../helpers/reference-resnet.ts';
import { synthFamily, type Family, type FamilyModel, type FamilyOptions } from '../../helpers/family-models.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-family-engine-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A uniform colour: every preprocessing step but normalisation leaves it as it is. */
const COLOUR = [200, 40, 120] as const;

function uniformFrame(size: number): Frame {
  const data = Buffer.alloc(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = COLOUR[i % 3]!;
  return { streamId: 's', runId: 'r', seq: 0, ptsMs: 0, capturedAt: 0, width: size, height: size, data };
}

/** The model's input for the uniform frame, computed here: (v * scale - mean) / std per RGB channel, in the model's layout. */
function referenceInput(size: number, p: { mean: readonly number[]; std: readonly number[]; scale: number }, layout: 'NCHW' | 'NHWC'): Float32Array {
  const out = new Float32Array(3 * size * size);
  const value = (c: number): number => (COLOUR[c]! * p.scale - p.mean[c]!) / p.std[c]!;
  if (layout === 'NCHW') for (let c = 0; c < 3; c++) out.fill(value(c), c * size * size, (c + 1) * size * size);
  else for (let i = 0; i < out.length; i++) out[i] = value(i % 3);
  return out;
}

async function runByHand(m: FamilyModel, input: Float32Array): Promise<{ scores: Float32Array; embedding: Float32Array | undefined }> {
  const model = decodeModel(m.bytes);
  if (m.embedding) model.graph!.output!.push(tensorValueInfo(m.embedding.name, DataType.FLOAT, null));
  const session = await ort.InferenceSession.create(encodeModel(model), { executionProviders: ['cpu'], logSeverityLevel: 3 });
  try {
    const dims = m.inputLayout === 'NCHW' ? [1, 3, m.inputSize, m.inputSize] : [1, m.inputSize, m.inputSize, 3];
    const out = await session.run({ [m.inputName]: new ort.Tensor('float32', input, dims) });
    const scores = out[model.graph!.output![0]!.name!]!.data as Float32Array;
    return { scores, embedding: m.embedding ? (out[m.embedding.name]!.data as Float32Array) : undefined };
  } finally {
    await session.release();
  }
}

// headGain 8: peaked probabilities, so scores softmaxed a second time are far from the model's own.
const CASES: ReadonlyArray<[Family, FamilyOptions]> = [
  ['mobilenetv3', {}],
  ['efficientnet', { softmax: true }],
  ['convnext', { reduceMean: true }],
  ['vit', {}],
  ['vit', { hfVit: true, softmax: true }],
  ['ultralytics', {}],
  ['squeezenet', {}],
  ['squeezenet', { softmax: true }],
  ['nhwc', {}],
  ['keras-mobilenet', {}],
];

for (const [family, options] of CASES) {
  const m = synthFamily(family, { seed: 11, headGain: 8, ...options });
  const what = `${family}${options.hfVit ? ' (Hugging Face)' : ''}${m.probabilities ? ', ends in Softmax' : ', logits'}`;
  test(`${what}: the engine's scores are the model's probabilities (softmaxed once), its embedding the pooled feature${m.embedding ? '' : ' (none: labels only)'}`, async () => {
    const file = join(dir, `${family}-${Object.keys(options).join('-') || 'plain'}.onnx`);
    writeFileSync(file, m.bytes);
    const model = loadModel(file);
    assert.equal(model.classCount, m.numClasses);
    assert.equal(model.alreadyProbabilities, m.probabilities);
    assert.equal(model.embeddingName, m.embedding?.name ?? null);
    assert.equal(model.embeddingDim, m.embedding?.dim ?? null);
    assert.equal(model.embedding?.kind ?? null, m.embedding?.kind ?? null);
    assert.equal(model.inputLayout, m.inputLayout);
    assert.equal(model.preprocess.layout, m.inputLayout);
    assert.equal(model.preprocess.inputWidth, m.inputSize);

    const reference = await runByHand(m, referenceInput(m.inputSize, model.preprocess, m.inputLayout));
    const want = m.probabilities ? Array.from(reference.scores) : softmax(reference.scores);
    const order = want.map((score, index) => ({ index, score })).sort((a, b) => b.score - a.score);
    // The fixture tells the two apart: scores softmaxed a second time differ by far more than the tolerance below.
    const twice = softmax(Float32Array.from(want));
    assert.ok(Math.max(...want.map((v, i) => Math.abs(v - twice[i]!))) > 0.01, 'fixture: softmax twice is visible');

    const engine = await InferenceEngine.start(model, { device: 'cpu', threads: 1, topK: m.numClasses, embeddings: true });
    try {
      const [got] = (await engine.infer([uniformFrame(m.inputSize)])).frames;
      assert.deepEqual(
        got!.top.map((c) => c.index),
        order.map((c) => c.index),
      );
      got!.top.forEach((c, i) => assert.ok(Math.abs(c.score - order[i]!.score) < 1e-4, `score ${i}: ${c.score} vs ${order[i]!.score}`));
      if (reference.embedding === undefined) {
        assert.equal(got!.embedding, undefined);
      } else {
        const norm = Math.hypot(...reference.embedding);
        assert.equal(got!.embedding!.length, m.embedding!.dim);
        got!.embedding!.forEach((v, j) => assert.ok(Math.abs(v - reference.embedding![j]! / norm) < 1e-5, `embedding[${j}]`));
      }
    } finally {
      await engine.close();
    }
  });
}

test('requireEmbedding: one line naming the model for a labels-only model, the name and width otherwise', () => {
  const file = join(dir, 'squeeze-only.onnx');
  writeFileSync(file, synthFamily('squeezenet', { seed: 1 }).bytes);
  assert.throws(
    () => requireEmbedding(loadModel(file), 'index'),
    (err: unknown) =>
      err instanceof ModelInvalidError &&
      err.message === 'model "squeeze-only" gives labels only (no pooled feature before its classifier): index needs embeddings' &&
      !err.message.includes('\n'),
  );
  const v3 = join(dir, 'v3-only.onnx');
  const m = synthFamily('mobilenetv3', { seed: 1 });
  writeFileSync(v3, m.bytes);
  assert.deepEqual(requireEmbedding(loadModel(v3), 'index'), { name: m.embedding!.name, dim: 32 });
});

test('search by picture refuses a labels-only model with one line, before reading the picture', async () => {
  const file = join(dir, 'squeeze-search.onnx');
  writeFileSync(file, synthFamily('squeezenet', { seed: 1 }).bytes);
  const embed = createImageEmbedder({ model: file, maxPixels: 1e7, maxBytes: 1e7 });
  await assert.rejects(
    embed(join(dir, 'no-such-picture.png'), file),
    (err: unknown) => err instanceof ModelInvalidError && /gives labels only .*: search by picture needs embeddings$/.test(err.message),
  );
});
