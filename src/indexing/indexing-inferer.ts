/**
 * `analyze --index FILE`: the analyze pipeline unchanged, its inference
 * wrapped so that every inferred batch is also stored in the index, as
 * `streamsight index` stores it (same video rows, frames, labels,
 * embeddings, thumbnails and segments from the config's hysteresis).
 *
 * The same incremental and resumable rules as the indexer (planFile): a file
 * stored done with the same content, model and sampling is left as it is
 * (analyze still prints all its lines); one left `indexing` by a killed run
 * goes on from its committed count; anything else is stored from scratch
 * (a file that failed before is tried again: analyze infers every frame
 * anyway). Writes are serialised in the order analyze sends batches (seq
 * order per input, inputs one after another), one transaction per batch, and
 * a batch's result is handed back only once it is stored, so a failing write
 * stops the run instead of leaving a gap.
 */
import { preprocessValues } from '../contracts/preprocess.ts';
import { resolve } from 'node:path';
import type { Frame, Sampling } from '../contracts/frame.ts';
import type { Summary } from '../contracts/analyze-output.ts';
import type { Label } from '../contracts/analyze-output.ts';
import type { FrameResult, LabelSegment } from '../contracts/results.ts';
import { LabelEventDetector, type HysteresisOptions } from '../events/label-event-detector.ts';
import { SegmentBuilder } from '../events/segment-builder.ts';
import { probeInput } from '../ingest/probe.ts';
import { requireEmbedding, type LoadedModel } from '../inference/model-loader.ts';
import type { BatchInferer, InferredBatch } from '../inference/batch-inferer.ts';
import { toFrameLine } from '../pipeline/frame-line.ts';
import type { Logger } from '../shared/logger.ts';
import { infoOf, planFile, samplingKey } from './index-pipeline.ts';
import type { FrameRecord, IndexStore, VideoKey } from './index-store.ts';
import { makeThumbnail } from './thumbnail.ts';
import { hashFile } from './video-files.ts';

export interface IndexingInfererOptions {
  /** The engine or workers, started with embeddings. */
  inner: BatchInferer;
  store: IndexStore;
  model: LoadedModel;
  /** sha256 of the model's bytes. */
  modelHash: string;
  sampling: Sampling;
  hysteresis: HysteresisOptions;
  /** Thumbnail size in pixels; 0 stores none. */
  thumbnailSize: number;
  logger: Logger;
}

interface VideoState {
  /** Absolute path, the index's key. */
  path: string;
  /** Undefined when the stored video is unchanged (nothing to write). */
  videoId: number | undefined;
  committed: number;
  detector: LabelEventDetector;
  builder: SegmentBuilder;
  segments: LabelSegment[];
  /** Set when a frame was lost: nothing more is stored for the video, which ends failed. */
  lost?: string;
}

/** What finish() did per input, for the summary line. */
export interface IndexingReport {
  stored: number;
  resumed: number;
  unchanged: number;
  failed: number;
  frames: number;
}

const RUN = 'index';

export class IndexingInferer implements BatchInferer {
  private chain: Promise<void> = Promise.resolve();
  private readonly videos = new Map<string, VideoState>();
  private readonly opening = new Map<string, Promise<VideoState>>();
  private framesStored = 0;
  private resumedCount = 0;

  constructor(private readonly opts: IndexingInfererOptions) {}

  get provider(): string {
    return this.opts.inner.provider;
  }

  infer(frames: readonly Frame[]): Promise<InferredBatch> {
    const result = this.opts.inner.infer(frames);
    // A rejected batch is analyze's to report; its video then stops being stored (a gap in seq).
    const stored = this.chain
      .then(() => result)
      .then(
        (r) => this.write(frames, r),
        () => this.halt(frames, 'inference failed'),
      );
    this.chain = stored;
    return stored.then(() => result);
  }

  private state(stream: string): Promise<VideoState> {
    let s = this.opening.get(stream);
    if (s === undefined) {
      s = this.open(stream);
      this.opening.set(stream, s);
    }
    return s;
  }

  private key(path: string, contentHash: string, sizeBytes: number): VideoKey {
    const { model } = this.opts;
    return {
      path,
      contentHash,
      sizeBytes,
      model: model.name,
      modelHash: this.opts.modelHash,
      modelPath: model.path,
      preprocess: JSON.stringify(preprocessValues(model.preprocess)),
      untrained: model.untrained,
      embeddingDim: requireEmbedding(model, '--index').dim,
      sampling: samplingKey(this.opts.sampling),
    };
  }

