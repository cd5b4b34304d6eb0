/**
 * `streamsight index`: each file hashed, checked against the index, decoded,
 * labelled and embedded in the inference thread, and stored batch by batch.
 *
 * Incremental: a file whose stored row has the same content hash, model and
 * sampling is skipped when done (or failed, unless retryFailed); a change of
 * any of the three re-indexes it from scratch.
 * Resumable: frames are committed in seq order, each batch in one
 * transaction with the video's committed count. A rerun after a kill decodes
 * the file again, skips inference for the frames already committed (seq below
 * the count; decoding is deterministic for a file and a sampling), replays
 * their stored labels into the event detector, and goes on. So the index
 * ends with every frame exactly once, as if never interrupted.
 */
import { frameGeometry, preprocessValues } from '../contracts/preprocess.ts';
import { stat } from 'node:fs/promises';
import type { Frame, FrameGeometry, Sampling } from '../contracts/frame.ts';
import type { Label } from '../contracts/analyze-output.ts';
import type { FrameResult, LabelSegment } from '../contracts/results.ts';
import { LabelEventDetector, type HysteresisOptions } from '../events/label-event-detector.ts';
import { SegmentBuilder } from '../events/segment-builder.ts';
import { decodeFrames } from '../ingest/file-decoder.ts';
import { expectedSampledFrames, probeInput, type ProbeResult } from '../ingest/probe.ts';
import { sourceLimitOptions } from '../ingest/source-kind.ts';
import { requireEmbedding, type LoadedModel } from '../inference/model-loader.ts';
import type { BatchInferer, InferredBatch } from '../inference/batch-inferer.ts';
import { toFrameLine } from '../pipeline/frame-line.ts';
import { OrderedBatches } from '../pipeline/ordered-batches.ts';
import { FramesLostError, isStreamSightError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { IndexProgress } from './index-progress.ts';
import type { VideoRow } from './index-schema.ts';
import type { FrameRecord, IndexStore, VideoInfo, VideoKey } from './index-store.ts';
import { makeThumbnail } from './thumbnail.ts';
import { hashFile } from './video-files.ts';

export interface IndexRunOptions {
  files: readonly string[];
  store: IndexStore;
  model: LoadedModel;
  /** sha256 of the model's bytes: a changed model file re-indexes. */
  modelHash: string;
  /**
   * The in-process InferenceEngine or, with `--redis`, the workers behind
   * RemoteInference (started with embeddings); or its start in progress.
   */
  engine: BatchInferer | Promise<BatchInferer>;
  sampling: Sampling;
  /** Largest video decoded, pixels as stored (config `decode.maxPixels`): a larger file fails with TooManyPixelsError. Default: no limit. */
  maxPixels?: number | undefined;
  batch: number;
  hysteresis: HysteresisOptions;
  /** Thumbnail size in pixels; 0 stores none. */
  thumbnailSize: number;
  /** Index again files that failed before with the same content, model and sampling. */
  retryFailed?: boolean;
  /** Train or refresh the vector index at the end when it is due (default true). */
  trainVectors?: boolean;
  minVectors?: number;
  progress?: IndexProgress;
  logger: Logger;
  signal?: AbortSignal;
  /** Batches sent for inference before waiting for the oldest (batchesInFlight()). */
  maxInFlight: number;
}

export type FileOutcome =
  | { path: string; action: 'indexed' | 'resumed'; frames: number; newFrames: number; segments: number }
  | { path: string; action: 'skipped'; reason: string }
  | { path: string; action: 'failed'; code: string; message: string; frames: number }
  | { path: string; action: 'interrupted'; frames: number };

export interface IndexSummary {
  type: 'index-summary';
  files: number;
  indexed: number;
  resumed: number;
  skipped: number;
  failed: { path: string; code: string; message: string }[];
  /** Frames inferred and stored in this run. */
  frames: number;
  seconds: number;
  framesPerSecond: number;
  model: string;
  untrained: boolean;
  device: string;
  interrupted: boolean;
  vectorIndex: 'exact' | 'ivf';
  outcomes: FileOutcome[];
}

/** The sampling as stored per video. */
export function samplingKey(s: Sampling): string {
  return s.mode === 'fps' ? `fps:${s.fps}` : s.mode;
}

/** An infer() rejection, told apart from a file's own failures (decoding, lost frames). */
class EngineFailure extends Error {
  constructor(readonly error: unknown) {
    super('inference failed', { cause: error });
  }
}

/** A run id that is the same on every run: frames of a video are one stream, resumed or not. */
const RUN = 'index';

export async function runIndex(opts: IndexRunOptions): Promise<IndexSummary> {
  const started = performance.now();
  let engineError: unknown;
  Promise.resolve(opts.engine).catch((err: unknown) => (engineError = err));
  const outcomes: FileOutcome[] = [];
  let frames = 0;
  for (const path of opts.files) {
    if (opts.signal?.aborted) break;
    let outcome: FileOutcome;
    try {
      outcome = await indexFile(path, opts);
    } catch (err) {
      if (engineError !== undefined) throw engineError;
      throw err;
    }
    outcomes.push(outcome);
    if (outcome.action === 'indexed' || outcome.action === 'resumed') frames += outcome.newFrames;
    if (outcome.action === 'interrupted') break;
  }
  const interrupted = opts.signal?.aborted ?? false;
  if (!interrupted && (opts.trainVectors ?? true)) opts.store.vectors.maybeTrain(opts.modelHash, opts.minVectors);
  opts.progress?.finish();
  const seconds = (performance.now() - started) / 1000;
  const engine = await opts.engine;
  return {
    type: 'index-summary',
    files: opts.files.length,
    indexed: outcomes.filter((o) => o.action === 'indexed').length,
    resumed: outcomes.filter((o) => o.action === 'resumed').length,
    skipped: outcomes.filter((o) => o.action === 'skipped').length,
    failed: outcomes.flatMap((o) => (o.action === 'failed' ? [{ path: o.path, code: o.code, message: o.message }] : [])),
    frames,
    seconds: Math.round(seconds * 1000) / 1000,
    framesPerSecond: seconds > 0 ? Math.round((frames / seconds) * 100) / 100 : 0,
    model: opts.model.name,
    untrained: opts.model.untrained,
    device: engine.provider,
    interrupted,
    vectorIndex: opts.store.vectors.info()?.modelHash === opts.modelHash ? 'ivf' : 'exact',
    outcomes,
  };
}

/**
 * What a file's stored row means now, pure: skip it (done, or failed before
 * and not retried, with the same content, model and sampling), resume it
 * from its committed count (same key, still `indexing`), or index it from 0.
 */
export function planFile(row: VideoRow | undefined, key: VideoKey, retryFailed: boolean): { skip: string } | { resumeFrom: number } {
  const same = row !== undefined && row.content_hash === key.contentHash && row.model_hash === key.modelHash && row.sampling === key.sampling;
  if (same && row.status === 'done') return { skip: 'unchanged' };
  if (same && row.status === 'failed' && !retryFailed) return { skip: `failed before: ${row.failure_reason ?? ''}` };
  return { resumeFrom: same && row.status === 'indexing' ? row.frames : 0 };
}

export function infoOf(probe: ProbeResult | undefined): VideoInfo | undefined {
  if (probe === undefined) return undefined;
  return { durationMs: probe.durationMs, fps: probe.fps, width: probe.width || null, height: probe.height || null, codec: probe.codec || null };
}

function failure(err: unknown): { code: string; message: string } {
  if (isStreamSightError(err) && err.userError) return { code: err.code, message: err.message };
  throw err;
}

async function indexFile(path: string, opts: IndexRunOptions): Promise<FileOutcome> {
  const { store, model } = opts;
  const log = opts.logger.child({ stream: path });
  const sizeBytes = await stat(path).then(
    (s) => s.size,
    () => 0,
  );
  opts.progress?.startFile(path, sizeBytes, undefined);
  const key: VideoKey = {
    path,
    contentHash: '',
    sizeBytes,
    model: model.name,
    modelHash: opts.modelHash,
    modelPath: model.path,
    preprocess: JSON.stringify(preprocessValues(model.preprocess)),
    untrained: model.untrained,
    embeddingDim: requireEmbedding(model, 'index').dim,
    sampling: samplingKey(opts.sampling),
  };
  try {
    let probe: ProbeResult | undefined;
    try {
      const h = await hashFile(path);
      key.contentHash = h.hash;
      key.sizeBytes = h.sizeBytes;
    } catch (err) {
      const reason = `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      store.recordFailure(key, undefined, 'E_INPUT_NOT_FOUND', reason);
      return { path, action: 'failed', code: 'E_INPUT_NOT_FOUND', message: `${path}: ${reason}`, frames: 0 };
    }
    const row = store.video(path);
    const plan = planFile(row, key, opts.retryFailed ?? false);
    if ('skip' in plan) return { path, action: 'skipped', reason: plan.skip };
    const { resumeFrom } = plan;

    try {
      probe = await probeInput(path, { maxPixels: opts.maxPixels });
    } catch (err) {
      const f = failure(err);
      store.recordFailure(key, undefined, f.code, f.message);
      return { path, action: 'failed', code: f.code, message: f.message, frames: 0 };
    }
    const video = resumeFrom > 0 ? row! : store.startVideo(key, infoOf(probe)!);
    const total = expectedSampledFrames(probe, opts.sampling) ?? undefined;
    opts.progress?.startFile(path, key.sizeBytes, total);
    log.debug({ resumeFrom, total }, resumeFrom > 0 ? 'resuming' : 'indexing');
    return await decodeAndStore(path, video.id, resumeFrom, probe.interlaced, opts, log);
  } finally {
    opts.progress?.endFile();
  }
}

async function decodeAndStore(
  path: string,
  videoId: number,
  resumeFrom: number,
  interlaced: boolean,
  opts: IndexRunOptions,
  log: Logger,
): Promise<FileOutcome> {
  const { store, model } = opts;
  const ctx = { model: model.name, labels: model.labels, untrained: model.untrained, embeddings: false };
  const geometry: FrameGeometry = frameGeometry(model.preprocess);
  const detector = new LabelEventDetector(opts.hysteresis);
  const builder = new SegmentBuilder();
  const segments: LabelSegment[] = [];
  const feed = (seq: number, ptsMs: number, labels: Label[]): void => {
    const result: FrameResult = { stream: path, run: RUN, seq, ptsMs, capturedAt: 0, labels, latencyMs: 0, model: model.name };
    segments.push(...builder.pushAll(detector.push(result)));
  };
  // The committed frames' labels, so segments come out as from one uninterrupted run.
  for (const f of store.frameLabels(videoId)) feed(f.seq, f.ptsMs, f.labels);

  let committed = resumeFrom;
  let newFrames = 0;
  const write = async (sent: readonly Frame[], result: InferredBatch): Promise<void> => {
    // A frame the workers could not infer (Redis lost it past every resend) ends the file here:
    // frames are committed in seq order, so the ones before it are stored and the file is failed.
    const lostAt = sent.findIndex((_, i) => result.frames[i] === undefined);
    const kept = lostAt < 0 ? sent : sent.slice(0, lostAt);
    const records: FrameRecord[] = await Promise.all(
      kept.map(async (frame, i) => {
        const inferred = result.frames[i]!;
        const line = toFrameLine(frame, inferred, ctx);
        if (!inferred.embedding) throw new RangeError('engine: started without embeddings');
        return {
          seq: frame.seq,
          ptsMs: frame.ptsMs,
          labels: line.labels,
          embedding: inferred.embedding,
          thumbnail: opts.thumbnailSize > 0 ? await makeThumbnail(frame, opts.thumbnailSize) : undefined,
        };
      }),
    );
    store.appendFrames(videoId, records);
    for (const r of records) feed(r.seq, r.ptsMs, r.labels);
    committed += records.length;
    newFrames += records.length;
    opts.progress?.update(committed, records.length);
    if (lostAt >= 0) {
      const frame = sent[lostAt]!;
      throw new FramesLostError(`${path}: frame seq ${frame.seq} (${frame.ptsMs} ms) could not be inferred: ${result.lost?.get(lostAt) ?? 'no result'}`);
    }
  };
  const batches = new OrderedBatches<Frame[], InferredBatch>({
    maxInFlight: opts.maxInFlight,
    write,
    infer: (sent) =>
      Promise.resolve(opts.engine)
        .then((e) => e.infer(sent))
        .catch((err: unknown) => {
          throw new EngineFailure(err);
        }),
  });
  // A batch that failed (inference, or a lost frame) ends the file there: the batches behind it
  // would leave a gap in seq, so they are dropped and nothing more is sent for this file.
  let halted = false;
  const settle = (step: Promise<void>): Promise<void> =>
    step.catch((err: unknown) => {
      halted = true;
      batches.discard();
      throw err;
    });

  let failure: { code: string; message: string } | undefined;
  try {
    let batch: Frame[] = [];
    const decode = decodeFrames(path, {
      streamId: path,
      runId: RUN,
      sampling: opts.sampling,
      geometry,
      deinterlace: interlaced,
      inputOptions: sourceLimitOptions('file', opts.maxPixels),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    try {
      for await (const frame of decode) {
        if (frame.seq < resumeFrom) continue;
        batch.push(frame);
        if (batch.length >= opts.batch) {
          const full = batch;
          batch = [];
          await settle(batches.submit(full));
        }
      }
    } finally {
      // Frames decoded before an error are still stored; not after an interruption (the rerun resumes).
      if (batch.length > 0 && !opts.signal?.aborted && !halted) await settle(batches.submit(batch));
      if (!halted) await settle(batches.drain(opts.signal));
    }
  } catch (err) {
    // Inference itself failing (engine gone, Redis unreachable past its timeout) is no fault of this
    // file: the run stops, the video stays `indexing`, and a rerun resumes it.
    // Stopped: a batch given up on (no worker answered before the grace ran out) is no failure either.
    if (opts.signal?.aborted && (err instanceof EngineFailure || !isStreamSightError(err))) return { path, action: 'interrupted', frames: committed };
    if (err instanceof EngineFailure) throw err.error;
    if (!isStreamSightError(err) || !err.userError) throw err;
    failure = { code: err.code, message: err.message };
    log.debug({ code: err.code, frames: committed }, err.message);
  }
  if (opts.signal?.aborted) return { path, action: 'interrupted', frames: committed };
  segments.push(...builder.pushAll(detector.flush(path)));
  segments.sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  store.finishVideo(videoId, segments, failure === undefined ? undefined : { code: failure.code, reason: failure.message });
  if (failure) return { path, action: 'failed', code: failure.code, message: failure.message, frames: committed };
  return { path, action: resumeFrom > 0 ? 'resumed' : 'indexed', frames: committed, newFrames, segments: segments.length };
}
