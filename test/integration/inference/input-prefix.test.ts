/**
 * The frames-input prefix (src/inference/input-prefix.ts) against a plain
 * per-pixel normalisation written here: an identity model shows exactly
 * what tensor the model's own input receives, for NCHW and NHWC inputs, RGB
 * and BGR channel orders, and odd mean/std/scale values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { IMAGENET_PREPROCESS, type PreprocessSpec } from '../../../src/contracts/preprocess.ts';
import { FRAMES_INPUT, prefixFramesInput } from '../../../src/inference/input-prefix.ts';
import { DataType, encodeModel, makeNode, tensorValueInfo } from '../../../src/inference/onnx-proto.ts';

const W = 5;
const H = 3;

/** input -> Identity -> output, with the input in the given layout. */
function identityModel(layout: 'NCHW' | 'NHWC'): Uint8Array {
  const dims = layout === 'NCHW' ? ['batch', 3, H, W] : ['batch', H, W, 3];
  return encodeModel({
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    graph: {
      name: 'identity',
      node: [makeNode('Identity', ['pixel_values'], ['out'], 'id')],
      input: [tensorValueInfo('pixel_values', DataType.FLOAT, dims)],
      output: [tensorValueInfo('out', DataType.FLOAT, dims)],
    },
  });
}

/** What the model must see: written per element from the spec's definition. */
function expected(bytes: Uint8Array, count: number, spec: PreprocessSpec): Float32Array {
  const out = new Float32Array(count * H * W * 3);
  for (let n = 0; n < count; n++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        for (let c = 0; c < 3; c++) {
          // Model channel c holds RGB channel c, or 2 - c for BGR.
          const rgb = spec.channelOrder === 'BGR' ? 2 - c : c;
          const v = bytes[((n * H + y) * W + x) * 3 + rgb]!;
          const value = (v * spec.scale - spec.mean[rgb]!) / spec.std[rgb]!;
          const at = spec.layout === 'NCHW' ? ((n * 3 + c) * H + y) * W + x : ((n * H + y) * W + x) * 3 + c;
          out[at] = value;
        }
      }
    }
  }
  return out;
}

const cases: Array<Partial<PreprocessSpec>> = [
  { layout: 'NCHW', channelOrder: 'RGB' },
  { layout: 'NCHW', channelOrder: 'BGR', mean: [0.1, 0.5, 0.9], std: [0.2, 0.3, 0.7] },
  { layout: 'NHWC', channelOrder: 'RGB', mean: [0, 0, 0], std: [1, 1, 1] },
  { layout: 'NHWC', channelOrder: 'BGR', scale: 1, mean: [103.53, 116.28, 123.675], std: [57.375, 57.12, 58.395] },
];

for (const c of cases) {
  test(`the prefix feeds a ${c.layout} ${c.channelOrder} model what per-pixel normalisation gives`, async () => {
    const spec: PreprocessSpec = { ...IMAGENET_PREPROCESS, inputWidth: W, inputHeight: H, ...c };
    const prefixed = prefixFramesInput(identityModel(spec.layout), 'pixel_values', spec);
    assert.equal(prefixed.inputName, FRAMES_INPUT);
    const session = await ort.InferenceSession.create(prefixed.bytes, { executionProviders: ['cpu'], logSeverityLevel: 3 });
    try {
      const count = 2;
      const bytes = Uint8Array.from({ length: count * H * W * 3 }, (_, i) => (i * 37 + 11) % 256);
      const out = await session.run({ [FRAMES_INPUT]: new ort.Tensor('uint8', bytes, [count, H, W, 3]) });
      const got = out['out']!;
      assert.deepEqual(got.dims, spec.layout === 'NCHW' ? [count, 3, H, W] : [count, H, W, 3]);
      const want = expected(bytes, count, spec);
      const data = got.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(data[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
      assert.ok(worst < 1e-5, `max relative difference ${worst}`);
    } finally {
      await session.release();
    }
  });
}

test('the prefix refuses an input the model does not have', () => {
  assert.throws(() => prefixFramesInput(identityModel('NCHW'), 'nope', IMAGENET_PREPROCESS), /no input "nope"/);
});
