/**
 * The arithmetic of the quantization scheme (pure):
 *   activations  uint8, asymmetric, one scale and zero point per tensor;
 *   weights      int8, symmetric (zero point 0) in [-127, 127], one scale per output channel;
 *   biases       int32, zero point 0, scale = input scale * weight scale of the channel,
 * which is what ONNX Runtime's QLinearConv computes with on x86 (U8S8).
 */

export interface ActivationParams {
  scale: number;
  /** 0..255 */
  zeroPoint: number;
}

/** Smallest scale written: a tensor that is constant zero still needs a positive scale. */
const MIN_SCALE = 1e-8;
const INT32_MAX = 2 ** 31 - 1;

/** uint8 parameters covering [lo, hi], widened to include 0 so that 0 is exact (padding, Relu). */
export function activationParams(range: { lo: number; hi: number }): ActivationParams {
  const lo = Math.min(range.lo, 0);
  const hi = Math.max(range.hi, 0);
  const scale = Math.max((hi - lo) / 255, MIN_SCALE);
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-lo / scale)));
  return { scale: Math.fround(scale), zeroPoint };
}

export interface QuantizedWeights {
  data: Int8Array;
  /** One per output channel (dim 0). */
  scales: Float32Array;
}

/** Symmetric per-output-channel int8; `weights` is laid out with the output channel first. */
export function quantizeWeightsPerChannel(weights: Float32Array, outChannels: number): QuantizedWeights {
  if (outChannels < 1 || weights.length % outChannels !== 0) {
    throw new RangeError(`weights: ${weights.length} values do not split into ${outChannels} output channels`);
  }
  const per = weights.length / outChannels;
  const data = new Int8Array(weights.length);
  const scales = new Float32Array(outChannels);
  for (let c = 0; c < outChannels; c++) {
    let maxAbs = 0;
    for (let i = c * per; i < (c + 1) * per; i++) maxAbs = Math.max(maxAbs, Math.abs(weights[i]!));
    const scale = Math.fround(maxAbs > 0 ? maxAbs / 127 : 1);
    scales[c] = scale;
    for (let i = c * per; i < (c + 1) * per; i++) data[i] = Math.max(-127, Math.min(127, Math.round(weights[i]! / scale)));
  }
  return { data, scales };
}

export interface QuantizedBias {
  data: Int32Array;
  scales: Float32Array;
}

/** int32 bias with scale inputScale * weightScale[c] per channel, zero point 0. */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array): QuantizedBias {
  if (bias.length !== weightScales.length) throw new RangeError(`bias has ${bias.length} values, weights ${weightScales.length} channels`);
  const data = new Int32Array(bias.length);
  const scales = new Float32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const scale = Math.fround(Math.fround(inputScale) * weightScales[c]!);
    scales[c] = scale;
    data[c] = Math.max(-INT32_MAX, Math.min(INT32_MAX, Math.round(bias[c]! / scale)));
  }
  return { data, scales };
}
