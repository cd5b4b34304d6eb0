import { z } from 'zod';
import { LabelSchema } from './analyze-output.ts';

/**
 * What crosses Redis in the distributed mode. Frame pixels never travel in
 * job data (BullMQ stores it as JSON text): they sit in the frame store under
 * their own keys, and a job carries references to a batch of them.
 */

/** One frame of a job: its identity within the job's run, and where its pixels are. */
export const FrameRefSchema = z.object({
  seq: z.number().int().nonnegative(),
  ptsMs: z.number(),
  /** Epoch ms when the frame left ffmpeg. */
  capturedAt: z.number(),
  /** Frame store key of the rgb24 pixels (width * height * 3 bytes). */
  key: z.string().min(1),
});
export type FrameRef = z.infer<typeof FrameRefSchema>;

/** Data of one inference job: a batch of frames of one (stream, run). */
export const FrameJobSchema = z.object({
  v: z.literal(1),
  stream: z.string().min(1),
  run: z.string().min(1),
  /** Model name the frames were prepared for (size and crop); a worker with another model refuses the job. */
  model: z.string().min(1),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  /** Labels wanted per frame. */
  topK: z.number().int().min(1).max(1000),
  /** Include the embedding in the result. */
  embeddings: z.boolean(),
  /** Results stream key the worker appends this job's result to. */
  results: z.string().min(1),
  frames: z.array(FrameRefSchema).min(1).max(1024),
});
export type FrameJob = z.infer<typeof FrameJobSchema>;

/** One inferred frame in a results entry. Scores are unrounded (consumers round). */
export const ResultFrameSchema = z.object({
  seq: z.number().int().nonnegative(),
  ptsMs: z.number(),
  capturedAt: z.number(),
  labels: z.array(LabelSchema),
  /** L2-normalised float32 little-endian, base64; when the job asked for embeddings. */
  embedding: z.string().optional(),
  /** capturedAt to result, ms. */
  latencyMs: z.number(),
});
export type ResultFrame = z.infer<typeof ResultFrameSchema>;

/** A live frame the ingest's change gate kept from inference (`--skip-unchanged`): it repeats the result of frame `ref` of its run. */
export const ReusedFrameRefSchema = z.object({
  seq: z.number().int().nonnegative(),
  ptsMs: z.number(),
  capturedAt: z.number(),
  ref: z.number().int().nonnegative(),
});

/**
 * One entry of a results stream (field `e`, JSON). `frames`: a job's results;
 * `failed`: a job that failed for good (its frames named); `status`: a
 * stream's state as its ingest sees it; `reused`: frames not inferred
 * (`--skip-unchanged`), written by the ingest, that the gateway publishes
 * with the labels of their reference frame. Consumers are idempotent on
 * (stream, run, seq): the same frame may arrive more than once.
 */
export const ResultEntrySchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('frames'),
    stream: z.string(),
    run: z.string(),
    model: z.string(),
    untrained: z.boolean().optional(),
    frames: z.array(ResultFrameSchema),
  }),
  z.object({
    kind: z.literal('failed'),
    stream: z.string(),
    run: z.string(),
    seqs: z.array(z.number().int().nonnegative()),
    code: z.string(),
    reason: z.string(),
  }),
  z.object({
    kind: z.literal('reused'),
    stream: z.string(),
    run: z.string(),
    model: z.string(),
    frames: z.array(ReusedFrameRefSchema).min(1),
  }),
  z.object({
    kind: z.literal('status'),
    stream: z.string(),
    state: z.enum(['starting', 'live', 'reconnecting', 'ended', 'failed']),
    detail: z.string().optional(),
    model: z.string().optional(),
    fps: z.number().optional(),
  }),
]);
export type ResultEntry = z.infer<typeof ResultEntrySchema>;

/** Float32 embedding to base64 (little-endian, as the platforms that run ONNX Runtime are). */
export function encodeEmbedding(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

export function decodeEmbedding(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  const out = new Float32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes.subarray(0, out.length * 4));
  return out;
}
