import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Frame } from '../../../src/contracts/frame.ts';
import { ResultEntrySchema, type FrameJob, type ResultEntry } from '../../../src/contracts/transport.ts';
import { InferenceEngine } from '../../../src/inference/inference-engine.ts';
import { loadModel, type LoadedModel } from '../../../src/inference/model-loader.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { CrossJobBatcher } from '../../../src/transport/cross-job-batcher.ts';
import { FrameStore } from '../../../src/transport/frame-store.ts';
import { InferenceWorker } from '../../../src/transport/inference-worker.ts';
import { connect, waitReady } from '../../../src/transport/redis-connections.ts';
import { jobIdFor, redisNames } from '../../../src/transport/redis-keys.ts';
import { writeTinyModel } from '../../e2e/distributed-helpers.ts';

const URL_ = 'redis://127.0.0.1:6379';
const dir = mkdtempSync(join(tmpdir(), 'ss-transport-'));
const logger = createLogger({ level: 'silent' });
let model: LoadedModel;
let engine: InferenceEngine;

function frames(run: string, n: number, bytes = 64 * 64 * 3, from = 0): Frame[] {
  return Array.from({ length: n }, (_, i) => ({
    streamId: 's',
    runId: run,
    seq: from + i,
    ptsMs: (from + i) * 40,
    capturedAt: Date.now(),
    width: 64,
    height: 64,
    data: Buffer.alloc(bytes, (from + i) % 256),
  }));
}

