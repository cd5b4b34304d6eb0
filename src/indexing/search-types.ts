/**
 * What a search returns, for `streamsight search --json` and GET /api/search
 * alike (one schema, so the two cannot drift).
 */
import { z } from 'zod';

export const SegmentHitSchema = z.object({
  kind: z.literal('segment'),
  video: z.string(),
  label: z.string(),
  startMs: z.number(),
  endMs: z.number(),
  /** The label's highest score over the segment. */
  score: z.number(),
  /** A frame at the segment's start (its thumbnail); null when none is stored. */
  frameId: z.number().int().nullable(),
});

export const FrameHitSchema = z.object({
  kind: z.literal('frame'),
  video: z.string(),
  frameId: z.number().int(),
  seq: z.number().int(),
  ptsMs: z.number(),
  /** Cosine similarity to the query, -1..1 (1: same direction). */
  score: z.number(),
  topLabel: z.string(),
});

export const SearchResponseSchema = z.object({
  query: z.object({
    label: z.string().optional(),
    image: z.string().optional(),
    frame: z.string().optional(),
    video: z.string().optional(),
    limit: z.number().int(),
    minScore: z.number().optional(),
  }),
  /** How vectors were searched: exact scan or the IVF; absent for label searches. */
  vectorSearch: z.enum(['exact', 'ivf']).optional(),
  tookMs: z.number(),
  /** Search by picture: the picture was damaged (ffmpeg reported errors decoding it); the search used what decoded. */
  warnings: z.array(z.string()).optional(),
  hits: z.array(z.union([SegmentHitSchema, FrameHitSchema])),
});

export type SegmentHit = z.infer<typeof SegmentHitSchema>;
export type FrameHit = z.infer<typeof FrameHitSchema>;
export type SearchResponse = z.infer<typeof SearchResponseSchema>;
