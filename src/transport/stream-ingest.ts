import type { Readable } from 'node:stream';
import type { Frame, FrameGeometry } from '../contracts/frame.ts';
import type { StreamState } from '../contracts/results.ts';
import type { FrameJob, ResultEntry } from '../contracts/transport.ts';
import type { BatchInferer, InferredBatch } from '../inference/batch-inferer.ts';
import type { Logger } from '../shared/logger.ts';
import type { SourcePlan } from '../pipeline/source-plan.ts';
import { setStateGauge, watchSource } from '../pipeline/watched-source.ts';
import { FrameGate, LIVE_SKIP_SPREAD } from '../pipeline/change-gate.ts';
import type { Metrics } from '../shared/metrics.ts';
import { FrameQueue } from './frame-queue.ts';
import { FrameStore } from './frame-store.ts';
import { jobIdFor } from './redis-keys.ts';
import type { RedisLinks } from './redis-links.ts';
import { ResultPublisher } from './result-stream.ts';

/** Inference of a file's batches that answers once their results are in (RemoteInference on the shared results stream). */
export type FileInference = Pick<BatchInferer, 'infer'>;

export interface StreamIngestOptions {
  id: string;
  /** The source as configured; may carry credentials, which are never shown. */
  url: string;
  plan: SourcePlan;
  /** ffmpeg's stdin, for a `-` source. */
  stdin?: Readable | undefined;
  geometry: FrameGeometry;
  model: { name: string; topK: number };
  /** Frames per job for files (live frames go one per job: workers batch across them). */
  batch: number;
  links: RedisLinks;
  /** Files: their batches go through this, which re-sends what Redis lost. */
  files: FileInference;
  logger: Logger;
  metrics: Metrics;
  /** Aborting stops the source (its ffmpeg is reaped) without waiting for results. */
  signal: AbortSignal;
  /** Files: how often a line says that results are still awaited, ms (default 15 s). */
  waitingLogMs?: number;
  /** Each decoded frame (the latest one makes snapshots). */
  onFrame?: ((frame: Frame) => void) | undefined;
  /** Each state as published to the results stream. */
  onState?: ((state: StreamState, detail: string | undefined) => void) | undefined;
}

/** A frame of a file that got no result even after re-sending. */
export interface LostFrame {
  run: string;
  seq: number;
  ptsMs: number;
  reason: string;
}

export interface IngestReport {
  state: 'ended' | 'failed';
  detail: string | undefined;
  /** ffmpeg runs (restarts + 1). */
  runs: number;
  /** Frames decoded. */
  frames: number;
  /** Live frames the change gate kept from inference (`--skip-unchanged`): sent as `reused` entries, not queued. */
  reused: number;
  /** Files: frames that got no result (never silently skipped: named here). */
  lost: LostFrame[];
  /** Files stopped early (SIGINT/SIGTERM): frames sent whose result had not come yet (left queued for the workers). */
  unanswered: number;
}

/**
 * `streamsight ingest` for one source: the project's ffmpeg watchdog keeps
 * it decoding (stall detection, restarts with backoff, the same states as
 * embedded `serve`), frames go to the frame store, jobs to the queue, and
 * the stream's states to the shared results stream (read by gateways),
 * where the workers also put the results.
 *
 * Live: at most `liveHighWaterFrames` of this stream's frames wait in the
 * queue; past it the oldest waiting job is removed (reason `high_water`),
 * and while Redis is away frames are dropped (reason `redis_unavailable`):
 * latency stays flat and the stream carries on from the next frame.
 *
 * Files: nothing is dropped. Each batch is held here until its result is in
 * (at most `inFlightFrames` frames; ffmpeg is paused meanwhile, and while the
 * queue is deep), so a batch that Redis lost (a restart of a Redis that
 * keeps nothing on disk) is sent again. A frame that cannot be recovered is
 * counted (reason `lost`) and named in the report. The stream is announced
 * `ended` once every result is in.
 */
