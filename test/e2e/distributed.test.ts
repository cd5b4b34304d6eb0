import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SummarySchema, type FrameLine } from '../../src/contracts/analyze-output.ts';
import { runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { TestRedis, usedMemory } from '../integration/transport/redis-server.ts';
import { assertSameFrames, frameLines, startWorker, writeRedisConfig, writeTinyModel, type WorkerProcess } from './distributed-helpers.ts';
import { waitFor } from '../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-dist-'));
const model = join(dir, 'tiny.onnx');
const clip = join(dir, 'clip.mp4');
const ANALYZE = ['analyze', '--model', model, '--every-frame', '--embeddings', '--batch', '8', '--json'];
let reference: FrameLine[];
let redis: TestRedis;
const workers: WorkerProcess[] = [];

const fail = (msg: string): never => assert.fail(msg);

async function workersUp(n: number, env: NodeJS.ProcessEnv, args: string[] = []): Promise<WorkerProcess[]> {
  const started = await Promise.all(Array.from({ length: n }, () => startWorker(['--model', model, '--threads', '1', ...args], env)));
  workers.push(...started);
  return started;
}

function summaryOf(stderr: string) {
  const line = stderr.split('\n').find((l) => l.includes('"type":"summary"'));
  assert.ok(line, stderr);
  return SummarySchema.parse(JSON.parse(line));
}

before(async () => {
  writeTinyModel(model);
  makeClip(clip, { seconds: 8, size: '160x120', rate: 25, gop: 25 });
  const r = await runCli([...ANALYZE, clip]);
  assert.equal(r.code, 0, r.stderr);
  reference = frameLines(r.stdout);
  assert.equal(reference.length, 200);
  redis = await TestRedis.start();
});

