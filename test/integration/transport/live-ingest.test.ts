import { frameGeometry } from '../../../src/contracts/preprocess.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigSchema } from '../../../src/config/schema.ts';
import type { ResultEntry } from '../../../src/contracts/transport.ts';
import { InferenceEngine } from '../../../src/inference/inference-engine.ts';
import { loadModel, type LoadedModel } from '../../../src/inference/model-loader.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { Metrics } from '../../../src/shared/metrics.ts';
import { InferenceWorker } from '../../../src/transport/inference-worker.ts';
import { IngestSession } from '../../../src/transport/ingest-session.ts';
import { connect } from '../../../src/transport/redis-connections.ts';
import { redisNames } from '../../../src/transport/redis-keys.ts';
import { ResultReader } from '../../../src/transport/result-stream.ts';
import { makeClip } from '../../helpers/clips.ts';
import { writeTinyModel } from '../../e2e/distributed-helpers.ts';
import { TestRedis } from './redis-server.ts';
import { waitFor } from '../../helpers/wait.ts';
import { watchdogTuning } from '../../helpers/watchdog.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-live-ingest-'));
const clip = join(dir, 'clip.mp4');
const logger = createLogger({ level: 'silent' });
const HIGH_WATER = 4;
let model: LoadedModel;
let redis: TestRedis;

async function counterValue(metrics: Metrics, reason: string): Promise<number> {
  return (await metrics.framesDropped.get()).values.filter((v) => v.labels.reason === reason).reduce((a, v) => a + v.value, 0);
}

before(async () => {
  writeTinyModel(join(dir, 'tiny.onnx'));
  model = loadModel(join(dir, 'tiny.onnx'));
  makeClip(clip, { seconds: 30, size: '160x120', rate: 25, gop: 25 });
  redis = await TestRedis.start();
});

