/** The quantize report as text for a terminal (pure). */
import type { QuantizeReport } from './quantize-model.ts';

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

export function formatQuantizeReport(r: QuantizeReport, out: string, bytes: number): string {
  const a = r.agreement;
  const floatOps = Object.entries(r.floatOps)
    .map(([op, n]) => `${op} x${n}`)
    .join(', ');
  return (
    [
      `wrote ${out} (${(bytes / 1e6).toFixed(1)} MB, INT8) from ${r.model}`,
      `integer:      ${r.quantized.conv} Conv, ${r.quantized.add} Add (${r.quantized.activations} activation tensors uint8, weights int8 per channel, stored with zero point ${r.weightZeroPoint})`,
      `float:        ${floatOps || 'none'}`,
      `calibration:  ${r.calibrationFrames} frames, ranges clipped at the ${(100 * r.percentile).toFixed(3)}th percentile, bias correction ${r.biasCorrection ? 'on' : 'off'}`,
      `agreement with FP32 on ${a.frames} held-out frames of the same videos:`,
      `  top-1 agreement        ${pct(a.top1Agreement)}`,
      `  FP32 top-1 in top-5    ${pct(a.top1InTop5)}`,
      `  embedding cosine       ${a.embeddingCosine === null ? 'none (the model gives labels only)' : `min ${a.embeddingCosine.min.toFixed(4)}, median ${a.embeddingCosine.median.toFixed(4)}`}`,
    ].join('\n') + '\n'
  );
}
