/**
 * Outputs as they are, through every preset: a model whose graph ends in
 * Softmax gives its own probabilities (not softmaxed again), a model that
 * ends in logits is softmaxed once; each fed the preset's mean/std/scale by
 * the graph's frames prefix. The expected scores come from ONNX Runtime on
 * the unedited float model fed an input computed here from the preset's
 * documented values.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PRESETS } from '../../../src/contracts/preprocess.ts';
import type { Frame } from '../../../src/contracts/frame.ts';
import { InferenceEngine } from '../../../src/inference/inference-engine.ts';
import { loadModel } from '../../../src/inference/model-loader.ts';
import { DataType, encodeModel, makeNode, tensorToFloat32, tensorValueInfo } from '../../../src/inference/onnx-proto.ts';
import { synthResnetModel } from '../../../src/inference/resnet-synth.ts';
import { softmax } from '../../helpers/reference-resnet.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const SIZE = 32;
const CLASSES = 6;
const COLOUR = [30, 170, 220] as const;
const { dir, cleanup } = makeTempDir('streamsight-preset-outputs-');
after(cleanup);

/** Each library's documented mean and std (0..1 units after /255). */
const DOCUMENTED: Record<(typeof PRESETS)[number], { mean: number[]; std: number[] }> = {
  ultralytics: { mean: [0, 0, 0], std: [1, 1, 1] },
  torchvision: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  'torchvision-v2': { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  timm: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  imagenet: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
};

function models(): { logits: Uint8Array; probabilities: Uint8Array } {
  const proto = synthResnetModel({ arch: 'resnet18', seed: 21, baseWidth: 8, inputSize: SIZE, numClasses: CLASSES });
  const gemm = proto.graph!.node!.find((n) => n.op_type === 'Gemm')!;
  const weight = proto.graph!.initializer!.find((t) => t.name === gemm.input![1])!;
  // Peaked scores, so that a second softmax is far from the first.
  weight.raw_data = new Uint8Array(tensorToFloat32(weight).map((v) => v * 10).buffer);
  delete weight.float_data;
  const logits = encodeModel(proto);
  const out = proto.graph!.output![0]!.name!;
  proto.graph!.node!.push(makeNode('Softmax', [out], ['probs'], 'softmax', [{ name: 'axis', type: 2, i: 1 }]));
  proto.graph!.output = [tensorValueInfo('probs', DataType.FLOAT, ['batch', CLASSES])];
  return { logits, probabilities: encodeModel(proto) };
}

const frame: Frame = {
  streamId: 's',
  runId: 'r',
  seq: 0,
  ptsMs: 0,
  capturedAt: 0,
  width: SIZE,
  height: SIZE,
  data: Buffer.from(Array.from({ length: SIZE * SIZE * 3 }, (_, i) => COLOUR[i % 3]!)),
};

const { logits, probabilities } = models();
for (const preset of PRESETS) {
  for (const [kind, bytes] of [
    ['logits', logits],
    ['Softmax', probabilities],
  ] as const) {
    test(`preset ${preset}, a model ending in ${kind}: scores are its probabilities, softmaxed exactly once`, async () => {
      const file = join(dir, `${preset}-${kind}.onnx`);
      writeFileSync(file, bytes);
      const model = loadModel(file, { preprocess: [{ origin: 'test', values: { preset } }] });
      assert.equal(model.alreadyProbabilities, kind === 'Softmax');
      const { mean, std } = DOCUMENTED[preset];
      assert.deepEqual([model.preprocess.mean, model.preprocess.std], [mean, std]);

      // The expected input, written out: (v / 255 - mean) / std per channel, NCHW.
      const input = new Float32Array(3 * SIZE * SIZE);
      for (let c = 0; c < 3; c++) input.fill((COLOUR[c]! / 255 - mean[c]!) / std[c]!, c * SIZE * SIZE, (c + 1) * SIZE * SIZE);
      const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], logSeverityLevel: 3 });
      const out = await session.run({ [model.inputName]: new ort.Tensor('float32', input, [1, 3, SIZE, SIZE]) });
      await session.release();
      const raw = Array.from(Object.values(out)[0]!.data as Float32Array);
      const want = kind === 'Softmax' ? raw : softmax(raw);
      assert.ok(Math.max(...want.map((p, i) => Math.abs(p - softmax(want)[i]!))) > 0.05, 'a second softmax would show');

      const engine = await InferenceEngine.start(model, { device: 'cpu', threads: 1, topK: CLASSES, embeddings: false });
      try {
        const [got] = (await engine.infer([frame])).frames;
        for (const c of got!.top) assert.ok(Math.abs(c.score - want[c.index]!) < 1e-4, `class ${c.index}: ${c.score} vs ${want[c.index]}`);
      } finally {
        await engine.close();
      }
    });
  }
}