after(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('distributed live ingest (a file played with --live)', () => {
  test('at most the high-water mark of its jobs wait, the rest is dropped and counted as high_water; a worker started later gets fresh frames, not the backlog', async () => {
    const prefix = 'live';
    const names = redisNames(prefix);
    const settings = { ...ConfigSchema.parse({}).redis, url: redis.url, prefix, liveHighWaterFrames: HIGH_WATER };
    const metrics = new Metrics({ processMetrics: false });
    const p = model.preprocess;
    const session = await IngestSession.open({
      redis: settings,
      name: 'test-ingest',
      logger,
      metrics,
      batch: 8,
      model: {
        name: model.name,
        topK: 5,
        geometry: frameGeometry(p),
        inputWidth: p.inputWidth,
        inputHeight: p.inputHeight,
      },
      defaults: { liveFps: 10, fileFps: 1, watchdog: watchdogTuning() },
    });
    const inspect = redis.client();
    const readerConn = connect(redis.url, 'worker', 'test-reader');
    const results = new Map<number, number>();
    const reader = new ResultReader({
      client: readerConn,
      streamKey: names.resultsStream,
      from: '0',
      logger,
      onEntry: (e: ResultEntry) => {
        if (e.kind === 'frames') for (const f of e.frames) results.set(f.seq, (results.get(f.seq) ?? 0) + 1);
      },
    });
    const abort = new AbortController();
    let lastSeq = -1;
    let decoded = 0;
    const run = session.run({ id: 'cam', url: clip, live: true, fps: 10 }, abort.signal, {
      onFrame: (f) => {
        decoded++;
        lastSeq = f.seq;
      },
    });
    let engine: InferenceEngine | undefined;
    let worker: InferenceWorker | undefined;
    const workerConn = connect(redis.url, 'worker', 'test-worker');
    try {
      assert.equal(session.plan({ id: 'cam', url: clip, live: true }).realtime, true, 'a file played as a camera');
      // No worker: the queue must stop at the high-water mark while frames keep coming.
      let maxWaiting = 0;
      let maxFrames = 0;
      while (decoded < 6 * HIGH_WATER) {
        maxWaiting = Math.max(maxWaiting, await inspect.llen(`${prefix}:${names.framesQueue}:wait`));
        maxFrames = Math.max(maxFrames, (await inspect.keys(`${prefix}:frame:*`)).length);
        await new Promise((r) => setTimeout(r, 20));
      }
      // One more may sit there for the moment between its add and the trim.
      assert.ok(maxWaiting <= HIGH_WATER + 1, `jobs waiting: ${maxWaiting}`);
      assert.ok(maxWaiting >= HIGH_WATER, `jobs waiting: ${maxWaiting}`);
      assert.ok(maxFrames <= HIGH_WATER + 1, `frames in the frame store: ${maxFrames} (dropped frames' pixels are deleted)`);
      const dropped = await counterValue(metrics, 'high_water');
      const waiting = await inspect.llen(`${prefix}:${names.framesQueue}:wait`);
      // Every decoded frame is waiting or dropped (give or take the one being enqueued now).
      assert.ok(dropped + waiting >= decoded - 1 && dropped + waiting <= decoded, `decoded ${decoded}, dropped ${dropped}, waiting ${waiting}`);
      assert.ok(dropped >= 6 * HIGH_WATER - HIGH_WATER - 1, `dropped ${dropped}`);

      // A worker now: what it gets first is at most the high-water mark of old frames, then the live edge.
      engine = await InferenceEngine.start(model, { device: 'cpu', threads: 1, topK: 5, embeddings: true });
      worker = new InferenceWorker({
        queueConnection: workerConn,
        frameConnection: workerConn,
        names,
        model,
        engine,
        batch: 8,
        batchWaitMs: 20,
        concurrency: 8,
        topK: 5,
        lockDurationMs: 5000,
        stalledIntervalMs: 5000,
        resultsMaxLen: 10_000,
        frameTtlMs: 60_000,
        logger,
      });
      const seqAtStart = lastSeq;
      await worker.start();
      await waitFor('results past the live edge at the worker start', () => [...results.keys()].some((s) => s > seqAtStart + 10));
      const backlog = [...results.keys()].filter((s) => s <= seqAtStart);
      assert.ok(backlog.length <= HIGH_WATER + 1, `frames from before the worker started that were inferred: ${backlog.length}`);
      assert.ok(backlog.length >= 1, 'the frames waiting at the mark are inferred, not lost');

      abort.abort();
      const report = await run;
      assert.equal(report.state, 'ended');
      assert.equal(report.detail, 'stopped');
      await waitFor(
        'the queue to drain',
        async () => (await inspect.llen(`${prefix}:${names.framesQueue}:wait`)) === 0 && (await inspect.llen(`${prefix}:${names.framesQueue}:active`)) === 0,
      );
      await waitFor('the last results to be read', async () => results.size + (await counterValue(metrics, 'high_water')) >= decoded, 10_000).catch(
        () => undefined,
      );
      // Exact accounting: each decoded frame was inferred once or dropped once, never both.
      const finalDropped = await counterValue(metrics, 'high_water');
      assert.equal(results.size + finalDropped, decoded, `results ${results.size} + dropped ${finalDropped} vs decoded ${decoded}`);
      assert.ok(
        [...results.values()].every((n) => n === 1),
        'no frame inferred twice',
      );
      assert.equal(await counterValue(metrics, 'redis_unavailable'), 0);
    } finally {
      abort.abort();
      await run.catch(() => undefined);
      await worker?.close();
      await engine?.close();
      await reader.close();
      await session.close();
      workerConn.disconnect();
      readerConn.disconnect();
      inspect.disconnect();
    }
  });

  test('Redis killed and restarted empty under a live stream: frames meanwhile are dropped as redis_unavailable, then the same run carries on from the next frame', async () => {
    const own = await TestRedis.start();
    const prefix = 'restart';
    const names = redisNames(prefix);
    const metrics = new Metrics({ processMetrics: false });
    const p = model.preprocess;
    const session = await IngestSession.open({
      redis: { ...ConfigSchema.parse({}).redis, url: own.url, prefix },
      name: 'test-ingest',
      logger,
      metrics,
      batch: 8,
      model: {
        name: model.name,
        topK: 5,
        geometry: frameGeometry(p),
        inputWidth: p.inputWidth,
        inputHeight: p.inputHeight,
      },
      defaults: { liveFps: 10, fileFps: 1, watchdog: watchdogTuning() },
    });
    const readerConn = connect(own.url, 'worker', 'test-reader');
    const workerConn = connect(own.url, 'worker', 'test-worker');
    const results = new Map<string, number>();
    const reader = new ResultReader({
      client: readerConn,
      streamKey: names.resultsStream,
      from: '0',
      logger,
      onEntry: (e: ResultEntry) => {
        if (e.kind === 'frames') for (const f of e.frames) results.set(`${e.run}/${f.seq}`, f.seq);
      },
    });
    const engine = await InferenceEngine.start(model, { device: 'cpu', threads: 1, topK: 5, embeddings: true });
    const worker = new InferenceWorker({
      queueConnection: workerConn,
      frameConnection: workerConn,
      names,
      model,
      engine,
      batch: 8,
      batchWaitMs: 20,
      concurrency: 8,
      topK: 5,
      lockDurationMs: 5000,
      stalledIntervalMs: 5000,
      resultsMaxLen: 10_000,
      frameTtlMs: 60_000,
      logger,
    });
    await worker.start();
    const abort = new AbortController();
    let lastSeq = -1;
    const runs = new Set<string>();
    const run = session.run({ id: 'cam', url: clip, live: true, fps: 10 }, abort.signal, {
      onFrame: (f) => {
        lastSeq = f.seq;
        runs.add(f.runId);
      },
    });
    try {
      await waitFor('results before the restart', () => results.size >= 5);
      await own.stop();
      const seqAtKill = lastSeq;
      await new Promise((r) => setTimeout(r, 1000));
      await own.start();
      await waitFor('results of frames decoded after the restart', () => [...results.values()].some((seq) => seq > seqAtKill + 10));
      assert.ok((await counterValue(metrics, 'redis_unavailable')) >= 1, 'frames decoded while Redis was away are counted');
      assert.equal(runs.size, 1, 'the source was not restarted: the same run carries on');
      abort.abort();
      const report = await run;
      assert.equal(report.state, 'ended');
    } finally {
      abort.abort();
      await run.catch(() => undefined);
      await worker.close();
      await engine.close();
      await reader.close();
      await session.close();
      workerConn.disconnect();
      readerConn.disconnect();
      await own.stop();
    }
  });
});
