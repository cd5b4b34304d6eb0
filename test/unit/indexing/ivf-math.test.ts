import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SKETCH_DIMS,
  binaryCodeInto,
  cellCount,
  codeBytes,
  cosineDistance,
  kmeans,
  nearestRow,
  nearestRows,
  sketchInto,
  sketchPlan,
} from '../../../src/indexing/ivf-math.ts';

const f32 = (...v: number[]): Float32Array => new Float32Array(v);

describe('count sketch', () => {
  // Hand-computed: h = (d + 0x9e3779b9) * 2654435761 mod 2^32; bucket = h mod 64; negative when bit 31 of h is set.
  // d=0: h=0xf1a299e9 (bucket 41, -), d=1: 0x8fda139a (26, -), d=2: 0x2e118d4b (11, +),
  // d=3: 0xcc4906fc (60, -), d=4: 0x6a8080ad (45, +), d=5: 0x08b7fa5e (30, +).
  test('each dimension gets a fixed bucket and sign: b adds to bucket b, -b-1 subtracts from it', () => {
    assert.equal(SKETCH_DIMS, 64);
    assert.deepEqual([...sketchPlan(6)], [-42, -27, 11, -61, 45, 30]);
    assert.deepEqual([...sketchPlan(3)], [...sketchPlan(6).subarray(0, 3)], "a dimension's bucket does not depend on the vector's length");
    assert.ok([...sketchPlan(2048)].every((p) => (p >= 0 ? p : -p - 1) < SKETCH_DIMS));
  });

  test('the sketch is the signed sum per bucket; what was in `out` is cleared', () => {
    const out = new Float32Array(SKETCH_DIMS).fill(9);
    const sketch = sketchInto(f32(1, 2, 3, 4, 5, 6), sketchPlan(6), out);
    assert.equal(sketch, out);
    const want = new Float32Array(SKETCH_DIMS);
    want[41] = -1;
    want[26] = -2;
    want[11] = 3;
    want[60] = -4;
    want[45] = 5;
    want[30] = 6;
    assert.deepEqual([...sketch], [...want]);
  });

  test('it is linear: sketch(a + b) = sketch(a) + sketch(b)', () => {
    const plan = sketchPlan(16);
    const a = Float32Array.from({ length: 16 }, (_, i) => i * 0.5 - 3);
    const b = Float32Array.from({ length: 16 }, (_, i) => (i % 3) - 1);
    const sum = sketchInto(
      a.map((x, i) => x + b[i]!),
      plan,
      new Float32Array(SKETCH_DIMS),
    );
    const sa = sketchInto(a, plan, new Float32Array(SKETCH_DIMS));
    const sb = sketchInto(b, plan, new Float32Array(SKETCH_DIMS));
    sum.forEach((v, i) => assert.ok(Math.abs(v - (sa[i]! + sb[i]!)) < 1e-5, `bucket ${i}`));
  });
});

describe('nearest rows', () => {
  // Three centroids of width 2: (0,0), (10,0), (0,3).
  const centroids = f32(0, 0, 10, 0, 0, 3);

  test('nearestRow answers the row with the least squared distance; a tie goes to the first row', () => {
    assert.equal(nearestRow(f32(1, 1), centroids, 3, 2), 0); // 2 vs 82 vs 5
    assert.equal(nearestRow(f32(6, 0), centroids, 3, 2), 1); // 36 vs 16 vs 45
    assert.equal(nearestRow(f32(0, 2), centroids, 3, 2), 2); // 4 vs 104 vs 1
    assert.equal(nearestRow(f32(5, 0), f32(0, 0, 10, 0), 2, 2), 0); // 25 vs 25
  });

  test('nearestRows answers the n nearest, nearest first, at most k', () => {
    assert.deepEqual(nearestRows(f32(1, 1), centroids, 3, 2, 2), [0, 2]);
    assert.deepEqual(nearestRows(f32(9, 1), centroids, 3, 2, 3), [1, 0, 2]); // 82 vs 2 vs 85
    assert.deepEqual(nearestRows(f32(9, 1), centroids, 3, 2, 10), [1, 0, 2]);
  });
});

