/**
 * How far the INT8 model's answers are from the FP32 model's on the same
 * frames (pure): what a user trades for the speed.
 */

export interface Agreement {
  frames: number;
  /** Fraction of frames where both models' top-1 class is the same. */
  top1Agreement: number;
  /** Fraction of frames where FP32's top-1 class is among INT8's five best. */
  top1InTop5: number;
  /** Cosine similarity of the two embeddings of a frame; null for a labels-only model. */
  embeddingCosine: { min: number; median: number; mean: number } | null;
}

export interface ModelOutputs {
  /** [frames x classes], row-major. */
  logits: Float32Array;
  /** [frames x dim], row-major; null for a labels-only model. */
  embeddings: Float32Array | null;
}

/** Indices of the k largest values, largest first (ties: lower index first). */
export function topK(values: Float32Array, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    let at = best.length;
    while (at > 0 && values[best[at - 1]!]! < values[i]!) at--;
    if (at < k) {
      best.splice(at, 0, i);
      if (best.length > k) best.pop();
    }
  }
  return best;
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  if (na === 0 && nb === 0) return 1;
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((x, y) => x - y);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function compareOutputs(fp32: ModelOutputs, int8: ModelOutputs, frames: number): Agreement {
  if (frames < 1) throw new RangeError('compareOutputs needs at least one frame');
  const classes = fp32.logits.length / frames;
  const dim = (fp32.embeddings?.length ?? 0) / frames;
  if (int8.logits.length !== fp32.logits.length || int8.embeddings?.length !== fp32.embeddings?.length) {
    throw new RangeError('FP32 and INT8 outputs differ in size');
  }
  let same = 0;
  let within = 0;
  const cosines: number[] = [];
  for (let f = 0; f < frames; f++) {
    const a = fp32.logits.subarray(f * classes, (f + 1) * classes);
    const b = int8.logits.subarray(f * classes, (f + 1) * classes);
    const ref = topK(a, 1)[0];
    const top5 = topK(b, Math.min(5, classes));
    if (top5[0] === ref) same++;
    if (top5.includes(ref!)) within++;
    if (fp32.embeddings && int8.embeddings) {
      cosines.push(cosine(fp32.embeddings.subarray(f * dim, (f + 1) * dim), int8.embeddings.subarray(f * dim, (f + 1) * dim)));
    }
  }
  return {
    frames,
    top1Agreement: same / frames,
    top1InTop5: within / frames,
    embeddingCosine: cosines.length === 0 ? null : { min: Math.min(...cosines), median: median(cosines), mean: cosines.reduce((s, c) => s + c, 0) / frames },
  };
}
