import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rgb24ToNchw } from '../../../src/inference/normalize.ts';
import { IMAGENET_PREPROCESS } from '../../../src/contracts/preprocess.ts';

test('rgb24ToNchw puts each channel in its own plane, normalised with ImageNet mean and std', () => {
  const spec = { ...IMAGENET_PREPROCESS, inputWidth: 2, inputHeight: 1 };
  // Two frames of 2x1 pixels: (r,g,b) per pixel.
  const pixels = Uint8Array.from([255, 0, 128, 10, 20, 30, 0, 0, 0, 255, 255, 255]);
  const out = rgb24ToNchw(pixels, 2, 2, 1, spec);
  const n = (v: number, c: number): number => (v / 255 - spec.mean[c]!) / spec.std[c]!;
  const expected = [n(255, 0), n(10, 0), n(0, 1), n(20, 1), n(128, 2), n(30, 2), n(0, 0), n(255, 0), n(0, 1), n(255, 1), n(0, 2), n(255, 2)];
  assert.equal(out.length, expected.length);
  expected.forEach((e, i) => assert.ok(Math.abs(out[i]! - e) < 1e-6, `index ${i}: ${out[i]} vs ${e}`));
});

test('rgb24ToNchw swaps the red and blue planes for BGR models', () => {
  const spec = {
    ...IMAGENET_PREPROCESS,
    mean: [0, 0, 0] as [number, number, number],
    std: [1, 1, 1] as [number, number, number],
    scale: 1,
    channelOrder: 'BGR' as const,
  };
  const out = rgb24ToNchw(Uint8Array.from([1, 2, 3]), 1, 1, 1, spec);
  assert.deepEqual(Array.from(out), [3, 2, 1]);
});

test('rgb24ToNchw refuses a buffer shorter than the frames it should hold', () => {
  assert.throws(() => rgb24ToNchw(new Uint8Array(5), 1, 2, 1, IMAGENET_PREPROCESS), RangeError);
});