before(async () => {
  writeTinyModel(join(dir, 'tiny.onnx'));
  model = loadModel(join(dir, 'tiny.onnx'));
  engine = await InferenceEngine.start(model, { device: 'cpu', threads: 1, topK: 5, embeddings: true });
});
after(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('transport names', () => {
  test('queues carry a Cluster hash tag with the prefix; frame keys are tagged by run', () => {
    const n = redisNames('acme');
    assert.equal(n.framesQueue, '{acme.frames}');
    assert.match(n.frameKey('run-1', 7), /^acme:frame:\{run-1\}:7\.1$/);
    assert.throws(() => redisNames('a:b'), RangeError);
    assert.doesNotMatch(jobIdFor('r:x', 3, 1), /:/);
  });
});

describe('frame store', () => {
  test('pixels are binary values with a TTL: byte-exact back, gone after it expires', async () => {
    const client = connect(URL_, 'producer', 'test');
    await waitReady(client, URL_, 5000);
    try {
      const store = new FrameStore(client, redisNames(`fs${process.pid}`), 1000);
      const fs = frames(randomUUID(), 2);
      fs[1]!.data[5] = 0xff;
      const refs = await store.put(fs);
      const back = await store.get(refs.map((r) => r.key));
      assert.ok(back[1]!.equals(fs[1]!.data));
      assert.ok((await client.pttl(refs[0]!.key)) <= 1000);
      await new Promise((r) => setTimeout(r, 1200));
      assert.deepEqual(await store.get(refs.map((r) => r.key)), [null, null]);
    } finally {
      client.disconnect();
    }
  });
});

describe('cross-job batcher', () => {
  test('jobs share a batch up to its size; a batch that fails is re-run job by job so only the bad job fails', async () => {
    const calls: number[] = [];
    const batcher = new CrossJobBatcher({
      batch: 8,
      maxWaitMs: 30,
      maxInFlight: 2,
      runner: {
        async infer(fs) {
          calls.push(fs.length);
          if (fs.some((f) => f.data.length !== 12)) throw new Error('bad frame');
          return { frames: fs.map((f) => ({ top: [{ index: f.seq, score: 1 }] })) };
        },
      },
    });
    const good = (run: string, n: number, from: number): Frame[] => frames(run, n, 12, from);
    const [a, b] = await Promise.all([batcher.infer(good('a', 3, 0)), batcher.infer(good('b', 4, 10))]);
    assert.deepEqual(calls, [7]);
    assert.deepEqual(
      a.map((r) => r.top[0]!.index),
      [0, 1, 2],
    );
    assert.deepEqual(
      b.map((r) => r.top[0]!.index),
      [10, 11, 12, 13],
    );
    calls.length = 0;
    const results = await Promise.allSettled([batcher.infer(good('c', 2, 0)), batcher.infer(frames('d', 1, 5)), batcher.infer(good('e', 2, 0))]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.deepEqual(calls, [5, 2, 1, 2]);
  });
});

describe('inference worker', () => {
  test('a poisoned job fails once, announces its frames, and does not hold up the jobs behind it', async () => {
    const prefix = `iw${process.pid}`;
    const names = redisNames(prefix);
    const producer = connect(URL_, 'producer', 'test-producer');
    const workerConn = connect(URL_, 'worker', 'test-worker');
    const reader = connect(URL_, 'producer', 'test-reader');
    await Promise.all([producer, reader].map((c) => waitReady(c, URL_, 5000)));
    const queue = new Queue(names.framesQueue, { connection: producer, prefix });
    const worker = new InferenceWorker({
      queueConnection: workerConn,
      frameConnection: workerConn,
      names,
      model,
      engine,
      batch: 8,
      batchWaitMs: 10,
      concurrency: 8,
      topK: 5,
      lockDurationMs: 5000,
      stalledIntervalMs: 5000,
      resultsMaxLen: 1000,
      frameTtlMs: 60_000,
      logger,
    });
    try {
      await worker.start();
      const store = new FrameStore(producer, names, 60_000);
      const replies = names.replyStream(randomUUID());
      const job = async (run: string, fs: Frame[], width = 64): Promise<string> => {
        const data: FrameJob = {
          v: 1,
          stream: 's',
          run,
          model: model.name,
          width,
          height: 64,
          topK: 3,
          embeddings: true,
          results: replies,
          frames: await store.put(fs),
        };
        const id = jobIdFor(run, fs[0]!.seq, 1);
        await queue.add('infer', data, { jobId: id, attempts: 3, backoff: { type: 'fixed', delay: 100 }, removeOnComplete: true, removeOnFail: { count: 10 } });
        return id;
      };
      // Wrong size for the model (frames 32 px wide): bad data, never retried.
      const bad = await job('bad', frames('bad', 2, 32 * 64 * 3), 32);
      const missing = await job('gone', frames('gone', 1));
      await producer.del(names.frameKey('gone', 0));
      await job('good', frames('good', 5));
      const entries: ResultEntry[] = [];
      const deadline = Date.now() + 10_000;
      while (entries.length < 3 && Date.now() < deadline) {
        const r = (await reader.xrange(replies, '-', '+')) as [string, string[]][];
        entries.splice(0, entries.length, ...r.map(([, f]) => ResultEntrySchema.parse(JSON.parse(f[1]!))));
        await new Promise((res) => setTimeout(res, 50));
      }
      const byRun = new Map(entries.map((e) => [e.kind === 'status' ? '' : e.run, e]));
      const good = byRun.get('good');
      assert.equal(good?.kind, 'frames');
      assert.equal(good.kind === 'frames' && good.frames.length, 5);
      assert.equal(good.kind === 'frames' && good.frames[0]!.labels.length, 3);
      for (const run of ['bad', 'gone']) {
        const e = byRun.get(run);
        assert.equal(e?.kind, 'failed', run);
        assert.equal(e.kind === 'failed' && e.code, 'E_BAD_JOB');
      }
      const failed = await queue.getJob(bad);
      assert.equal(failed?.attemptsMade, 1, 'bad data is not retried');
      assert.equal(await queue.getJobState(missing), 'failed');
      assert.equal((await producer.keys(`${prefix}:frame:{good}:*`)).length, 0, 'frames of a done job are deleted');
    } finally {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
      producer.disconnect();
      workerConn.disconnect();
      reader.disconnect();
    }
  });
});

describe('remote inference (the analyze side)', () => {
  test('answers batches in their order; frames that fail on every send are returned as lost with the reason, after maxResends', async () => {
    const prefix = `ri${process.pid}`;
    const names = redisNames(prefix);
    const producer = connect(URL_, 'producer', 'ri-producer');
    const reader = connect(URL_, 'worker', 'ri-reader');
    const workerConn = connect(URL_, 'worker', 'ri-worker');
    await waitReady(producer, URL_, 5000);
    const worker = new InferenceWorker({
      queueConnection: workerConn,
      frameConnection: workerConn,
      names,
      model,
      engine,
      batch: 8,
      batchWaitMs: 10,
      concurrency: 8,
      topK: 5,
      lockDurationMs: 5000,
      stalledIntervalMs: 5000,
      resultsMaxLen: 1000,
      frameTtlMs: 60_000,
      logger,
    });
    await worker.start();
    const { RemoteInference } = await import('../../../src/transport/remote-inference.ts');
    const remote = (modelName: string) =>
      new RemoteInference({
        queueConnection: producer,
        frameConnection: producer,
        readerConnection: reader,
        names,
        model: { name: modelName, inputWidth: 64, inputHeight: 64 },
        topK: 5,
        embeddings: false,
        frameTtlMs: 60_000,
        queueHighWaterJobs: 100,
        resultTimeoutMs: 5000,
        maxResends: 2,
        jobAttempts: 3,
        failedJobsKept: 10,
        unavailableTimeoutMs: 5000,
        logger,
      });
    const ok = remote(model.name);
    try {
      const run = randomUUID();
      const [a, b] = await Promise.all([ok.infer(frames(run, 4)), ok.infer(frames(run, 4, undefined, 4))]);
      assert.equal(a.frames.length, 4);
      assert.equal(
        b.frames.every((f) => f !== undefined && f.top.length === 5),
        true,
      );
      assert.equal(a.lost, undefined);
      await ok.close();
      const wrong = remote('another-model');
      try {
        const lost = await wrong.infer(frames(randomUUID(), 3));
        assert.deepEqual([...lost.lost!.keys()], [0, 1, 2]);
        assert.match(lost.lost!.get(0)!, /E_BAD_JOB.*another-model/);
        assert.equal(wrong.stats.resentBatches, 2, 'sent 1 + maxResends times, no more');
      } finally {
        await wrong.close();
      }
    } finally {
      await worker.close();
      const keys = await producer.keys(`${prefix}:*`);
      if (keys.length > 0) await producer.del(...keys);
      producer.disconnect();
      reader.disconnect();
      workerConn.disconnect();
    }
  });
});
