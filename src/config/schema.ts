import { z } from 'zod';

/** The whole configuration; every key validated once at start. */
export const ConfigSchema = z
  .object({
    model: z
      .object({
        name: z.string().min(1).default('resnet50'),
        labels: z.string().min(1).optional(),
        device: z.enum(['auto', 'cpu', 'cuda']).default('auto'),
        batch: z.number().int().min(1).max(1024).default(8),
        /** ONNX Runtime intra-op threads; 0 lets ONNX Runtime pick (one per core). */
        threads: z.number().int().min(0).max(256).default(0),
        topK: z.number().int().min(1).max(1000).default(5),
      })
      .strict()
      .default({ name: 'resnet50', device: 'auto', batch: 8, threads: 0, topK: 5 }),
    models: z
      .object({
        /** Download and lookup folder of registry models; default: the repository's models/. */
        cacheDir: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    sampling: z
      .object({
        /** Frames per second taken from files. */
        fps: z.number().positive().max(1000).default(1),
      })
      .strict()
      .default({ fps: 1 }),
    server: z
      .object({
        /** HTTP + WebSocket port; 0 picks a free one. */
        port: z.number().int().min(0).max(65535).default(8080),
        host: z.string().min(1).default('127.0.0.1'),
        /** When set, WebSocket clients and POST/DELETE /api/streams must present it. */
        token: z.string().min(8).optional(),
        /** When set, WebSocket clients from other Origins are refused. */
        allowedOrigins: z.array(z.string().min(1)).optional(),
        /** Client messages larger than this close the connection (1009), bytes. */
        maxMessageBytes: z.number().int().min(256).max(16 * 1024 * 1024).default(64 * 1024),
        /** Frame messages queued per slow client before the oldest are dropped. */
        clientQueueMessages: z.number().int().min(1).max(100_000).default(256),
        heartbeatIntervalMs: z.number().int().min(100).max(600_000).default(30_000),
        /** Results kept per stream for `replay`. */
        replayLimit: z.number().int().min(0).max(10_000).default(100),
      })
      .strict()
      .default({ port: 8080, host: '127.0.0.1', maxMessageBytes: 65536, clientQueueMessages: 256, heartbeatIntervalMs: 30000, replayLimit: 100 }),
    sources: z
      .array(
        z
          .object({
            id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, '1-64 letters, digits, _ . - (starting with a letter or digit)'),
            url: z.string().min(1),
            /** Frames per second sampled; default: live.fps (5). */
            fps: z.number().positive().max(60).optional(),
            enabled: z.boolean().default(true),
            /** Play a file at its real frame rate (as a camera would). */
            live: z.boolean().optional(),
            /** Restart a file at its end (a new run). */
            loop: z.boolean().optional(),
          })
          .strict(),
      )
      .default([]),
    live: z
      .object({
        /** Frames per second taken from live sources. */
        fps: z.number().positive().max(60).default(5),
        /** Frames waiting for inference per stream before the oldest is dropped. */
        bufferFrames: z.number().int().min(1).max(1000).default(4),
        /** A batch closes when full or when its oldest frame waited this long, ms. */
        batchWaitMs: z.number().int().min(0).max(10_000).default(50),
      })
      .strict()
      .default({ fps: 5, bufferFrames: 4, batchWaitMs: 50 }),
    /** What POST /api/streams may open; absent = nothing. */
    allowlist: z
      .object({
        schemes: z.array(z.string().min(1)).default([]),
        hosts: z.array(z.string().min(1)).default([]),
        folders: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .optional(),
    events: z
      .object({
        enterScore: z.number().gt(0).max(1).default(0.5),
        exitScore: z.number().gt(0).max(1).default(0.3),
        enterFrames: z.number().int().min(1).max(10_000).default(3),
        exitFrames: z.number().int().min(1).max(10_000).default(3),
        /** Per-label overrides, keyed by label name or synonym. */
        labels: z
          .record(z.string(), z.object({
            enterScore: z.number().gt(0).max(1).optional(),
            exitScore: z.number().gt(0).max(1).optional(),
            enterFrames: z.number().int().min(1).optional(),
            exitFrames: z.number().int().min(1).optional(),
          }).strict())
          .optional(),
      })
      .strict()
      .default({ enterScore: 0.5, exitScore: 0.3, enterFrames: 3, exitFrames: 3 }),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
/** Partial input: what a file, the environment or the flags may set. */
export type ConfigInput = z.input<typeof ConfigSchema>;
