import { z } from 'zod';
import { PreprocessOverridesSchema } from '../contracts/preprocess.ts';
import { parseHostEntry } from '../ingest/host-guard.ts';

/** Watchdog tuning; see src/ingest/source-watchdog.ts. Per source, every key is optional and overrides these. */
const watchdogShape = {
  /** A live run with no frame for this long is restarted, ms. Must exceed the sampling period (1000 / fps). */
  stallTimeoutMs: z.number().int().min(100).max(3_600_000),
  /** A new run gets this long to deliver its first frame (RTSP probing takes seconds), ms. */
  startTimeoutMs: z.number().int().min(100).max(3_600_000),
  /** ffmpeg gets this long to quit after SIGTERM before SIGKILL, ms. */
  stopGraceMs: z.number().int().min(0).max(60_000),
  /** First restart delay, ms; doubles per failure in a row. At least 100: a source cannot make ffmpeg restart in a tight loop. */
  backoffInitialMs: z.number().int().min(100).max(3_600_000),
  /** Largest restart delay, ms. */
  backoffMaxMs: z.number().int().min(100).max(3_600_000),
  /** Fraction of each delay that is random (0..1), so cameras do not retry in lockstep. */
  backoffJitter: z.number().min(0).max(1),
  /** A run delivering frames this long resets the backoff, ms. */
  healthyAfterMs: z.number().int().min(0).max(86_400_000),
  /** Failures in a row before the stream is `failed`; 0 = never give up. */
  maxRestarts: z.number().int().min(0).max(1_000_000),
  /** ffmpeg log lines kept for the error report. */
  logLines: z.number().int().min(0).max(1000),
};
const WatchdogSchema = z
  .object({
    stallTimeoutMs: watchdogShape.stallTimeoutMs.default(10_000),
    startTimeoutMs: watchdogShape.startTimeoutMs.default(20_000),
    stopGraceMs: watchdogShape.stopGraceMs.default(2000),
    backoffInitialMs: watchdogShape.backoffInitialMs.default(1000),
    backoffMaxMs: watchdogShape.backoffMaxMs.default(30_000),
    backoffJitter: watchdogShape.backoffJitter.default(0.5),
    healthyAfterMs: watchdogShape.healthyAfterMs.default(30_000),
    maxRestarts: watchdogShape.maxRestarts.default(0),
    logLines: watchdogShape.logLines.default(20),
    /**
     * ffmpeg starts of one stream in any 60 s, whatever its tuning (a source
     * cannot override it): past it the next start waits. Bounds what a
     * source that fails at once, or a looping one-frame file, costs.
     */
    maxStartsPerMinute: z.number().int().min(1).max(600).default(20),
  })
  .strict()
  .refine((w) => w.backoffMaxMs >= w.backoffInitialMs, { message: 'backoffMaxMs must be >= backoffInitialMs', path: ['backoffMaxMs'] });
export type WatchdogConfig = z.infer<typeof WatchdogSchema>;
/** Per-source overrides: any subset of the watchdog keys (config `sources[].watchdog` and POST /api/streams). */
export const SourceWatchdogSchema = z.object(watchdogShape).partial().strict();
export type SourceWatchdogConfig = z.infer<typeof SourceWatchdogSchema>;
/**
 * Per-source model options (config `sources[].model` and POST /api/streams):
 * which model this stream runs on, and how its results are published.
 */
export const SourceModelSchema = z
  .object({
    /**
     * Registry name or .onnx file; default: `model.name`. Another model gets
     * its own engine (same device and threads), started with its first
     * stream. Not with `serve --redis` (the workers run one model).
     */
    name: z.string().min(1).max(4096),
    /** Labels published per frame at most (the engine computes max(model.topK, 5)). */
    topK: z.number().int().min(1).max(1000),
    /** Labels scoring below this are not published for this stream (nor seen by its label events), 0..1. */
    minScore: z.number().min(0).max(1),
    /** This stream's preprocessing, over `model.preprocess` (docs/models.md); the model gets an engine of its own. */
    preprocess: PreprocessOverridesSchema,
  })
  .partial()
  .strict();
export type SourceModelConfig = z.infer<typeof SourceModelSchema>;

