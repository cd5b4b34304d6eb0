/**
 * `analyze()` of the package's API: `streamsight analyze` as an async
 * iterable, for a Node program that wants each frame's labels as they come
 * (as Ultralytics' `model(source, stream=True)` is used from Python):
 *
 *   for await (const frame of analyze('clip.mp4', { model: 'resnet50', fps: 2 })) { ... }
 *
 * Each value is the object a JSON Lines line of the command holds (stream,
 * run, seq, ptsMs, labels, embedding?, model), in seq order. The same stage
 * code runs (runAnalyze): decoding and inference overlap, a bounded number
 * of results wait for the loop (decoding pauses behind a slow consumer), and
 * leaving the loop (break, return, a throw) stops ffmpeg and the inference
 * thread before the loop statement completes.
 */
import { Writable } from 'node:stream';
import type { FrameLine, Summary } from '../contracts/analyze-output.ts';
import type { PreprocessOverrides } from '../contracts/preprocess.ts';
import type { Sampling } from '../contracts/frame.ts';
import { loadConfig } from '../config/loader.ts';
import { InferenceEngine } from '../inference/inference-engine.ts';
import { loadModel, modelLoadOptions, requireEmbedding } from '../inference/model-loader.ts';
import type { DeviceChoice } from '../inference/ort-session.ts';
import { runAnalyze } from '../pipeline/analyze-pipeline.ts';
import { batchesInFlight } from '../pipeline/ordered-batches.ts';
import { OutputSink } from '../pipeline/output-sink.ts';
import { FramesLostError } from '../shared/errors.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { createProgress } from '../shared/progress.ts';

export interface AnalyzeOptions {
  /** A registry name (`resnet50`, see `streamsight models list`) or an .onnx file. */
  model: string;
  /** Frames sampled per second of video; default the config's `sampling.fps` (1). */
  fps?: number;
  /** Every decoded frame instead of `fps` sampling. */
  everyFrame?: boolean;
  /** Key frames only (fast on long files). */
  keyframes?: boolean;
  /** Add each frame's L2-normalised embedding. Default false. */
  embeddings?: boolean;
  /** Labels per frame; default 5. */
  topK?: number;
  /**
   * Infer only frames that changed since the last inferred one (as `analyze
   * --skip-unchanged`; threshold and maxSkipMs: the config's
   * `live.skipUnchanged`): the others repeat its labels with `reused: true`.
   * Default false.
   */
  skipUnchanged?: boolean;
  /** Frames per inference call; default 8. */
  batch?: number;
  /** Default `auto`: CUDA when its provider is installed and works, else the CPU. */
  device?: DeviceChoice;
  /** ONNX Runtime intra-op threads; 0 (default) = one per physical core this process may use (within a cgroup v2 CPU quota). */
  threads?: number;
  /** A labels file (text, JSON array, or Hugging Face config.json) instead of the model's own. */
  labels?: string;
  /** Where registry models are looked up; default as the CLI (`models.cacheDir`). */
  cacheDir?: string;
  /**
   * Preprocessing over what the model says (docs/models.md): any of resize,
   * crop, interpolation, mean, std, scale, channelOrder, layout, preset; as
   * config `model.preprocess` or the CLI's `--resize`, `--preset`, ... flags.
   */
  preprocess?: PreprocessOverrides;
  /** Stops the run as leaving the loop does; the loop then ends without an error. */
  signal?: AbortSignal;
  /** Diagnostics (pino); default silent. */
  logger?: Logger;
}

/** Results waiting for the loop before decoding pauses. */
const READY_LIMIT = 64;

/**
 * The frames of `input` (a file, or an http(s)/rtsp URL), labelled. An input
 * that cannot be read or decoded throws its StreamSightError (`code`, e.g.
 * E_INPUT_NOT_FOUND, E_NOT_A_VIDEO) from the loop, after the frames decoded
 * before it; a model that cannot be loaded throws before the first frame.
 */
