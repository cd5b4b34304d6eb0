import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { activationParams, quantizeBias, quantizeWeightsPerChannel } from '../../../../src/inference/quantize/quant-params.ts';

describe('quantization parameters', () => {
  test('uint8 activations: the range is widened to hold 0, and 0 is exact', () => {
    for (const range of [
      { lo: -1.5, hi: 3 },
      { lo: 0.2, hi: 6 },
      { lo: -4, hi: -1 },
    ]) {
      const p = activationParams(range);
      assert.ok(Number.isInteger(p.zeroPoint) && p.zeroPoint >= 0 && p.zeroPoint <= 255);
      const lo = (0 - p.zeroPoint) * p.scale;
      const hi = (255 - p.zeroPoint) * p.scale;
      assert.ok(lo <= Math.min(range.lo, 0) + p.scale && hi >= Math.max(range.hi, 0) - p.scale, JSON.stringify({ range, p }));
    }
    assert.equal(activationParams({ lo: 0, hi: 6 }).zeroPoint, 0, 'a Relu output: zero point 0');
    assert.ok(activationParams({ lo: 0, hi: 0 }).scale > 0);
  });

  test('int8 weights: symmetric per output channel, each channel to its own maximum', () => {
    const w = Float32Array.of(0.5, -1, 0.25, 0.001, -0.002, 0.0005);
    const q = quantizeWeightsPerChannel(w, 2);
    assert.deepEqual([...q.data.slice(0, 3)], [64, -127, 32]);
    assert.deepEqual([...q.data.slice(3)], [64, -127, 32]);
    assert.ok(Math.abs(q.scales[0]! - 1 / 127) < 1e-7);
    assert.ok(Math.abs(q.scales[1]! - 0.002 / 127) < 1e-9);
    for (let i = 0; i < w.length; i++) assert.ok(Math.abs(q.data[i]! * q.scales[Math.floor(i / 3)]! - w[i]!) <= q.scales[Math.floor(i / 3)]! / 2 + 1e-9);
    assert.throws(() => quantizeWeightsPerChannel(w, 4), RangeError);
  });

  test('int32 bias: scale = input scale * weight scale of the channel', () => {
    const b = quantizeBias(Float32Array.of(1, -0.5), 0.1, Float32Array.of(0.01, 0.02));
    assert.ok(Math.abs(b.scales[0]! - 0.001) < 1e-9);
    assert.equal(b.data[0], 1000);
    assert.equal(b.data[1], -250);
  });
});
