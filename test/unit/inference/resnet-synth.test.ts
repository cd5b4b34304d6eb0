import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeModel, metadataRecord } from '../../../src/inference/onnx-proto.ts';
import { TORCHVISION_PARAM_COUNTS, countParameters, synthResnet, synthResnetModel, type ResnetArch } from '../../../src/inference/resnet-synth.ts';

const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], logSeverityLevel: 3 };

function randomImages(seed: number, batch: number, size: number): ort.Tensor {
  let s = seed >>> 0;
  const data = Float32Array.from({ length: batch * 3 * size * size }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 4 - 2;
  });
  return new ort.Tensor('float32', data, [batch, 3, size, size]);
}

function standardDeviation(values: Float32Array): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
}

test("parameter counts of all five architectures equal torchvision's", () => {
  for (const arch of Object.keys(TORCHVISION_PARAM_COUNTS) as ResnetArch[]) {
    assert.equal(countParameters(synthResnetModel({ arch })), TORCHVISION_PARAM_COUNTS[arch], arch);
  }
});

test('resnet18 loads in ONNX Runtime from a file and gives finite, input-dependent [N, 1000] scores', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'streamsight-synth-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'resnet18.onnx');
  fs.writeFileSync(file, synthResnet({ arch: 'resnet18', seed: 1 }));

  const session = await ort.InferenceSession.create(file, SESSION_OPTIONS);
  t.after(() => session.release());
  assert.deepEqual(session.inputNames, ['input']);
  assert.deepEqual(session.outputNames, ['output']);

  const batch3 = randomImages(11, 3, 224);
  const out3 = (await session.run({ input: batch3 })).output!;
  assert.deepEqual(out3.dims, [3, 1000]);
  const scores = out3.data as Float32Array;
  assert.ok(scores.every(Number.isFinite), 'scores are finite');
  for (let i = 0; i < 3; i++) {
    const row = scores.subarray(i * 1000, (i + 1) * 1000);
    assert.ok(standardDeviation(row) > 1e-2, `row ${i} is not constant`);
  }
  const row0 = scores.subarray(0, 1000);
  const row1 = scores.subarray(1000, 2000);
  assert.ok(
    row0.some((v, i) => Math.abs(v - (row1[i] ?? v)) > 1e-3),
    'different images give different scores',
  );

  // Batch 1 of the first image gives that image's row: the batch dim is really dynamic.
  const first = new ort.Tensor('float32', (batch3.data as Float32Array).slice(0, 3 * 224 * 224), [1, 3, 224, 224]);
  const out1 = (await session.run({ input: first })).output!;
  assert.deepEqual(out1.dims, [1, 1000]);
  const single = out1.data as Float32Array;
  assert.ok(
    single.every((v, i) => Math.abs(v - (row0[i] ?? NaN)) < 1e-4),
    'batch 1 equals row 0 of batch 3',
  );
});

test('activations stay finite and input-dependent through the 50 blocks of a (narrow) resnet152', async (t) => {
  // Depth, not width, decides whether random residual stacks explode or
  // collapse, so a narrow resnet152 checks the BN choices cheaply.
  const bytes = synthResnet({ arch: 'resnet152', seed: 5, baseWidth: 8, inputSize: 64 });
  const session = await ort.InferenceSession.create(bytes, SESSION_OPTIONS);
  t.after(() => session.release());
  const scores = (await session.run({ input: randomImages(3, 2, 64) })).output!.data as Float32Array;
  assert.ok(scores.every(Number.isFinite));
  assert.ok(
    scores.every((v) => Math.abs(v) < 1e3),
    'no explosion',
  );
  const row0 = scores.subarray(0, 1000);
  const row1 = scores.subarray(1000);
  assert.ok(standardDeviation(row0) > 1e-2, 'not constant across classes');
  assert.ok(standardDeviation(row0.map((v, i) => v - (row1[i] ?? v))) > 1e-3, 'differs between images');
});

test('the same seed gives identical bytes; another seed gives other weights', () => {
  const options = { arch: 'resnet18', baseWidth: 8, inputSize: 64, numClasses: 10 } as const;
  const a = synthResnet({ ...options, seed: 42 });
  const b = synthResnet({ ...options, seed: 42 });
  const c = synthResnet({ ...options, seed: 43 });
  assert.ok(Buffer.from(a).equals(Buffer.from(b)));
  assert.equal(a.length, c.length);
  assert.ok(!Buffer.from(a).equals(Buffer.from(c)));
});

test('the model is marked untrained and has opset 17, IR 8 and a dynamic batch', () => {
  const model = decodeModel(synthResnet({ arch: 'resnet50', seed: 9, baseWidth: 8, inputSize: 96, numClasses: 7 }));
  assert.equal(model.ir_version, 8);
  assert.deepEqual(model.opset_import, [{ domain: '', version: 17 }]);
  assert.deepEqual(metadataRecord(model), {
    'streamsight.untrained': 'true',
    'streamsight.arch': 'resnet50',
    'streamsight.seed': '9',
  });
  assert.deepEqual(model.graph?.output?.[0]?.type?.tensor_type?.shape?.dim, [{ dim_param: 'batch' }, { dim_value: 7 }]);
  assert.match(model.doc_string ?? '', /UNTRAINED/);
});

test("head styles use their exporter's input and output names", async (t) => {
  const expected = {
    torchvision: ['input', 'output'],
    'zoo-v1': ['data', 'resnetv17_dense0_fwd'],
    'zoo-v2': ['data', 'resnetv24_dense0_fwd'],
    hf: ['pixel_values', 'logits'],
  } as const;
  for (const [headStyle, [input, output]] of Object.entries(expected)) {
    const bytes = synthResnet({ arch: 'resnet18', baseWidth: 8, inputSize: 64, numClasses: 10, headStyle: headStyle as keyof typeof expected });
    const session = await ort.InferenceSession.create(bytes, SESSION_OPTIONS);
    t.after(() => session.release());
    // Initializers listed as graph inputs (zoo styles) are not session inputs.
    assert.deepEqual(session.inputNames, [input], headStyle);
    assert.deepEqual(session.outputNames, [output], headStyle);
    const result = await session.run({ [input]: randomImages(1, 1, 64) });
    assert.deepEqual(result[output]?.dims, [1, 10], headStyle);
  }
});

test('invalid options are refused with RangeError naming the option', () => {
  assert.throws(() => synthResnet({ arch: 'resnet18', inputSize: 16 }), /inputSize/);
  assert.throws(() => synthResnet({ arch: 'resnet18', numClasses: 0 }), /numClasses/);
  assert.throws(() => synthResnet({ arch: 'resnet18', seed: -1 }), /seed/);
  assert.throws(() => synthResnet({ arch: 'resnet18', baseWidth: 2.5 }), /baseWidth/);
  assert.throws(() => synthResnet({ arch: 'resnet19' as ResnetArch }), RangeError);
});