export async function* analyze(input: string, options: AnalyzeOptions): AsyncGenerator<FrameLine, void, undefined> {
  if (typeof input !== 'string' || input === '') throw new TypeError('input must be a non-empty string');
  if (options === null || typeof options !== 'object' || typeof options.model !== 'string')
    throw new TypeError('options.model must be a model name or .onnx file');
  const config = loadConfig({
    env: {},
    flags: {
      model: {
        name: options.model,
        ...(options.labels === undefined ? {} : { labels: options.labels }),
        ...(options.device === undefined ? {} : { device: options.device }),
        ...(options.batch === undefined ? {} : { batch: options.batch }),
        ...(options.threads === undefined ? {} : { threads: options.threads }),
        ...(options.topK === undefined ? {} : { topK: options.topK }),
        ...(options.preprocess === undefined ? {} : { preprocess: options.preprocess }),
      },
      ...(options.cacheDir === undefined ? {} : { models: { cacheDir: options.cacheDir } }),
      ...(options.fps === undefined ? {} : { sampling: { fps: options.fps } }),
    },
  });
  if (options.everyFrame && options.keyframes) throw new TypeError('options.everyFrame and options.keyframes exclude each other');
  const sampling: Sampling = options.everyFrame ? { mode: 'every' } : options.keyframes ? { mode: 'keyframes' } : { mode: 'fps', fps: config.sampling.fps };
  const logger = options.logger ?? createLogger({ level: 'silent' });
  const model = loadModel(config.model.name, modelLoadOptions(config));
  const batch = model.fixedBatch ?? config.model.batch;
  const embeddings = options.embeddings ?? false;
  if (embeddings) requireEmbedding(model, 'options.embeddings');

  const ready: FrameLine[] = [];
  /** Wakes the loop: a frame is ready or the run is over. */
  let wake: (() => void) | undefined;
  /** Releases the pipeline's write once the loop has taken frames. */
  let resume: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  /** Set once the loop is left: what the pipeline still writes (batches in flight) is dropped. */
  let discard = false;
  const lines = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      if (discard) return callback();
      ready.push(JSON.parse(chunk.toString()) as FrameLine);
      notify();
      if (ready.length < READY_LIMIT) callback();
      else resume = () => callback();
    },
  });

  const abort = new AbortController();
  const onOuterAbort = (): void => abort.abort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const engine = InferenceEngine.start(model, { device: config.model.device, threads: config.model.threads, topK: config.model.topK, embeddings });
  engine.catch(() => undefined);
  const failures: unknown[] = [];
  let done = false;
  const run: Promise<Summary> = runAnalyze({
    inputs: [input],
    model,
    engine,
    sink: OutputSink.toStream(lines, 'analyze()'),
    sampling,
    maxPixels: config.decode.maxPixels,
    batch,
    maxInFlight: batchesInFlight(batch),
    embeddings,
    ...(options.skipUnchanged ? { skipUnchanged: { threshold: config.live.skipUnchanged.threshold, maxSkipMs: config.live.skipUnchanged.maxSkipMs } } : {}),
    logger,
    signal: abort.signal,
    progress: () => createProgress({ mode: 'none', stream: process.stderr, label: input }),
    onInputFailed: (_input, err) => failures.push(err),
  }).finally(() => {
    done = true;
    notify();
  });
  run.catch(() => undefined);

  try {
    for (;;) {
      if (ready.length > 0) {
        const frame = ready.shift()!;
        if (ready.length < READY_LIMIT) {
          resume?.();
          resume = undefined;
        }
        yield frame;
        continue;
      }
      if (done) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
    const summary = await run;
    if (summary.interrupted) return;
    if (failures.length > 0) throw failures[0];
    if (summary.lostFrames) throw new FramesLostError(`${input}: ${summary.lostFrames.length} frame(s) could not be inferred`);
  } finally {
    // Reached by the end of the frames, an error, or the loop left early (the generator's return()).
    options.signal?.removeEventListener('abort', onOuterAbort);
    abort.abort();
    discard = true;
    ready.length = 0;
    resume?.();
    await run.catch(() => undefined);
    await engine.then(
      (e) => e.close(),
      () => undefined,
    );
  }
}