after(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('distributed analyze (analyze --redis + streamsight worker)', () => {
  test('1, 2 and 3 workers give the embedded output frame by frame; Redis keeps no job, frame or reply stream after a run', async () => {
    const inspect = redis.client();
    try {
      for (const n of [1, 2, 3]) {
        const prefix = `w${n}`;
        const env = { REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: prefix };
        const pool = await workersUp(n, env);
        const baseline = await usedMemory(inspect);
        let peak = baseline;
        const sampler = setInterval(
          () =>
            void usedMemory(inspect).then(
              (m) => (peak = Math.max(peak, m)),
              () => undefined,
            ),
          20,
        );
        const r = await runCli([...ANALYZE, clip], { env });
        clearInterval(sampler);
        assert.equal(r.code, 0, r.stderr);
        assertSameFrames(frameLines(r.stdout), reference, fail);
        assert.equal(summaryOf(r.stderr).lostFrames, undefined);
        // Bounded: at most inFlightFrames (256) frames of 64x64x3 bytes plus jobs and streams.
        assert.ok(peak - baseline < 16 * 1024 * 1024, `Redis grew by ${peak - baseline} bytes during the run`);
        const keys = await inspect.keys(`${prefix}:*`);
        assert.deepEqual(
          keys.filter((k) => k.includes(':frame:') || k.includes(':reply:')),
          [],
          'frames and reply streams are deleted',
        );
        assert.equal(await inspect.zcard(`${prefix}:{${prefix}.frames}:completed`), 0, 'completed jobs are removed');
        assert.equal(await inspect.llen(`${prefix}:{${prefix}.frames}:wait`), 0);
        for (const w of pool) assert.equal(await w.stop(), 0, w.stderr());
      }
    } finally {
      inspect.disconnect();
    }
  });

  test('a worker killed with SIGKILL mid-batch: another takes its jobs after the stall interval; every frame exactly once', async () => {
    const config = join(dir, 'stall.yaml');
    // The analyze side waits far longer than the stall interval: recovery here is BullMQ's, not a re-send.
    writeRedisConfig(config, { lockDurationMs: 1000, stalledIntervalMs: 1000, resultTimeoutMs: 120_000, batchWaitMs: 300 });
    const env = { REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: 'stall' };
    const [victim] = await workersUp(1, env, ['--config', config, '--batch', '64']);
    const inspect = redis.client();
    try {
      const run = runCli([...ANALYZE, '--config', config, clip], { env });
      // Kill it while it holds jobs (their frames wait 300 ms for a batch to close).
      await waitFor('the worker to take jobs', async () => (await inspect.llen('stall:{stall.frames}:active')) > 0, 20_000);
      const held = await inspect.llen('stall:{stall.frames}:active');
      victim!.child.kill('SIGKILL');
      const [rescuer] = await workersUp(1, env, ['--config', config]);
      const r = await run;
      assert.equal(r.code, 0, r.stderr);
      assert.ok(held > 0);
      assertSameFrames(frameLines(r.stdout), reference, fail);
      assert.doesNotMatch(r.stderr, /sending the batch again/, 'recovered by the stalled-job check, not by a re-send');
      assert.equal(summaryOf(r.stderr).lostFrames, undefined);
      assert.equal(await rescuer!.stop(), 0, rescuer!.stderr());
    } finally {
      inspect.disconnect();
    }
  });

  test('Redis killed and restarted empty mid-run: workers and analyze reconnect, the lost frames are sent again, every frame exactly once', async () => {
    const own = await TestRedis.start();
    const config = join(dir, 'restart.yaml');
    writeRedisConfig(config, { resultTimeoutMs: 1500, batchWaitMs: 100 });
    const env = { REDIS_URL: own.url, STREAMSIGHT_REDIS_PREFIX: 'restart' };
    const inspect = own.client();
    try {
      const pool = await workersUp(2, env, ['--config', config]);
      const run = runCli([...ANALYZE, '--config', config, clip], { env });
      await waitFor('jobs in flight', async () => (await inspect.llen('restart:{restart.frames}:active').catch(() => 0)) > 0, 20_000);
      await own.stop();
      await new Promise((r) => setTimeout(r, 700));
      await own.start();
      const r = await run;
      assert.equal(r.code, 0, r.stderr);
      // Whether any batch was still in Redis at the moment it died depends on timing (on a busy
      // machine the workers may have drained it first), so the re-send itself is asserted in
      // test/integration/transport; here: the run survives the restart with every frame, once.
      assertSameFrames(frameLines(r.stdout), reference, fail);
      assert.equal(summaryOf(r.stderr).lostFrames, undefined);
      // The workers lived through it and still shut down cleanly.
      for (const w of pool) assert.equal(await w.stop(), 0, w.stderr());
    } finally {
      inspect.disconnect();
      await own.stop();
    }
  });

  test('backpressure: with no worker Redis stops growing at its bound (ffmpeg paused, no frame dropped); a worker started later completes the run', async () => {
    const config = join(dir, 'bp.yaml');
    writeRedisConfig(config, { inFlightFrames: 32, queueHighWaterJobs: 4 });
    const env = { REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: 'bp' };
    const inspect = redis.client();
    try {
      const baseline = await usedMemory(inspect);
      const run = runCli([...ANALYZE, '--config', config, clip], { env });
      await waitFor('jobs queued', async () => (await inspect.llen('bp:{bp.frames}:wait')) >= 4, 20_000);
      const samples: number[] = [];
      const frameCounts: number[] = [];
      for (let i = 0; i < 8; i++) {
        await new Promise((r) => setTimeout(r, 250));
        samples.push(await usedMemory(inspect));
        frameCounts.push((await inspect.keys('bp:frame:*')).length);
      }
      // 32 frames in flight at most: 4 batches of 8.
      assert.ok(Math.max(...frameCounts) <= 32, `frames in Redis: ${frameCounts.join(', ')}`);
      assert.ok(Math.max(...samples) - baseline < 2 * 1024 * 1024, `grew ${Math.max(...samples) - baseline} bytes`);
      // Flat: the last second adds nothing beyond noise.
      assert.ok(Math.max(...samples.slice(4)) - samples[3]! < 64 * 1024, `still growing: ${samples.join(', ')}`);
      await workersUp(1, env, ['--config', config]);
      const r = await run;
      assert.equal(r.code, 0, r.stderr);
      assertSameFrames(frameLines(r.stdout), reference, fail);
    } finally {
      inspect.disconnect();
    }
  });
});

process.on('exit', () => {
  // A failed assertion must not leave worker processes behind.
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
});
