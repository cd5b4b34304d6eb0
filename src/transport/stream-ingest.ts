import { randomUUID } from 'node:crypto';
import type { Frame, FrameGeometry, Sampling } from '../contracts/frame.ts';
import type { FrameJob, ResultEntry } from '../contracts/transport.ts';
import { decodeFrames } from '../ingest/file-decoder.ts';
import { isStreamSightError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { FrameQueue } from './frame-queue.ts';
import { FrameStore } from './frame-store.ts';
import { jobIdFor } from './redis-keys.ts';
import type { RedisLinks } from './redis-links.ts';
import { ResultPublisher } from './result-stream.ts';

export interface StreamIngestOptions {
  id: string;
  url: string;
  sampling: Sampling;
  geometry: FrameGeometry;
  model: { name: string; topK: number };
  /** Latest-frame semantics: per-stream high-water mark, oldest dropped. Else (files) every frame, ffmpeg paused when the queue is deep. */
  live: boolean;
  /** Play a file at its native rate, as a camera would. */
  realtime: boolean;
  loop: boolean;
  /** Frames per job for files (live frames go one per job: workers batch across them). */
  batch: number;
  links: RedisLinks;
  logger: Logger;
  metrics: Metrics;
  signal: AbortSignal;
}

/**
 * `streamsight ingest` for one source: decode, put frames in the frame
 * store, enqueue jobs whose results go to the shared results stream (read by
 * gateways), and announce the stream's state there too.
 *
 * Live: at most `liveHighWaterFrames` of this stream's frames wait in the
 * queue; past it the oldest waiting job is removed (reason `high_water`),
 * and while Redis is away frames are dropped (reason `redis_unavailable`):
 * latency stays flat and the stream carries on from the next frame.
 * Files: nothing is dropped; decoding pauses while the queue is deep.
 */
export async function ingestStream(opts: StreamIngestOptions): Promise<void> {
  const { links, logger, metrics, id } = opts;
  const settings = links.settings;
  const queue = new FrameQueue(links.queue, links.names, { attempts: settings.jobAttempts, failedJobsKept: settings.failedJobsKept, logger });
  const store = new FrameStore(links.frames, links.names, opts.live ? Math.min(settings.frameTtlMs, 60_000) : settings.frameTtlMs);
  const publisher = new ResultPublisher(links.queue, settings.resultsMaxLen);
  const results = links.names.resultsStream;
  const status = async (state: Extract<ResultEntry, { kind: 'status' }>['state'], detail?: string): Promise<void> => {
    const entry: ResultEntry = { kind: 'status', stream: id, state, model: opts.model.name, ...(detail ? { detail } : {}), ...(opts.sampling.mode === 'fps' ? { fps: opts.sampling.fps } : {}) };
    await publisher.publish(results, entry).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'status not published (Redis away)'));
  };
  /** Job ids of this stream's live frames, oldest first, that may still be waiting. */
  const waiting: { jobId: string; key: string }[] = [];
  const drop = (reason: string, n = 1): void => metrics.framesDropped.inc({ stream: id, reason }, n);

  const enqueue = async (frames: Frame[]): Promise<void> => {
    const first = frames[0]!;
    const refs = await store.put(frames);
    const job: FrameJob = {
      v: 1, stream: id, run: first.runId, model: opts.model.name, width: first.width, height: first.height,
      topK: opts.model.topK, embeddings: true, results, frames: refs,
    };
    const jobId = jobIdFor(first.runId, first.seq, 1);
    await queue.add(jobId, job);
    if (opts.live) waiting.push({ jobId, key: refs[0]!.key });
  };

  try {
    await status('starting');
    let run = 0;
    do {
      const runId = randomUUID();
      const decode = decodeFrames(opts.url, { streamId: id, runId, sampling: opts.sampling, geometry: opts.geometry, realtime: opts.realtime, signal: opts.signal });
      let batch: Frame[] = [];
      let announced = false;
      for await (const frame of decode) {
        metrics.framesDecoded.inc({ stream: id });
        if (!announced) {
          announced = true;
          await status('live');
        }
        if (opts.live) {
          try {
            await enqueue([frame]);
            while (waiting.length > settings.liveHighWaterFrames) {
              const oldest = waiting.shift()!;
              // Removed only if no worker took it yet; a taken or finished job is simply forgotten.
              if (await queue.removeWaiting(oldest.jobId)) {
                drop('high_water');
                await store.delete([oldest.key]);
              }
            }
          } catch (err) {
            drop('redis_unavailable');
            logger.debug({ err: (err as Error).message }, 'live frame dropped: Redis away');
          }
          continue;
        }
        batch.push(frame);
        if (batch.length >= opts.batch) {
          await enqueueFile(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await enqueueFile(batch);
      run++;
    } while (opts.loop && !opts.signal.aborted);
    await status('ended', `${run} run(s)`);
  } catch (err) {
    if (opts.signal.aborted) {
      await status('ended', 'stopped');
      return;
    }
    const message = isStreamSightError(err) ? err.message : String(err);
    await status('failed', message);
    throw err;
  } finally {
    await queue.close();
  }

  /** Files: wait while the queue is deep (ffmpeg stays paused), retry while Redis is away. */
  async function enqueueFile(frames: Frame[]): Promise<void> {
    const since = performance.now();
    for (;;) {
      try {
        while ((await queue.waiting()) > settings.queueHighWaterJobs) {
          if (opts.signal.aborted) return;
          await new Promise((r) => setTimeout(r, 100));
        }
        await enqueue(frames);
        return;
      } catch (err) {
        if (opts.signal.aborted) return;
        if (performance.now() - since > settings.unavailableTimeoutMs) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
}