export function ingestStream(opts: StreamIngestOptions): Promise<IngestReport> {
  const { links, logger, metrics, id, plan } = opts;
  const settings = links.settings;
  const publisher = new ResultPublisher(links.queue, settings.resultsMaxLen);
  let published = Promise.resolve();
  /** States go out in order; a state lost while Redis is away is logged, not retried (the next one supersedes it). */
  const publish = (state: StreamState, detail: string | undefined): void => {
    opts.onState?.(state, detail);
    const entry: ResultEntry = { kind: 'status', stream: id, state, model: opts.model.name, ...(detail ? { detail } : {}), fps: plan.fps };
    published = published
      .then(() => publisher.publish(links.names.resultsStream, entry))
      .catch((err: unknown) => {
        logger.warn({ err: (err as Error).message, state }, 'stream state not published (Redis away)');
      });
  };

  let live: LiveEnqueuer | undefined;
  let file: FileBatches | undefined;
  // --skip-unchanged: a live frame that did not change goes to the results stream as `reused`, never to the queue.
  const gate = plan.live && plan.skipUnchanged ? new FrameGate({ ...plan.skipUnchanged, spread: LIVE_SKIP_SPREAD }) : undefined;
  let reusedSent = Promise.resolve();
  let reusedFrames = 0;
  const reuse = (frame: Frame, ref: number): void => {
    reusedFrames++;
    const entry: ResultEntry = {
      kind: 'reused',
      stream: id,
      run: frame.runId,
      model: opts.model.name,
      frames: [{ seq: frame.seq, ptsMs: frame.ptsMs, capturedAt: frame.capturedAt, ref }],
    };
    reusedSent = reusedSent
      .then(() => publisher.publish(links.names.resultsStream, entry))
      .catch((err: unknown) => {
        metrics.framesDropped.inc({ stream: id, reason: 'redis_unavailable' });
        logger.debug({ err: (err as Error).message }, 'reused frame dropped: Redis away');
      });
  };
  let decoded = 0;
  let finish!: (end: { state: 'ended' | 'failed'; detail: string | undefined }) => void;
  const finished = new Promise<{ state: 'ended' | 'failed'; detail: string | undefined }>((resolve) => (finish = resolve));

  const watchdog = watchSource({
    watchdog: plan.watchdog,
    metrics,
    id,
    url: opts.url,
    input: plan.input,
    inputOptions: plan.inputOptions,
    decodeThreads: plan.decodeThreads,
    decodeNice: plan.decodeNice,
    hwaccel: plan.hwaccel,
    protocolWhitelist: plan.protocolWhitelist,
    live: plan.camera,
    loop: plan.loop,
    restartable: plan.restartable,
    realtime: plan.realtime,
    ...(plan.hostGuard ? { hostGuard: plan.hostGuard } : {}),
    sampling: { mode: 'fps', fps: plan.fps },
    geometry: { ...opts.geometry, fastScale: plan.fastScale },
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
    logger,
    onFrame: (frame) => {
      decoded++;
      opts.onFrame?.(frame);
      if (!live) return file!.add(frame);
      const ref = gate?.check(frame, frame.capturedAt);
      if (ref !== undefined) return reuse(frame, ref);
      return live.add(frame);
    },
    onState: (state, detail) => {
      // A file is `ended` once its results are in, not when ffmpeg is done.
      if (state === 'ended' || state === 'failed') finish({ state, detail });
      else publish(state, detail);
    },
  });
  // Up to here it throws at once (WatchdogTuningError: a tuning the watchdog refuses); from here on it only resolves.
  if (plan.live) live = new LiveEnqueuer(opts);
  else file = new FileBatches(opts);
  const onAbort = (): void => finish({ state: 'ended', detail: 'stopped' });
  opts.signal.addEventListener('abort', onAbort, { once: true });
  file?.onError((message) => finish({ state: 'failed', detail: message }));
  if (!opts.signal.aborted) watchdog.start();
  else onAbort();

  return complete();

  /**
   * A file's last results, waited for until they are in or the stream is
   * stopped (SIGINT/SIGTERM while no worker answers must not hang ingest;
   * what is still queued stays queued for the workers). While it waits,
   * a line every `waitingLogMs` says how many frames have no result yet.
   */
  async function drainUnlessStopped(batches: FileBatches, flush: boolean): Promise<string | undefined | 'stopped'> {
    let onStop!: () => void;
    const stopped = new Promise<'stopped'>((resolve) => (onStop = () => resolve('stopped')));
    opts.signal.addEventListener('abort', onStop, { once: true });
    const waiting = setInterval(() => {
      logger.warn(
        { frames: batches.pendingFrames },
        'waiting for workers: frames of this file have no result yet (is a streamsight worker running for this model and prefix?)',
      );
    }, opts.waitingLogMs ?? 15_000);
    try {
      return await Promise.race([batches.drain(flush), stopped]);
    } finally {
      clearInterval(waiting);
      opts.signal.removeEventListener('abort', onStop);
    }
  }

  /** Waits for the end (ended, failed, stopped), for a file's last results, then announces it. */
  async function complete(): Promise<IngestReport> {
    try {
      let end = await finished;
      await watchdog.stop();
      if (file && !opts.signal.aborted) {
        const drained = await drainUnlessStopped(file, end.state === 'ended');
        if (drained === 'stopped') end = { state: 'ended', detail: 'stopped' };
        else if (drained !== undefined) end = { state: 'failed', detail: drained };
      }
      // A file ends once its results are in: a drain that failed overrides the source's own end.
      setStateGauge(metrics, id, end.state);
      await reusedSent;
      publish(end.state, end.detail ?? (end.state === 'ended' ? `${watchdog.runs} run(s)` : undefined));
      await published;
      return {
        state: end.state,
        detail: end.detail,
        runs: watchdog.runs,
        frames: decoded,
        reused: reusedFrames,
        lost: file?.lost ?? [],
        unanswered: file?.pendingFrames ?? 0,
      };
    } finally {
      opts.signal.removeEventListener('abort', onAbort);
      await live?.close();
    }
  }
}

/** Live frames: one job each, at most `liveHighWaterFrames` of them waiting, the oldest dropped past it. */
class LiveEnqueuer {
  private readonly queue: FrameQueue;
  private readonly store: FrameStore;
  /** Job ids of this stream's frames, oldest first, that may still be waiting. */
  private readonly waiting: { jobId: string; key: string }[] = [];

