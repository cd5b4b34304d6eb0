import { test } from 'node:test';
import assert from 'node:assert/strict';
import { l2Normalize, topKSoftmax } from '../../../src/inference/postprocess.ts';

function softmax(xs: number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

test('topKSoftmax returns the k most probable classes, best first, with softmax scores', () => {
  const logits = [0.1, 3, -2, 2.5, 3, 0];
  const probs = softmax(logits);
  const top = topKSoftmax(Float32Array.from(logits), 3);
  assert.deepEqual(new Set(top.slice(0, 2).map((c) => c.index)), new Set([1, 4]));
  assert.equal(top[2]!.index, 3);
  for (const c of top) assert.ok(Math.abs(c.score - probs[c.index]!) < 1e-6);
});

test('topKSoftmax agrees with a full sort on random logits', () => {
  for (let trial = 0; trial < 50; trial++) {
    const n = 1 + Math.floor(Math.random() * 300);
    const logits = Float32Array.from({ length: n }, () => Math.random() * 20 - 10);
    const k = 1 + Math.floor(Math.random() * 7);
    const expected = Array.from(logits.keys())
      .sort((a, b) => logits[b]! - logits[a]!)
      .slice(0, k);
    assert.deepEqual(
      topKSoftmax(logits, k).map((c) => logits[c.index]),
      expected.map((i) => logits[i]),
    );
  }
});

test('topKSoftmax keeps scores as they are for a model that already ends in Softmax', () => {
  const top = topKSoftmax(Float32Array.from([0.2, 0.7, 0.1]), 2, true);
  assert.deepEqual(
    top.map((c) => c.index),
    [1, 0],
  );
  assert.ok(Math.abs(top[0]!.score - 0.7) < 1e-6);
});

test('topKSoftmax with k larger than the class count returns every class', () => {
  assert.equal(topKSoftmax(Float32Array.from([1, 2]), 5).length, 2);
});

test('l2Normalize gives unit length and leaves a zero vector at zero', () => {
  const v = l2Normalize(Float32Array.from([3, 4]));
  assert.ok(Math.abs(v[0]! - 0.6) < 1e-7 && Math.abs(v[1]! - 0.8) < 1e-7);
  assert.deepEqual(Array.from(l2Normalize(new Float32Array(3))), [0, 0, 0]);
});
