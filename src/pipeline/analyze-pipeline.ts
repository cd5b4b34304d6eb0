import { frameGeometry } from '../contracts/preprocess.ts';
import { randomUUID } from 'node:crypto';
import type { Frame, Sampling } from '../contracts/frame.ts';
import type { FrameLine, SegmentLine, Summary } from '../contracts/analyze-output.ts';
import type { FrameResult, LabelSegment } from '../contracts/results.ts';
import { LabelEventDetector, type HysteresisOptions } from '../events/label-event-detector.ts';
import { SegmentBuilder } from '../events/segment-builder.ts';
import { decodeFrames, type DecodeStats } from '../ingest/file-decoder.ts';
import { expectedSampledFrames, probeInput } from '../ingest/probe.ts';
import { describeSource, sourceLimitOptions } from '../ingest/source-kind.ts';
import type { BatchInferer, FrameInference, InferredBatch } from '../inference/batch-inferer.ts';
import type { LoadedModel } from '../inference/model-loader.ts';
import { isStreamSightError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { ProgressReporter } from '../shared/progress.ts';
import { FrameGate } from './change-gate.ts';
import { toFrameLine } from './frame-line.ts';
import { OrderedBatches } from './ordered-batches.ts';
import type { OutputSink } from './output-sink.ts';

export interface AnalyzeOptions {
  inputs: readonly string[];
  model: LoadedModel;
  /**
   * The in-process InferenceEngine or, with `--redis`, the workers behind
   * RemoteInference; or its start in progress: decoding the first batch
   * overlaps the inference session's creation (about a second for resnet50).
   */
  engine: BatchInferer | Promise<BatchInferer>;
  sink: OutputSink;
  sampling: Sampling;
  /** Largest video decoded, pixels as stored (config `decode.maxPixels`): larger inputs fail with TooManyPixelsError. Default: no limit. */
  maxPixels?: number | undefined;
  batch: number;
  embeddings: boolean;
  /**
   * With `--segments`: the label hysteresis; each input's closed label
   * segments are written after its frame lines. Undefined: frame lines only.
   */
  segments?: HysteresisOptions | undefined;
  /**
   * `analyze --skip-unchanged`: a frame that did not change since the last
   * inferred one (change-gate.ts; times are the file's pts) is not inferred:
   * its line repeats that frame's labels (and embedding) with `"reused": true`.
   * Undefined: every sampled frame is inferred.
   */
  skipUnchanged?: { threshold: number; maxSkipMs: number } | undefined;
  /** Batches sent for inference before waiting for the oldest (batchesInFlight()). */
  maxInFlight: number;
  progress: (input: string, index: number) => ProgressReporter;
  /** An input that failed (a user error, also listed in the summary's failedInputs): the error itself, for a caller that rethrows it. */
  onInputFailed?: ((input: string, error: unknown) => void) | undefined;
  logger: Logger;
  signal?: AbortSignal;
}

/**
 * Offline analysis: each input decoded in order, frames batched, inferred in
 * the worker thread, written as JSON Lines in seq order. With
 * `skipUnchanged`, frames the gate keeps from inference ride in the batch
 * of the frames around them (they take no place in it) and are written in
 * their place with the labels of the last inferred frame. A failing input is
 * reported and the others still run; frames finished before a failure or an
 * interruption are always written.
 */
export async function runAnalyze(opts: AnalyzeOptions): Promise<Summary> {
  const started = performance.now();
  const ctx = { model: opts.model.name, labels: opts.model.labels, untrained: opts.model.untrained, embeddings: opts.embeddings };
  const geometry = frameGeometry(opts.model.preprocess);
  // An engine that cannot start (no CUDA with --device cuda, a model ONNX Runtime
  // refuses) fails the whole run, not one input.
  let engineError: unknown;
  Promise.resolve(opts.engine).catch((err: unknown) => (engineError = err));
  const failedInputs: Summary['failedInputs'] = [];
  const decodeWarnings: Summary['decodeWarnings'] = [];
  const lostFrames: NonNullable<Summary['lostFrames']> = [];
  let frames = 0;
  let reusedFrames = 0;
  let segmentLines = 0;

  for (const [index, input] of opts.inputs.entries()) {
    if (opts.signal?.aborted) break;
    const log = opts.logger.child({ stream: input });
    const progress = opts.progress(input, index);
    let written = 0;
    let total: number | undefined;
    let stats: DecodeStats | undefined;
    // One detector per input: each input is one stream, flushed at its end.
    const detector = opts.segments === undefined ? undefined : new LabelEventDetector(opts.segments);
    const segmentBuilder = new SegmentBuilder();
    const closed: LabelSegment[] = [];
    const gate = opts.skipUnchanged ? new FrameGate(opts.skipUnchanged) : undefined;
    /** What a reused frame repeats: the last inferred frame's answer. */
    let lastInferred: FrameInference | undefined;
    const write = async (sent: readonly Item[], result: InferredBatch): Promise<void> => {
      let i = 0;
      for (const { frame, reused } of sent) {
        const inferred = reused ? lastInferred : result.frames[i];
        if (!reused) {
          const lost = result.lost?.get(i);
          i++;
          lastInferred = inferred;
          if (inferred === undefined) {
            // Never skipped silently: counted and named in the summary.
            lostFrames.push({ input, seq: frame.seq, ptsMs: frame.ptsMs, reason: lost ?? 'no result' });
            continue;
          }
        } else if (inferred === undefined) {
          lostFrames.push({ input, seq: frame.seq, ptsMs: frame.ptsMs, reason: 'the frame it repeats got no result' });
          continue;
        }
        const line = toFrameLine(frame, inferred, ctx);
        if (reused) {
          line.reused = true;
          reusedFrames++;
        }
        await opts.sink.writeLine(JSON.stringify(line));
        written++;
        // The rounded scores of the line, so a segment's peak is a score the output shows.
        if (detector) closed.push(...segmentBuilder.pushAll(detector.push(toFrameResult(frame, line))));
      }
      progress.update({ done: written, unit: 'frames', ...(total === undefined ? {} : { total }) });
    };
    const batches = new OrderedBatches<Item[], InferredBatch>({
      maxInFlight: opts.maxInFlight,
      write,
      infer: (sent) => {
        const toInfer = sent.filter((it) => !it.reused).map((it) => it.frame);
        // A batch of reused frames only (the rest of a still file) needs no inference.
        return toInfer.length === 0 ? Promise.resolve({ frames: [] }) : Promise.resolve(opts.engine).then((e) => e.infer(toInfer));
      },
    });

    try {
      const probe = await probeInput(input, { maxPixels: opts.maxPixels });
      total = expectedSampledFrames(probe, opts.sampling) ?? undefined;
      progress.update({ done: 0, unit: 'frames', ...(total === undefined ? {} : { total }) });
      let batch: Item[] = [];
      let inBatch = 0;
      const runId = randomUUID();
      try {
        const decode = decodeFrames(input, {
          streamId: input,
          runId,
          sampling: opts.sampling,
          geometry,
          deinterlace: probe.interlaced,
          // The probe refused what these refuse; kept for a file changed since, or a size that changes mid-stream.
          inputOptions: sourceLimitOptions(describeSource(input).kind, opts.maxPixels),
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        stats = decode.stats;
        for await (const frame of decode) {
          const reused = gate?.check(frame, frame.ptsMs) !== undefined;
          batch.push({ frame, reused });
          if (!reused) inBatch++;
          // Reused frames take no place; a long still stretch is written at least every few batches' worth.
          if (inBatch >= opts.batch || batch.length >= opts.batch * 8) {
            const full = batch;
            batch = [];
            inBatch = 0;
            await batches.submit(full);
          }
        }
      } finally {
        // Whatever was decoded before an error or an interruption still gets written.
        if (batch.length > 0) await batches.submit(batch);
        await batches.drain();
        if (detector) {
          // Segments cover what was analysed, also when decoding stopped early.
          closed.push(...segmentBuilder.pushAll(detector.flush(input)));
          closed.sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
          for (const segment of closed) {
            const line: SegmentLine = { type: 'segment', ...segment };
            await opts.sink.writeLine(JSON.stringify(line));
            segmentLines++;
          }
        }
      }
    } catch (err) {
      if (engineError !== undefined) throw engineError;
      // The output is gone (reader closed, disk full): no other input can be written either.
      if (isStreamSightError(err) && err.code === 'E_OUTPUT') throw err;
      if (opts.signal?.aborted && !isStreamSightError(err)) break;
      if (!isStreamSightError(err) || !err.userError) throw err;
      failedInputs.push({ input, code: err.code, message: err.message, framesWritten: written, exitCode: err.exitCode });
      opts.onInputFailed?.(input, err);
      // The CLI prints the one-line error; the log keeps it for debugging only.
      log.debug({ code: err.code, framesWritten: written }, err.message);
    } finally {
      progress.finish();
      frames += written;
      if (stats && stats.errorLines > 0) {
        // ffmpeg concealed or skipped damaged data and went on: the output is complete
        // as far as the file allows, but say so rather than pass it off as clean.
        decodeWarnings.push({ input, errorLines: stats.errorLines, firstError: stats.firstErrors[0] ?? '' });
        log.debug({ errorLines: stats.errorLines, firstErrors: stats.firstErrors }, 'ffmpeg reported damaged data');
      }
    }
  }

  const seconds = (performance.now() - started) / 1000;
  return {
    type: 'summary',
    inputs: opts.inputs.length,
    failedInputs,
    decodeWarnings,
    frames,
    seconds: Math.round(seconds * 1000) / 1000,
    framesPerSecond: seconds > 0 ? Math.round((frames / seconds) * 100) / 100 : 0,
    model: opts.model.name,
    untrained: opts.model.untrained,
    device: (await opts.engine).provider,
    batch: opts.batch,
    interrupted: opts.signal?.aborted ?? false,
    ...(opts.segments === undefined ? {} : { segments: segmentLines }),
    ...(lostFrames.length > 0 ? { lostFrames } : {}),
    ...(opts.skipUnchanged ? { reusedFrames } : {}),
  };
}

/** A decoded frame and whether the gate kept it from inference. */
interface Item {
  frame: Frame;
  reused: boolean;
}

function toFrameResult(frame: Frame, line: FrameLine): FrameResult {
  return {
    stream: line.stream,
    run: line.run,
    seq: line.seq,
    ptsMs: line.ptsMs,
    capturedAt: frame.capturedAt,
    labels: line.labels,
    latencyMs: Date.now() - frame.capturedAt,
    model: line.model,
  };
}
