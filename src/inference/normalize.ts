import type { PreprocessSpec } from '../contracts/preprocess.ts';

/**
 * Per-channel lookup tables byte -> normalised float, so the hot loop is one
 * table read per sample: (v * scale - mean[c]) / std[c].
 */
export function buildNormalizeTables(spec: PreprocessSpec): [Float32Array, Float32Array, Float32Array] {
  const tables = [0, 1, 2].map((c) => {
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) t[v] = (v * spec.scale - spec.mean[c]!) / spec.std[c]!;
    return t;
  });
  return tables as [Float32Array, Float32Array, Float32Array];
}

/**
 * Packed rgb24 frames (HWC, `count` frames back to back) to one NCHW float32
 * batch. `channelOrder: 'BGR'` swaps the planes for models trained on BGR.
 */
export function rgb24ToNchw(
  pixels: Uint8Array,
  count: number,
  width: number,
  height: number,
  spec: PreprocessSpec,
  tables = buildNormalizeTables(spec),
  out = new Float32Array(count * 3 * width * height),
): Float32Array {
  const plane = width * height;
  const frameBytes = plane * 3;
  if (pixels.length < count * frameBytes) {
    throw new RangeError(`pixels: expected at least ${count * frameBytes} bytes for ${count} frames of ${width}x${height}, got ${pixels.length}`);
  }
  const [t0, t1, t2] = tables;
  const bgr = spec.channelOrder === 'BGR';
  for (let f = 0; f < count; f++) {
    const src = f * frameBytes;
    const base = f * 3 * plane;
    const r = bgr ? base + 2 * plane : base;
    const g = base + plane;
    const b = bgr ? base : base + 2 * plane;
    for (let i = 0, p = src; i < plane; i++, p += 3) {
      out[r + i] = t0[pixels[p]!]!;
      out[g + i] = t1[pixels[p + 1]!]!;
      out[b + i] = t2[pixels[p + 2]!]!;
    }
  }
  return out;
}
