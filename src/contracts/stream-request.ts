import { z } from 'zod';
import { DecodeThreadsSchema, HwaccelSchema, SourceModelSchema, SourceSkipUnchangedSchema, SourceWatchdogSchema } from '../config/schema.ts';

/**
 * The body of POST /api/streams: the per-stream options of the config
 * file's `sources[]` (src/config/schema.ts), less `enabled`. Unknown keys
 * are refused, at every level.
 */
export const AddStreamSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'id: 1-64 letters, digits, _ . - (starting with a letter or digit)'),
    url: z.string().min(1).max(4096),
    fps: z.number().positive().max(60).optional(),
    live: z.boolean().optional(),
    loop: z.boolean().optional(),
    /** RTSP lower transport; default tcp. */
    rtspTransport: z.enum(['tcp', 'udp']).optional(),
    /** Watchdog overrides (stallTimeoutMs, backoffMaxMs, ...), as in the config's `watchdog`. */
    watchdog: SourceWatchdogSchema.optional(),
    /** This stream's model (name) and how its results are published (topK, minScore). */
    model: SourceModelSchema.optional(),
    /** Overrides of the server's live.skipUnchanged (enabled, threshold, maxSkipMs). */
    skipUnchanged: SourceSkipUnchangedSchema.optional(),
    /** Decoder threads of this stream's ffmpeg. */
    decodeThreads: DecodeThreadsSchema.optional(),
    /** Hardware decoding: none | auto | vaapi | cuda. */
    hwaccel: HwaccelSchema.optional(),
  })
  .strict();
export type AddStreamRequest = z.infer<typeof AddStreamSchema>;
