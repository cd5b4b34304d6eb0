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