  private async open(stream: string): Promise<VideoState> {
    const { store } = this.opts;
    const path = resolve(stream);
    const h = await hashFile(path);
    const key = this.key(path, h.hash, h.sizeBytes);
    const row = store.video(path);
    const plan = planFile(row, key, true);
    const state: VideoState = {
      path,
      videoId: undefined,
      committed: 0,
      detector: new LabelEventDetector(this.opts.hysteresis),
      builder: new SegmentBuilder(),
      segments: [],
    };
    if (!('skip' in plan)) {
      const video = plan.resumeFrom > 0 ? row! : store.startVideo(key, infoOf(await probeInput(path))!);
      state.videoId = video.id;
      state.committed = plan.resumeFrom;
      if (plan.resumeFrom > 0) this.resumedCount++;
      // The committed frames' labels, so segments come out as from one uninterrupted run.
      for (const f of store.frameLabels(video.id)) this.feed(state, f.seq, f.ptsMs, f.labels);
    }
    this.opts.logger.debug({ stream: path, plan }, 'analyze --index');
    this.videos.set(stream, state);
    return state;
  }

  private feed(state: VideoState, seq: number, ptsMs: number, labels: Label[]): void {
    const result: FrameResult = { stream: state.path, run: RUN, seq, ptsMs, capturedAt: 0, labels, latencyMs: 0, model: this.opts.model.name };
    state.segments.push(...state.builder.pushAll(state.detector.push(result)));
  }

  private async halt(frames: readonly Frame[], reason: string): Promise<void> {
    if (frames.length === 0) return;
    const state = await this.state(frames[0]!.streamId);
    state.lost ??= `frame seq ${frames[0]!.seq} (${frames[0]!.ptsMs} ms): ${reason}`;
  }

  private async write(frames: readonly Frame[], result: InferredBatch): Promise<void> {
    if (frames.length === 0) return;
    const state = await this.state(frames[0]!.streamId);
    if (state.videoId === undefined || state.lost !== undefined) return;
    const { model, thumbnailSize } = this.opts;
    const ctx = { model: model.name, labels: model.labels, untrained: model.untrained, embeddings: false };
    const records: FrameRecord[] = [];
    for (const [i, frame] of frames.entries()) {
      if (frame.seq < state.committed) continue; // stored by an earlier run
      const inferred = result.frames[i];
      if (inferred === undefined) {
        state.lost = `frame seq ${frame.seq} (${frame.ptsMs} ms) could not be inferred: ${result.lost?.get(i) ?? 'no result'}`;
        break;
      }
      if (!inferred.embedding) throw new RangeError('inner: started without embeddings');
      records.push({
        seq: frame.seq,
        ptsMs: frame.ptsMs,
        labels: toFrameLine(frame, inferred, ctx).labels,
        embedding: inferred.embedding,
        thumbnail: thumbnailSize > 0 ? await makeThumbnail(frame, thumbnailSize) : undefined,
      });
    }
    this.opts.store.appendFrames(state.videoId, records);
    for (const r of records) this.feed(state, r.seq, r.ptsMs, r.labels);
    state.committed += records.length;
    this.framesStored += records.length;
  }

  /**
   * After runAnalyze: each input's video ends done (with its segments) or
   * failed (analyze's reason, or a lost frame); an input that failed before
   * any frame is recorded failed, as the indexer records it; when the run
   * was interrupted, the input it stopped in stays `indexing` (a rerun
   * resumes it) and later ones are left alone. Then the vector index is
   * trained when due.
   */
  async finish(inputs: readonly string[], summary: Pick<Summary, 'failedInputs' | 'interrupted'>, minVectors?: number): Promise<IndexingReport> {
    await this.chain;
    const { store } = this.opts;
    const report: IndexingReport = { stored: 0, resumed: this.resumedCount, unchanged: 0, failed: 0, frames: this.framesStored };
    const failedBy = new Map(summary.failedInputs.map((f) => [f.input, f]));
    const lastOpened = [...this.videos.keys()].at(-1);
    for (const input of inputs) {
      const state = this.videos.get(input);
      const failed = failedBy.get(input);
      if (summary.interrupted && (state === undefined || input === lastOpened) && failed === undefined) break;
      if (state === undefined) {
        if (failed === undefined || failed.code === 'E_INPUT_NOT_FOUND') continue; // a path that is not there is not recorded (as with index)
        const path = resolve(input);
        const h = await hashFile(path);
        store.recordFailure(this.key(path, h.hash, h.sizeBytes), undefined, failed.code, failed.message);
        report.failed++;
        continue;
      }
      if (state.videoId === undefined) {
        report.unchanged++;
        continue;
      }
      state.segments.push(...state.builder.pushAll(state.detector.flush(state.path)));
      state.segments.sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
      const failure =
        failed !== undefined
          ? { code: failed.code, reason: failed.message }
          : state.lost !== undefined
            ? { code: 'E_FRAMES_LOST', reason: `${state.path}: ${state.lost}` }
            : undefined;
      store.finishVideo(state.videoId, state.segments, failure);
      if (failure) report.failed++;
      else report.stored++;
    }
    if (!summary.interrupted) store.vectors.maybeTrain(this.opts.modelHash, minVectors);
    return report;
  }
}
