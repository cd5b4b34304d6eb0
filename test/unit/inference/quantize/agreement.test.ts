import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compareOutputs, cosine, median, topK } from '../../../../src/inference/quantize/agreement.ts';

describe('agreement of INT8 with FP32', () => {
  test('topK, cosine and median', () => {
    assert.deepEqual(topK(Float32Array.of(0.1, 3, 2, 3, -1), 3), [1, 3, 2]);
    assert.equal(cosine(Float32Array.of(1, 0), Float32Array.of(0, 2)), 0);
    assert.ok(Math.abs(cosine(Float32Array.of(1, 2), Float32Array.of(2, 4)) - 1) < 1e-12);
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
  });

  test('per-frame top-1, top-5 containment and embedding cosine', () => {
    // 3 frames, 6 classes. Frame 0 agrees; frame 1: FP32's best is INT8's 2nd; frame 2: FP32's best is INT8's last.
    const fp32 = Float32Array.of(...[9, 1, 0, 0, 0, 0], ...[0, 9, 1, 0, 0, 0], ...[0, 0, 9, 1, 2, 3]);
    const int8 = Float32Array.of(...[8, 1, 0, 0, 0, 0], ...[0, 5, 9, 0, 0, 0], ...[9, 8, 0, 7, 6, 5]);
    const e = Float32Array.of(1, 0, 1, 0, 1, 0);
    const e8 = Float32Array.of(1, 0, 1, 1, 0, 1);
    const a = compareOutputs({ logits: fp32, embeddings: e }, { logits: int8, embeddings: e8 }, 3);
    assert.equal(a.top1Agreement, 1 / 3);
    assert.equal(a.top1InTop5, 2 / 3);
    assert.equal(a.embeddingCosine!.min, 0);
    assert.ok(Math.abs(a.embeddingCosine!.median - Math.SQRT1_2) < 1e-12);
    const labelsOnly = compareOutputs({ logits: fp32, embeddings: null }, { logits: int8, embeddings: null }, 3);
    assert.equal(labelsOnly.embeddingCosine, null);
    assert.equal(labelsOnly.top1Agreement, 1 / 3);
  });
});
