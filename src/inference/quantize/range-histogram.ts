/**
 * A histogram of one tensor's values over many calibration batches, for
 * percentile clipping without keeping the values.
 *
 * The bins cover [-limit, +limit]; when a batch holds a value beyond the
 * limit, the limit doubles and neighbouring bins merge pairwise (each new bin
 * is two old ones), so no count is ever spread by guesswork. With 4096 bins
 * a tensor's range is resolved to 1/2048 of its largest magnitude, eight
 * times finer than the 256 levels of uint8.
 */
export const DEFAULT_BINS = 4096;

export class RangeHistogram {
  readonly counts: Float64Array;
  /** Half-width of the covered range; 0 until the first non-zero value. */
  limit = 0;
  total = 0;
  min = Infinity;
  max = -Infinity;

  constructor(readonly bins = DEFAULT_BINS) {
    if (!Number.isInteger(bins) || bins < 2 || bins % 2 !== 0) throw new RangeError(`bins must be an even integer >= 2, got ${bins}`);
    this.counts = new Float64Array(bins);
  }

  add(values: ArrayLike<number>): void {
    let lo = Infinity;
    let hi = -Infinity;
    let nan = false;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v !== v) nan = true;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (values.length === 0 || nan || !Number.isFinite(lo) || !Number.isFinite(hi)) {
      if (values.length > 0) throw new RangeError('calibration values are not finite (NaN or infinity in the float model)');
      return;
    }
    this.min = Math.min(this.min, lo);
    this.max = Math.max(this.max, hi);
    const magnitude = Math.max(-lo, hi);
    if (this.limit === 0) this.limit = magnitude > 0 ? magnitude : 1;
    while (magnitude > this.limit) this.grow();
    const half = this.bins / 2;
    const perUnit = half / this.limit;
    const last = this.bins - 1;
    const counts = this.counts;
    for (let i = 0; i < values.length; i++) {
      const b = Math.floor(values[i]! * perUnit) + half;
      counts[b > last ? last : b < 0 ? 0 : b]!++;
    }
    this.total += values.length;
  }

  /** Doubles the limit: bins 2k and 2k+1 of the old grid become bin half/2 + k. */
  private grow(): void {
    const old = Float64Array.from(this.counts);
    this.counts.fill(0);
    const quarter = this.bins / 4;
    for (let k = 0; k < this.bins / 2; k++) this.counts[quarter + k] = old[2 * k]! + old[2 * k + 1]!;
    this.limit *= 2;
  }

  /**
   * The value below which `fraction` of the values lie (bin edge, so the
   * answer errs outwards by at most one bin), clamped to the seen min/max.
   */
  quantile(fraction: number): number {
    if (this.total === 0) return 0;
    const target = fraction * this.total;
    let seen = 0;
    const width = (2 * this.limit) / this.bins;
    for (let b = 0; b < this.bins; b++) {
      seen += this.counts[b]!;
      if (seen >= target) return Math.min(this.max, Math.max(this.min, -this.limit + (b + 1) * width));
    }
    return this.max;
  }

  /**
   * The range holding all but the `1 - percentile` tails: e.g. 0.9999 clips
   * the lowest and the highest 0.01 % of values.
   */
  clippedRange(percentile: number): { lo: number; hi: number } {
    if (!(percentile > 0.5 && percentile <= 1)) throw new RangeError(`percentile must be in (0.5, 1], got ${percentile}`);
    if (percentile === 1) return { lo: this.total === 0 ? 0 : this.min, hi: this.total === 0 ? 0 : this.max };
    const width = (2 * this.limit) / this.bins;
    // The lower edge of the bin holding the low quantile: step back one bin from its upper edge.
    const lo = Math.max(this.min, this.quantile(1 - percentile) - width);
    return { lo: Math.min(lo, this.max), hi: this.quantile(percentile) };
  }
}
