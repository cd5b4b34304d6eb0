import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RangeHistogram } from '../../../../src/inference/quantize/range-histogram.ts';

describe('RangeHistogram', () => {
  test('percentile clipping drops a rare outlier that min/max would keep', () => {
    const h = new RangeHistogram();
    const values = Float32Array.from({ length: 100_000 }, (_, i) => (i % 1000) / 100); // 0 .. 9.99
    h.add(values);
    h.add(Float32Array.of(1000)); // one value in 100 001
    const { lo, hi } = h.clippedRange(0.9999);
    assert.equal(h.max, 1000);
    assert.ok(hi < 10.5 && hi > 9.5, `hi ${hi}`);
    assert.equal(lo, 0);
    assert.equal(h.clippedRange(1).hi, 1000);
  });

  test('growing the range merges bins without losing counts, in either direction', () => {
    const h = new RangeHistogram(64);
    h.add(Float32Array.of(0.5, -0.25, 0.75));
    h.add(Float32Array.of(7, -30));
    assert.equal(h.total, 5);
    assert.equal(
      h.counts.reduce((a, b) => a + b, 0),
      5,
    );
    assert.ok(h.limit >= 30);
    assert.equal(h.quantile(1), 7);
    assert.equal(h.clippedRange(0.9).lo, -30);
  });

  test('the quantile lies within one bin of the exact one', () => {
    const h = new RangeHistogram();
    const values = Float32Array.from({ length: 20_000 }, (_, i) => Math.sin(i) * 3);
    h.add(values);
    const sorted = [...values].sort((a, b) => a - b);
    const width = (2 * h.limit) / h.bins;
    for (const q of [0.01, 0.5, 0.99]) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
      assert.ok(Math.abs(h.quantile(q) - exact) <= width + 1e-6, `q ${q}: ${h.quantile(q)} vs ${exact}`);
    }
  });

  test('non-finite values are refused: the float model is broken', () => {
    assert.throws(() => new RangeHistogram().add(Float32Array.of(1, NaN)), /not finite/);
  });
});
