/**
 * An independent implementation of the reference evaluation transform, as
 * torchvision applies it to a PIL image:
 *   Resize(256, interpolation=BILINEAR)  -> PIL Image.resize(..., BILINEAR)
 *   CenterCrop(224)
 * Written from PIL's ImagingResample (src/libImaging/Resample.c) and
 * torchvision's functional resize/center_crop, not from ffmpeg.
 *
 * PIL's bilinear is a triangle filter whose support is scaled by the
 * downscale factor (antialiasing); it resamples horizontally, rounds to
 * 8 bits, then vertically.
 */

export interface RgbImage {
  width: number;
  height: number;
  /** Packed rgb24, row-major. */
  data: Uint8Array;
}

/** torchvision `_compute_resized_output_size` for an int size: the longer side is truncated. */
export function resizedSize(width: number, height: number, shorter: number): { width: number; height: number } {
  if (width <= height) return { width: shorter, height: Math.trunc((shorter * height) / width) };
  return { width: Math.trunc((shorter * width) / height), height: shorter };
}

interface Coeffs {
  start: number[];
  weights: number[][];
}

/** PIL's filters (src/libImaging/Resample.c): support and kernel; bicubic with a = -0.5. */
const FILTERS = {
  bilinear: { support: 1, kernel: (x: number): number => (x < 1 ? 1 - x : 0) },
  bicubic: {
    support: 2,
    kernel: (x: number): number => {
      const a = -0.5;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
} as const;

export type PilFilter = keyof typeof FILTERS;

function bilinearCoeffs(inSize: number, outSize: number, filter: PilFilter = 'bilinear'): Coeffs {
  const { support: baseSupport, kernel } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = baseSupport * filterScale;
  const start: number[] = [];
  const weights: number[][] = [];
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const w: number[] = [];
    let total = 0;
    for (let x = xmin; x < xmax; x++) {
      const k = kernel(Math.abs((x - center + 0.5) / filterScale));
      w.push(k);
      total += k;
    }
    start.push(xmin);
    weights.push(w.map((k) => (total === 0 ? 0 : k / total)));
  }
  return { start, weights };
}

function clip8(v: number): number {
  const r = Math.round(v);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

/** PIL `Image.resize((outW, outH), Image.BILINEAR)` on an RGB image. */
export function pilBilinearResize(img: RgbImage, outW: number, outH: number): RgbImage {
  return pilResize(img, outW, outH, 'bilinear');
}

/** PIL `Image.resize((outW, outH), BILINEAR or BICUBIC)` on an RGB image: horizontal pass, 8-bit rounding, vertical pass. */
export function pilResize(img: RgbImage, outW: number, outH: number, filter: PilFilter): RgbImage {
  let src = img;
  if (outW !== img.width) {
    const c = bilinearCoeffs(img.width, outW, filter);
    const data = new Uint8Array(outW * img.height * 3);
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < outW; x++) {
        const s = c.start[x] ?? 0;
        const w = c.weights[x] ?? [];
        for (let ch = 0; ch < 3; ch++) {
          let acc = 0;
          for (let k = 0; k < w.length; k++) acc += (w[k] ?? 0) * (img.data[(y * img.width + s + k) * 3 + ch] ?? 0);
          data[(y * outW + x) * 3 + ch] = clip8(acc);
        }
      }
    }
    src = { width: outW, height: img.height, data };
  }
  if (outH !== src.height) {
    const c = bilinearCoeffs(src.height, outH, filter);
    const data = new Uint8Array(outW * outH * 3);
    for (let y = 0; y < outH; y++) {
      const s = c.start[y] ?? 0;
      const w = c.weights[y] ?? [];
      for (let x = 0; x < outW; x++) {
        for (let ch = 0; ch < 3; ch++) {
          let acc = 0;
          for (let k = 0; k < w.length; k++) acc += (w[k] ?? 0) * (src.data[((s + k) * outW + x) * 3 + ch] ?? 0);
          data[(y * outW + x) * 3 + ch] = clip8(acc);
        }
      }
    }
    src = { width: outW, height: outH, data };
  }
  return src;
}

/** torchvision `center_crop`: offsets are int(round((in - out) / 2)), Python's round-half-to-even. */
export function centerCrop(img: RgbImage, cropW: number, cropH: number): RgbImage {
  return cropAt(img, centerCropOffset(img.width, cropW), centerCropOffset(img.height, cropH), cropW, cropH);
}

/** torchvision's crop offset along one axis: int(round((inSize - outSize) / 2)). */
export function centerCropOffset(inSize: number, outSize: number): number {
  return roundHalfEven((inSize - outSize) / 2);
}

/** The cropW x cropH region whose top-left corner is (left, top). */
export function cropAt(img: RgbImage, left: number, top: number, cropW: number, cropH: number): RgbImage {
  const data = new Uint8Array(cropW * cropH * 3);
  for (let y = 0; y < cropH; y++) {
    const from = ((top + y) * img.width + left) * 3;
    data.set(img.data.subarray(from, from + cropW * 3), y * cropW * 3);
  }
  return { width: cropW, height: cropH, data };
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const diff = v - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Resize shorter side to `shorter`, then centre-crop, as torchvision's eval transform. */
export function referenceTransform(img: RgbImage, shorter: number, cropW: number, cropH: number): RgbImage {
  const size = resizedSize(img.width, img.height, shorter);
  return centerCrop(pilBilinearResize(img, size.width, size.height), cropW, cropH);
}
