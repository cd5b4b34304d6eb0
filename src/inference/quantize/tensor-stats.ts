/**
 * What calibration keeps of each tensor (pure): a RangeHistogram for the
 * tensors that get quantized, and per-channel sums of Conv outputs for bias
 * correction. Nothing holds the values themselves.
 */
import { RangeHistogram } from './range-histogram.ts';

/** Sums over batch and spatial positions per channel of an NCHW (or NC) tensor. */
export class ChannelMeans {
  readonly sums: Float64Array;
  count = 0;

  constructor(readonly channels: number) {
    this.sums = new Float64Array(channels);
  }

  add(values: Float32Array, dims: readonly number[]): void {
    const [n = 1, c = 1] = dims;
    if (c !== this.channels) throw new RangeError(`expected ${this.channels} channels, got dims [${dims.join(',')}]`);
    const spatial = values.length / (n * c);
    for (let b = 0; b < n; b++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        const start = (b * c + ch) * spatial;
        for (let i = start; i < start + spatial; i++) s += values[i]!;
        this.sums[ch]! += s;
      }
    }
    this.count += n * spatial;
  }

  means(): Float64Array {
    return this.sums.map((s) => (this.count === 0 ? 0 : s / this.count));
  }
}

export class TensorStats {
  readonly histograms = new Map<string, RangeHistogram>();
  readonly channelMeans = new Map<string, ChannelMeans>();

  constructor(histogramTensors: readonly string[], meanTensors: ReadonlyMap<string, number>) {
    for (const t of histogramTensors) this.histograms.set(t, new RangeHistogram());
    for (const [t, channels] of meanTensors) this.channelMeans.set(t, new ChannelMeans(channels));
  }

  /** Every tensor this collector wants. */
  get names(): string[] {
    return [...new Set([...this.histograms.keys(), ...this.channelMeans.keys()])];
  }

  add(name: string, values: Float32Array, dims: readonly number[]): void {
    this.histograms.get(name)?.add(values);
    this.channelMeans.get(name)?.add(values, dims);
  }
}