  constructor(private readonly opts: StreamIngestOptions) {
    const { links, logger } = opts;
    const s = links.settings;
    this.queue = new FrameQueue(links.queue, links.names, { attempts: s.jobAttempts, failedJobsKept: s.failedJobsKept, logger });
    // A live frame is worth nothing after a minute: let Redis free it sooner.
    this.store = new FrameStore(links.frames, links.names, Math.min(s.frameTtlMs, 60_000));
  }

  async add(frame: Frame): Promise<void> {
    const { opts } = this;
    const drop = (reason: string): void => opts.metrics.framesDropped.inc({ stream: opts.id, reason });
    try {
      const refs = await this.store.put([frame]);
      const job: FrameJob = {
        v: 1,
        stream: opts.id,
        run: frame.runId,
        model: opts.model.name,
        width: frame.width,
        height: frame.height,
        topK: opts.model.topK,
        embeddings: true,
        results: opts.links.names.resultsStream,
        frames: refs,
      };
      const jobId = jobIdFor(frame.runId, frame.seq, 1);
      await this.queue.add(jobId, job);
      this.waiting.push({ jobId, key: refs[0]!.key });
      while (this.waiting.length > opts.links.settings.liveHighWaterFrames) {
        const oldest = this.waiting.shift()!;
        // Removed only if no worker took it yet; a taken or finished job is simply forgotten.
        if (await this.queue.removeWaiting(oldest.jobId)) {
          drop('high_water');
          await this.store.delete([oldest.key]);
        }
      }
      opts.metrics.queueDepth.set({ stream: opts.id }, this.waiting.length);
    } catch (err) {
      drop('redis_unavailable');
      opts.logger.debug({ err: (err as Error).message }, 'live frame dropped: Redis away');
    }
  }

  async close(): Promise<void> {
    this.opts.metrics.queueDepth.set({ stream: this.opts.id }, 0);
    await this.queue.close();
  }
}

/** A file's frames in batches of one run, held until answered, at most `inFlightFrames` at once. */
class FileBatches {
  private batch: Frame[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private inFlightFrames = 0;
  private error: string | undefined;
  private onErrorCb: ((message: string) => void) | undefined;
  readonly lost: LostFrame[] = [];

  /** Resolves when the stream is stopped: a full window stops holding ffmpeg then. */
  private readonly stopped: Promise<void>;

  constructor(private readonly opts: StreamIngestOptions) {
    this.stopped = new Promise((resolve) => {
      if (opts.signal.aborted) resolve();
      else opts.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  /** Frames sent and not yet answered. */
  get pendingFrames(): number {
    return this.inFlightFrames;
  }

  onError(cb: (message: string) => void): void {
    this.onErrorCb = cb;
  }

  /** The returned promise holds ffmpeg (its pipe fills) while the window is full. */
  async add(frame: Frame): Promise<void> {
    if (this.error !== undefined) return;
    // A job carries frames of one run: a restart (new run) closes the batch.
    if (this.batch.length > 0 && this.batch[0]!.runId !== frame.runId) await this.send(this.take());
    this.batch.push(frame);
    if (this.batch.length >= this.opts.batch) await this.send(this.take());
  }

  /** Sends what is left (when the file ended well) and waits for every answer; the error that stopped it, if any. */
  async drain(flush: boolean): Promise<string | undefined> {
    if (flush && this.batch.length > 0 && this.error === undefined) await this.send(this.take());
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    return this.error;
  }

  private take(): Frame[] {
    const frames = this.batch;
    this.batch = [];
    return frames;
  }

  private async send(frames: Frame[]): Promise<void> {
    const { opts } = this;
    const window = opts.links.settings.inFlightFrames;
    while (this.inFlightFrames + frames.length > window && this.inFlight.size > 0 && !opts.signal.aborted) {
      await Promise.race([...this.inFlight, this.stopped]);
    }
    // Stopped (SIGINT/SIGTERM) with the window full: these frames are not sent.
    if (this.error !== undefined || opts.signal.aborted) return;
    this.inFlightFrames += frames.length;
    const answered: Promise<void> = opts.files
      .infer(frames)
      .then(
        (result) => this.settle(frames, result),
        (err: unknown) => {
          // Redis away past its patience, or inference closed: the stream stops, what was answered stays answered.
          this.error ??= err instanceof Error ? err.message : String(err);
          this.onErrorCb?.(this.error);
        },
      )
      .finally(() => {
        this.inFlightFrames -= frames.length;
        this.inFlight.delete(answered);
      });
    this.inFlight.add(answered);
  }

  private settle(frames: Frame[], result: InferredBatch): void {
    if (!result.lost) return;
    for (const [i, reason] of result.lost) {
      const f = frames[i]!;
      this.lost.push({ run: f.runId, seq: f.seq, ptsMs: f.ptsMs, reason });
    }
    this.opts.metrics.framesDropped.inc({ stream: this.opts.id, reason: 'lost' }, result.lost.size);
  }
}