/** `--skip-unchanged`: frames that did not change since the last inferred one of their stream repeat its result (src/pipeline/change-gate.ts). */
const skipUnchangedShape = {
  enabled: z.boolean(),
  /** Fraction of the picture's 32x32 blocks whose mean brightness must move (by more than noise) for a frame to be inferred, 0..1 (exclusive of 0). */
  threshold: z.number().gt(0).max(1),
  /** A frame is inferred anyway after this long without inference, ms (0: every frame). */
  maxSkipMs: z.number().int().min(0).max(3_600_000),
};
/** Per-source overrides of `live.skipUnchanged` (config `sources[].skipUnchanged`, POST /api/streams). */
export const SourceSkipUnchangedSchema = z.object(skipUnchangedShape).partial().strict();
export type SourceSkipUnchangedConfig = z.infer<typeof SourceSkipUnchangedSchema>;
/** Hardware decoding of a live source's ffmpeg (`-hwaccel`): none (software), auto (ffmpeg picks), vaapi, cuda; a hwaccel that cannot start falls back to software. */
export const HwaccelSchema = z.enum(['none', 'auto', 'vaapi', 'cuda']);
export type Hwaccel = z.infer<typeof HwaccelSchema>;
/** How much nicer (0..19) than this process a live source's ffmpeg runs: higher yields the CPU to inference first. */
export const DecodeNiceSchema = z.number().int().min(0).max(19);

/** Decoder threads of one live source's ffmpeg (`-threads` before `-i`); 0 lets ffmpeg pick (one per core, and more). */
export const DecodeThreadsSchema = z.number().int().min(0).max(64);

/**
 * The whole configuration; every key validated once at start. Each key
 * states its default once, here: a section left out is parsed from `{}`
 * (`prefault`), so its keys' own defaults fill it (zod 4's `.default(v)`
 * would return `v` as is, a second copy of every key's default).
 */
