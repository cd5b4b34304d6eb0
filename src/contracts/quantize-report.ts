/**
 * What `streamsight models quantize --json` prints: one object (README.md
 * "INT8: models quantize"). QuantizeReport of inference/quantize/ plus where
 * the file went.
 */
import { z } from 'zod';

const SamplingSchema = z.union([z.object({ mode: z.literal('fps'), fps: z.number().positive() }), z.object({ mode: z.enum(['every', 'keyframes']) })]);

export const AgreementSchema = z.object({
  frames: z.number().int().positive(),
  /** Fraction of held-out frames where INT8's top-1 class is FP32's. */
  top1Agreement: z.number().min(0).max(1),
  /** Fraction where FP32's top-1 class is among INT8's five best. */
  top1InTop5: z.number().min(0).max(1),
  /** Cosine of the two embeddings per frame; null for a labels-only model. */
  embeddingCosine: z.object({ min: z.number(), median: z.number(), mean: z.number() }).nullable(),
});

export const QuantizeOutputSchema = z.object({
  type: z.literal('quantize'),
  out: z.string(),
  bytes: z.number().int().positive(),
  /** With --name: the local model's name and file. */
  name: z.string().optional(),
  path: z.string().optional(),
  model: z.string(),
  calibrationFrames: z.number().int().positive(),
  heldOutFrames: z.number().int().positive(),
  percentile: z.number(),
  biasCorrection: z.boolean(),
  weightZeroPoint: z.union([z.literal(0), z.literal(-1)]),
  quantized: z.object({ conv: z.number().int(), add: z.number().int(), activations: z.number().int() }),
  floatOps: z.record(z.string(), z.number().int()),
  agreement: AgreementSchema,
  inputs: z.array(z.object({ input: z.string(), sampling: SamplingSchema, decoded: z.number().int() })),
  heldOut: z.array(z.object({ input: z.string(), seq: z.number().int(), ptsMs: z.number() })),
});

export type QuantizeOutput = z.infer<typeof QuantizeOutputSchema>;
