/** Pure post-processing of one frame's outputs: softmax, top-k, L2 norm. */

export interface ScoredClass {
  index: number;
  score: number;
}

/**
 * Softmax probabilities of the top `k` classes, best first. When the model
 * already ends in a Softmax (`alreadyProbabilities`), scores are used as is.
 */
export function topKSoftmax(logits: Float32Array, k: number, alreadyProbabilities = false): ScoredClass[] {
  const n = logits.length;
  if (n === 0) return [];
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
  let denom = 1;
  if (!alreadyProbabilities) {
    denom = 0;
    for (let i = 0; i < n; i++) denom += Math.exp(logits[i]! - max);
  }
  const kk = Math.min(k, n);
  // Insertion into a small sorted array: O(n*k), k is at most a handful.
  const best: ScoredClass[] = [];
  for (let i = 0; i < n; i++) {
    const v = logits[i]!;
    if (best.length === kk && v <= best[kk - 1]!.score) continue;
    let j = best.length < kk ? best.length : kk - 1;
    best[j] = { index: i, score: v };
    while (j > 0 && best[j - 1]!.score < v) {
      best[j] = best[j - 1]!;
      best[j - 1] = { index: i, score: v };
      j--;
    }
  }
  return best.map(({ index, score }) => ({
    index,
    score: alreadyProbabilities ? score : Math.exp(score - max) / denom,
  }));
}

/** L2-normalises in place; a zero vector stays zero. */
export function l2Normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i]! /= norm;
  return v;
}
