import { mulberry32 } from '../shared/mulberry32.ts';
/**
 * The arithmetic of the inverted-file (IVF) vector index; pure, no I/O.
 *
 * - A count sketch folds a D-dimensional embedding into SKETCH_DIMS signed
 *   sums (each dimension goes to one fixed bucket with a fixed sign). It costs
 *   D additions, so assigning a million 2048-d vectors to cells takes seconds
 *   in JavaScript, where a dense random projection would take minutes.
 * - k-means in sketch space makes the cells (coarse quantiser).
 * - Each vector is stored as a binary code of its residual: bit d is set when
 *   x[d] > centroid[d] of its cell. Hamming distance between codes ranks
 *   candidates inside a cell; the float embeddings then re-rank them exactly.
 */

/** Dimensions of the sketch space the cells live in. */
export const SKETCH_DIMS = 64;

/** Knuth's multiplicative hash, 32-bit: a fixed, seedless bucket and sign per dimension. */
function hash32(d: number): number {
  return Math.imul(d + 0x9e3779b9, 2654435761) >>> 0;
}

/** Bucket and sign of each of `dim` dimensions: `b` adds to bucket b, `-b - 1` subtracts from it. */
export function sketchPlan(dim: number): Int32Array {
  const plan = new Int32Array(dim);
  for (let d = 0; d < dim; d++) {
    const h = hash32(d);
    const bucket = h % SKETCH_DIMS;
    plan[d] = (h & 0x80000000) !== 0 ? -bucket - 1 : bucket;
  }
  return plan;
}

/** Writes the sketch of `vec` into `out` (SKETCH_DIMS long). */
export function sketchInto(vec: Float32Array, plan: Int32Array, out: Float32Array): Float32Array {
  out.fill(0);
  for (let d = 0; d < vec.length; d++) {
    const p = plan[d]!;
    if (p >= 0) out[p]! += vec[d]!;
    else out[-p - 1]! -= vec[d]!;
  }
  return out;
}

/** Squared L2 distance between `a` and row `row` of the row-major matrix `m` (width `w`). */
function distRow(a: Float32Array, m: Float32Array, row: number, w: number): number {
  let s = 0;
  const o = row * w;
  for (let j = 0; j < w; j++) {
    const t = a[j]! - m[o + j]!;
    s += t * t;
  }
  return s;
}

/** Index of the nearest row of `centroids` (k rows of width w) to `point`. */
export function nearestRow(point: Float32Array, centroids: Float32Array, k: number, w: number): number {
  let best = 0;
  let bestD = Infinity;
  for (let c = 0; c < k; c++) {
    const d = distRow(point, centroids, c, w);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

/** The `n` nearest rows of `centroids` to `point`, nearest first. */
export function nearestRows(point: Float32Array, centroids: Float32Array, k: number, w: number, n: number): number[] {
  const dist = new Float64Array(k);
  for (let c = 0; c < k; c++) dist[c] = distRow(point, centroids, c, w);
  const order = Array.from({ length: k }, (_, i) => i);
  order.sort((a, b) => dist[a]! - dist[b]!);
  return order.slice(0, Math.min(n, k));
}

// Seeded, so a rebuilt index is the same index.
export { mulberry32 };

/**
 * Lloyd's k-means on `n` points of width `w` (row-major), `k` clusters,
 * seeded from distinct random points; an empty cluster is re-seeded from a
 * random point. Returns k rows of width w.
 */
export function kmeans(points: Float32Array, n: number, w: number, k: number, iterations: number, seed = 1): Float32Array {
  if (k < 1 || n < 1) throw new RangeError(`kmeans: need k >= 1 and n >= 1, got k=${k}, n=${n}`);
  const rand = mulberry32(seed);
  const kk = Math.min(k, n);
  const centroids = new Float32Array(k * w);
  const picked = new Set<number>();
  for (let c = 0; c < k; c++) {
    let i = Math.floor(rand() * n);
    if (c < kk) while (picked.has(i)) i = (i + 1) % n;
    picked.add(i);
    centroids.set(points.subarray(i * w, (i + 1) * w), c * w);
  }
  const assign = new Int32Array(n);
  const sums = new Float64Array(k * w);
  const counts = new Int32Array(k);
  for (let it = 0; it < iterations; it++) {
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const p = points.subarray(i * w, (i + 1) * w);
      const c = nearestRow(p, centroids, k, w);
      assign[i] = c;
      counts[c]!++;
      const o = c * w;
      for (let j = 0; j < w; j++) sums[o + j]! += p[j]!;
    }
    for (let c = 0; c < k; c++) {
      const o = c * w;
      if (counts[c] === 0) {
        const i = Math.floor(rand() * n);
        centroids.set(points.subarray(i * w, (i + 1) * w), o);
        continue;
      }
      for (let j = 0; j < w; j++) centroids[o + j] = sums[o + j]! / counts[c]!;
    }
  }
  return centroids;
}

/** Bytes of the binary code of a `dim`-dimensional vector. */
export const codeBytes = (dim: number): number => Math.ceil(dim / 8);

/** Bit d of the code is set when vec[d] > centroid[d]; little-endian bit order in each byte. */
export function binaryCodeInto(vec: Float32Array, centroid: Float32Array, out: Uint8Array): Uint8Array {
  out.fill(0);
  for (let d = 0; d < vec.length; d++) if (vec[d]! > centroid[d]!) out[d >> 3]! |= 1 << (d & 7);
  return out;
}

/** Cosine distance of two L2-normalised vectors: 1 - dot. */
export function cosineDistance(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j]! * b[j]!;
  return 1 - s;
}

/** Cells for `n` vectors: about sqrt(n), between 16 and 1024. */
export function cellCount(n: number): number {
  return Math.max(16, Math.min(1024, Math.round(Math.sqrt(n))));
}
