import { z } from 'zod';

/** One label of a frame: class index, its name, softmax probability. */
export const LabelSchema = z.object({
  index: z.number().int().nonnegative(),
  label: z.string(),
  score: z.number().min(0).max(1),
});

/** One line of `streamsight analyze` output (README.md "Analyze a video"). */
export const FrameLineSchema = z.object({
  stream: z.string(),
  run: z.string(),
  seq: z.number().int().nonnegative(),
  ptsMs: z.number(),
  labels: z.array(LabelSchema),
  model: z.string(),
  /** Present and true when the model is untrained (`models synth`): labels mean nothing. */
  untrained: z.literal(true).optional(),
  /** With --embeddings: L2-normalised pooled features. */
  embedding: z.array(z.number()).optional(),
  /** With --skip-unchanged: present and true when the frame was not inferred; labels (and embedding) are the last inferred frame's. */
  reused: z.literal(true).optional(),
});

export type Label = z.infer<typeof LabelSchema>;
export type FrameLine = z.infer<typeof FrameLineSchema>;

/**
 * With `analyze --segments`: one line per closed label segment, after the
 * frame lines of its input. [startMs, endMs) on the source's ptsMs axis; a
 * label still present at the end of the input ends at its last frame.
 */
export const SegmentLineSchema = z.object({
  type: z.literal('segment'),
  stream: z.string(),
  label: z.string(),
  startMs: z.number(),
  endMs: z.number(),
  /** The highest score of the label over the segment's frames. */
  peakScore: z.number().min(0).max(1),
});
export type SegmentLine = z.infer<typeof SegmentLineSchema>;

/** The run summary `analyze` writes on stderr (one JSON line with --progress json). */
export const SummarySchema = z.object({
  type: z.literal('summary'),
  inputs: z.number().int(),
  failedInputs: z.array(z.object({ input: z.string(), code: z.string(), message: z.string(), framesWritten: z.number().int(), exitCode: z.number().int() })),
  /** Inputs ffmpeg decoded to the end while reporting damaged data (concealed or skipped). */
  decodeWarnings: z.array(z.object({ input: z.string(), errorLines: z.number().int(), firstError: z.string() })),
  frames: z.number().int(),
  seconds: z.number(),
  framesPerSecond: z.number(),
  model: z.string(),
  untrained: z.boolean(),
  device: z.string(),
  batch: z.number().int(),
  interrupted: z.boolean(),
  /** Segment lines written; present only with --segments. */
  segments: z.number().int().optional(),
  /** With --redis: frames that got no result even after being sent again, each named; absent when none. */
  lostFrames: z.array(z.object({ input: z.string(), seq: z.number().int(), ptsMs: z.number(), reason: z.string() })).optional(),
  /** With --skip-unchanged: frames written with the last inferred frame's labels (`"reused": true`), not inferred; included in `frames`. */
  reusedFrames: z.number().int().optional(),
});
export type Summary = z.infer<typeof SummarySchema>;