export const ConfigSchema = z
  .object({
    model: z
      .object({
        name: z.string().min(1).default('resnet50'),
        labels: z.string().min(1).optional(),
        device: z.enum(['auto', 'cpu', 'cuda']).default('auto'),
        batch: z.number().int().min(1).max(1024).default(8),
        /** ONNX Runtime intra-op threads; 0 = one per physical core this process may use (within a cgroup v2 CPU quota). */
        threads: z.number().int().min(0).max(256).default(0),
        topK: z.number().int().min(1).max(1000).default(5),
        /**
         * Preprocessing over what the model itself says (registry, metadata): any of resize
         * ({shorter} or {width, height}), crop, interpolation, mean, std, scale, channelOrder, layout.
         */
        preprocess: PreprocessOverridesSchema.optional(),
      })
      .strict()
      .prefault({}),
    models: z
      .object({
        /** Download and lookup folder of registry models; the loader fills it in: the repository's models/ in a checkout, $XDG_CACHE_HOME/streamsight/models (~/.cache/...) when installed. */
        cacheDir: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    sampling: z
      .object({
        /** Frames per second taken from files. */
        fps: z.number().positive().max(1000).default(1),
      })
      .strict()
      .prefault({}),
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
        maxMessageBytes: z
          .number()
          .int()
          .min(256)
          .max(16 * 1024 * 1024)
          .default(64 * 1024),
        /** Frame messages queued per slow client before the oldest are dropped. */
        clientQueueMessages: z.number().int().min(1).max(100_000).default(256),
        heartbeatIntervalMs: z.number().int().min(100).max(600_000).default(30_000),
        /** Results kept per stream for `replay`. */
        replayLimit: z.number().int().min(0).max(10_000).default(100),
        /** WebSocket clients connected at once; the next upgrade is answered 503. */
        maxClients: z.number().int().min(1).max(100_000).default(1000),
        /** TCP connections held at once (HTTP and WebSocket); more are closed as they arrive. Keep it above maxClients. */
        maxConnections: z.number().int().min(1).max(200_000).default(1100),
        /** A connection must send a request's headers within this, ms (Node's headersTimeout; idle sockets that never send are closed). */
        headersTimeoutMs: z.number().int().min(1000).max(600_000).default(10_000),
        /** A request (headers and body) must arrive within this, ms (Node's requestTimeout). */
        requestTimeoutMs: z.number().int().min(1000).max(3_600_000).default(60_000),
        /** An idle keep-alive connection is closed after this, ms. */
        keepAliveTimeoutMs: z.number().int().min(100).max(600_000).default(5_000),
        /** Requests one keep-alive connection may carry before it is closed; 0 = no limit. */
        maxRequestsPerSocket: z.number().int().min(0).max(1_000_000).default(1000),
      })
      .strict()
      // Node refuses a headers timeout longer than the request timeout it is part of.
      .refine((s) => s.headersTimeoutMs <= s.requestTimeoutMs, { message: 'headersTimeoutMs must be <= requestTimeoutMs', path: ['headersTimeoutMs'] })
      .prefault({}),
    /** Limits on what ffmpeg decodes, whatever the source (videos, pictures posted or searched). */
    decode: z
      .object({
        /** Largest picture or video frame decoded, pixels (width x height, as stored); larger inputs are refused before decoding. */
        maxPixels: z.number().int().min(64).max(1_000_000_000).default(50_000_000),
      })
      .strict()
      .prefault({}),
    search: z
      .object({
        /** Largest picture POST /api/search accepts, bytes (413 above). */
        maxImageBytes: z
          .number()
          .int()
          .min(1024)
          .max(256 * 1024 * 1024)
          .default(16 * 1024 * 1024),
        /** Picture searches accepted at once (running and waiting, counted from their first byte); the next gets 503 busy. */
        maxPendingImages: z.number().int().min(1).max(64).default(4),
      })
      .strict()
      .prefault({}),
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
            /** RTSP lower transport; default tcp. */
            rtspTransport: z.enum(['tcp', 'udp']).optional(),
            /** Watchdog overrides for this source (e.g. a slow camera's stallTimeoutMs). */
            watchdog: SourceWatchdogSchema.optional(),
            /** This source's model (name) and how its results are published (topK, minScore). */
            model: SourceModelSchema.optional(),
            /** Overrides of live.skipUnchanged for this source. */
            skipUnchanged: SourceSkipUnchangedSchema.optional(),
            /** Decoder threads of this source's ffmpeg; default live.decodeThreads. */
            decodeThreads: DecodeThreadsSchema.optional(),
            /** Hardware decoding of this source; default live.hwaccel. */
            hwaccel: HwaccelSchema.optional(),
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
        /** Frames that did not change since their stream's last inferred frame repeat its labels (`reused`) instead of being inferred. */
        skipUnchanged: z
          .object({
            enabled: skipUnchangedShape.enabled.default(false),
            threshold: skipUnchangedShape.threshold.default(0.01),
            maxSkipMs: skipUnchangedShape.maxSkipMs.default(5000),
          })
          .strict()
          .prefault({}),
        /** Decoder threads per live source's ffmpeg: one keeps a many-camera machine from running cores x cameras threads. */
        decodeThreads: DecodeThreadsSchema.default(1),
        /** Hardware decoding of live sources (per source: sources[].hwaccel). */
        hwaccel: HwaccelSchema.default('none'),
        /**
         * How much nicer than this process live sources' ffmpeg runs (0 = the same): decoders yield the
         * cores to inference, so a frame that needs inferring is not kept waiting behind a dozen
         * decoders; 10 still leaves each decoder its share when inference is busy, 19 very little
         * (README "Many cameras").
         */
        decodeNice: DecodeNiceSchema.default(10),
        /**
         * Live sources: resize and convert to RGB in one swscale pass (about a third of the
         * decoding CPU of a 1080p camera; frames 0.3 to 2 levels of 255 from the default's on average).
         * Files, analyze and index always use the exact conversion.
         */
        fastScale: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /** The ffmpeg watchdog of every stream: stall detection, stop grace, restart backoff. */
    watchdog: WatchdogSchema.prefault({}),
    /** What POST /api/streams may open; absent = nothing. */
    allowlist: z
      .object({
        schemes: z.array(z.string().min(1)).default([]),
        /** Host names or IPs ('*.example.com' for subdomains); `host:port` or `[v6]:port` allows that port only, no port every port. */
        hosts: z
          .array(
            z
              .string()
              .min(1)
              .refine((h) => parseHostEntry(h) !== undefined, {
                message: 'a host name or IP, optionally with :port (1-65535; an IPv6 address with a port in brackets: [::1]:554)',
              }),
          )
          .default([]),
        folders: z.array(z.string().min(1)).default([]),
        /** V4L2 capture devices that may be opened, exact paths (e.g. /dev/video0). */
        devices: z.array(z.string().regex(/^\/dev\/video\d+$/, 'a /dev/videoN path')).default([]),
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
          .record(
            z.string(),
            z
              .object({
                enterScore: z.number().gt(0).max(1).optional(),
                exitScore: z.number().gt(0).max(1).optional(),
                enterFrames: z.number().int().min(1).optional(),
                exitFrames: z.number().int().min(1).optional(),
              })
              .strict(),
          )
          .optional(),
      })
      .strict()
      .prefault({}),
    /** Distributed mode (BullMQ over Redis); absent url = embedded. See docs/ARCHITECTURE.md "Frames never travel inside job data". */
    redis: z
      .object({
        /** The queue's Redis (must run with maxmemory-policy noeviction), e.g. redis://127.0.0.1:6379. */
        url: z
          .string()
          .regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')
          .optional(),
        /** Key prefix; queue names are hash-tagged `{prefix.name}` so each queue stays on one Cluster slot. */
        prefix: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{1,32}$/, '1-32 letters, digits, _ . -')
          .default('streamsight'),
        /** Where frame pixels go; default: the queue's Redis. May be a separate, evicting Redis. */
        frameStoreUrl: z
          .string()
          .regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')
          .optional(),
        /** Frame pixels expire after this, ms (a frame nobody fetched is gone by then). */
        frameTtlMs: z.number().int().min(1000).max(86_400_000).default(600_000),
        /** Results stream length kept (XADD MAXLEN ~), entries. */
        resultsMaxLen: z.number().int().min(100).max(10_000_000).default(10_000),
        /** Producers pause (files) while the queue holds more waiting jobs than this. */
        queueHighWaterJobs: z.number().int().min(1).max(1_000_000).default(512),
        /** Files (analyze, index, ingest, serve --redis): frames sent and not yet answered before decoding pauses. */
        inFlightFrames: z.number().int().min(1).max(100_000).default(256),
        /** Live streams: frames of one stream waiting in the queue before the oldest is dropped. */
        liveHighWaterFrames: z.number().int().min(1).max(10_000).default(8),
        /** Files (analyze, index, ingest, serve --redis): a batch with no result this long is looked up, and sent again if its job is gone, ms. */
        resultTimeoutMs: z.number().int().min(100).max(3_600_000).default(30_000),
        /** Files (analyze, index, ingest, serve --redis): times a batch is sent again after a failure before its frames count as lost. */
        maxResends: z.number().int().min(0).max(100).default(2),
        /** Attempts of a job whose error may go away (an inference error); bad data is never retried. */
        jobAttempts: z.number().int().min(1).max(100).default(3),
        /** Failed jobs kept for inspection (the oldest are removed past it). */
        failedJobsKept: z.number().int().min(0).max(1_000_000).default(1000),
        /** Worker lock on an active job, ms; a dead worker's jobs come back after it expires. */
        lockDurationMs: z.number().int().min(500).max(600_000).default(30_000),
        /** How often workers look for stalled jobs (a dead worker's), ms. */
        stalledIntervalMs: z.number().int().min(500).max(600_000).default(30_000),
        /**
         * Jobs one worker holds at once (its batches are made across them). Held
         * jobs are not available to other workers: about two batches' worth
         * balances load (4 jobs of 8 frames); raise it for one-frame live jobs.
         */
        workerConcurrency: z.number().int().min(1).max(1024).default(4),
        /** Worker: a batch closes when full or when its first frame waited this long, ms. */
        batchWaitMs: z.number().int().min(0).max(10_000).default(20),
        /** Producers give up after Redis has been unreachable this long, ms. */
        unavailableTimeoutMs: z.number().int().min(1000).max(3_600_000).default(120_000),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
/** Partial input: what a file, the environment or the flags may set. */
export type ConfigInput = z.input<typeof ConfigSchema>;

/**
 * The configuration with nothing set: every default, resolved by the schema
 * and frozen. For the few places outside the CLI that need one (the library,
 * tests); a command passes its loaded config instead.
 */
export const DEFAULTS: Readonly<Config> = deepFreeze(ConfigSchema.parse({}));

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
