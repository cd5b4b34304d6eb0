import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Frame } from '../../../src/contracts/frame.ts';
import { InferenceEngine } from '../../../src/inference/inference-engine.ts';
import { loadModel } from '../../../src/inference/model-loader.ts';
import { decodeModel, encodeModel } from '../../../src/inference/onnx-proto.ts';
import { synthResnet, synthResnetModel } from '../../../src/inference/resnet-synth.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-engine-'));
const dynamicFile = join(dir, 'tiny.onnx');
const fixedFile = join(dir, 'tiny-fixed4.onnx');
const SIZE = 64;

function frame(seq: number): Frame {
  const data = Buffer.alloc(SIZE * SIZE * 3);
  // Deterministic content that differs per frame.
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seq * 31) & 0xff;
  return { streamId: 's', runId: 'r', seq, ptsMs: seq * 40, capturedAt: 0, width: SIZE, height: SIZE, data };
}

before(() => {
  const opts = { arch: 'resnet18' as const, seed: 3, baseWidth: 8, inputSize: SIZE, numClasses: 10 };
  writeFileSync(dynamicFile, synthResnet(opts));
  // The same model with its batch dimension fixed at 4, as older ONNX Model Zoo files fix it at 1.
  const proto = synthResnetModel(opts);
  const dim0 = proto.graph!.input![0]!.type!.tensor_type!.shape!.dim![0]!;
  delete dim0.dim_param;
  dim0.dim_value = 4;
  writeFileSync(fixedFile, encodeModel(decodeModel(encodeModel(proto))));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('results do not depend on how frames are batched', async () => {
  const model = loadModel(dynamicFile);
  const engine = await InferenceEngine.start(model, { device: 'cpu', threads: 1, topK: 3, embeddings: true });
  try {
    const frames = Array.from({ length: 6 }, (_, i) => frame(i));
    const whole = await engine.infer(frames);
    // Several in flight at once: answered in order.
    const parts = await Promise.all([engine.infer(frames.slice(0, 1)), engine.infer(frames.slice(1, 4)), engine.infer(frames.slice(4))]);
    const split = parts.flatMap((p) => p.frames);
    assert.equal(split.length, 6);
    whole.frames.forEach((f, i) => {
      assert.deepEqual(
        f.top.map((c) => c.index),
        split[i]!.top.map((c) => c.index),
      );
      f.embedding!.forEach((v, j) => assert.ok(Math.abs(v - split[i]!.embedding![j]!) < 1e-5));
    });
    assert.equal(engine.provider, 'cpu');
  } finally {
    await engine.close();
    await engine.close(); // idempotent
  }
});

test('a model with a fixed batch size gets short batches padded, and only real frames back', async () => {
  const model = loadModel(fixedFile);
  assert.equal(model.fixedBatch, 4);
  const engine = await InferenceEngine.start(model, { device: 'cpu', threads: 1, topK: 2, embeddings: false });
  const reference = await InferenceEngine.start(loadModel(dynamicFile), { device: 'cpu', threads: 1, topK: 2, embeddings: false });
  try {
    const frames = [frame(0), frame(1)];
    const got = await engine.infer(frames);
    const want = await reference.infer(frames);
    assert.equal(got.frames.length, 2);
    got.frames.forEach((f, i) =>
      assert.deepEqual(
        f.top.map((c) => c.index),
        want.frames[i]!.top.map((c) => c.index),
      ),
    );
    await assert.rejects(engine.infer(Array.from({ length: 5 }, (_, i) => frame(i))), RangeError);
  } finally {
    await engine.close();
    await reference.close();
  }
});

test('a frame of the wrong size is refused without breaking the engine', async () => {
  const engine = await InferenceEngine.start(loadModel(dynamicFile), { device: 'cpu', threads: 1, topK: 1, embeddings: false });
  try {
    await assert.rejects(engine.infer([{ ...frame(0), data: Buffer.alloc(10) }]), RangeError);
    assert.equal((await engine.infer([frame(0)])).frames.length, 1);
  } finally {
    await engine.close();
  }
  await assert.rejects(engine.infer([frame(0)]), /closed/);
});