describe('kmeans', () => {
  test("two separated groups: the centroids are the groups' means", () => {
    // Width 2; group A around (0,0), group B around (10,10).
    const points = f32(0, 0, 1, 0, 0, 1, 10, 10, 11, 10, 10, 11);
    const c = kmeans(points, 6, 2, 2, 10, 7);
    const rows = [
      [c[0]!, c[1]!],
      [c[2]!, c[3]!],
    ].sort((a, b) => a[0]! - b[0]!);
    const close = (got: number[], want: number[]): boolean => got.every((v, i) => Math.abs(v - want[i]!) < 1e-5);
    assert.ok(close(rows[0]!, [1 / 3, 1 / 3]), JSON.stringify(rows));
    assert.ok(close(rows[1]!, [31 / 3, 31 / 3]), JSON.stringify(rows));
  });

  test('the same seed gives the same centroids (a rebuilt index is the same index)', () => {
    const points = Float32Array.from({ length: 200 }, (_, i) => (Math.sin(i * 12.9898) * 43758.5453) % 1);
    assert.deepEqual([...kmeans(points, 50, 4, 5, 5, 3)], [...kmeans(points, 50, 4, 5, 5, 3)]);
  });

  test('more clusters than points still answers k rows, each one of the points; k < 1 or no points is a RangeError', () => {
    const c = kmeans(f32(1, 2, 3, 4), 2, 2, 3, 3);
    assert.equal(c.length, 6);
    for (let r = 0; r < 3; r++) {
      const row = `${c[r * 2]},${c[r * 2 + 1]}`;
      assert.ok(row === '1,2' || row === '3,4', row);
    }
    assert.throws(() => kmeans(f32(1, 2), 1, 2, 0, 1), RangeError);
    assert.throws(() => kmeans(new Float32Array(0), 0, 2, 1, 1), RangeError);
  });
});

describe('binary codes and distances', () => {
  test('codeBytes: one bit per dimension, rounded up to whole bytes', () => {
    assert.deepEqual([codeBytes(1), codeBytes(8), codeBytes(9), codeBytes(512), codeBytes(2048)], [1, 1, 2, 64, 256]);
  });

  test('bit d is set when vec[d] > centroid[d] (not >=), little-endian in each byte; `out` is cleared first', () => {
    const vec = f32(1, 0, 2, -1, 5, 0, 0, 0, 3, 0.5);
    const centroid = f32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0.5);
    const out = new Uint8Array(codeBytes(10)).fill(0xff);
    // Bits 0, 2, 4 -> 1 + 4 + 16 = 21; bit 8 -> byte 1 bit 0; bit 9: 0.5 > 0.5 is false.
    assert.deepEqual([...binaryCodeInto(vec, centroid, out)], [21, 1]);
  });

  test('cosineDistance of unit vectors is 1 - dot: 0 same, 1 orthogonal, 2 opposite', () => {
    assert.equal(cosineDistance(f32(1, 0), f32(1, 0)), 0);
    assert.equal(cosineDistance(f32(1, 0), f32(0, 1)), 1);
    // 0.6 and 0.8 are not exact in float32: to 1e-6.
    assert.ok(Math.abs(cosineDistance(f32(0.6, 0.8), f32(-0.6, -0.8)) - 2) < 1e-6); // dot = -(0.36 + 0.64)
    assert.ok(Math.abs(cosineDistance(f32(0.6, 0.8), f32(0.8, 0.6)) - 0.04) < 1e-6); // dot = 0.48 + 0.48
  });

  test('cellCount: about sqrt(n), at least 16, at most 1024', () => {
    assert.deepEqual([0, 100, 256, 400, 10_000, 1_000_000, 1_048_576, 5_000_000].map(cellCount), [16, 16, 16, 20, 100, 1000, 1024, 1024]);
    assert.equal(cellCount(1_100), 33); // sqrt = 33.17
  });
});
