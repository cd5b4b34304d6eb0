import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FrameLine } from '../../src/contracts/analyze-output.ts';
import { runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { TestRedis } from '../integration/transport/redis-server.ts';
import { assertSameFrames, frameLines, startWorker, writeRedisConfig, writeTinyModel, type WorkerProcess } from './distributed-helpers.ts';

// A worker stopped (SIGTERM) while its Redis is down used to wait for Redis in
// BullMQ's graceful close until its own 30 s guard, then exit 1 ("worker
// shutdown took over 30 s"), longer than a container's stop grace period.

const dir = mkdtempSync(join(tmpdir(), 'ss-wstop-'));
const model = join(dir, 'tiny.onnx');
const clip = join(dir, 'clip.mp4');
const ANALYZE = ['analyze', '--model', model, '--every-frame', '--batch', '8', '--json'];
const STOP_WITHIN_MS = 15_000;
const workers: WorkerProcess[] = [];
let reference: FrameLine[];

const fail = (msg: string): never => assert.fail(msg);

/** SIGTERM; resolves with the exit code and how long the worker took to exit. */
async function stopTimed(w: WorkerProcess): Promise<{ code: number | null; ms: number }> {
  const started = performance.now();
  const timer = setTimeout(() => w.child.kill('SIGKILL'), 40_000);
  try {
    const code = await w.stop();
    return { code, ms: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

before(async () => {
  writeTinyModel(model);
  makeClip(clip, { seconds: 4, size: '160x120', rate: 25, gop: 25 });
  const r = await runCli([...ANALYZE, clip]);
  assert.equal(r.code, 0, r.stderr);
  reference = frameLines(r.stdout);
  assert.equal(reference.length, 100);
});

after(() => {
  for (const w of workers) w.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('streamsight worker stopped while Redis is down', () => {
  test('an idle worker stops at once with exit 0, not after waiting for Redis', async () => {
    const redis = await TestRedis.start();
    try {
      const w = await startWorker(['--model', model, '--threads', '1'], { REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: 'wstop' });
      workers.push(w);
      await redis.stop();
      await new Promise((r) => setTimeout(r, 500));
      const { code, ms } = await stopTimed(w);
      assert.equal(code, 0, w.stderr());
      assert.ok(ms < STOP_WITHIN_MS, `stopped after ${Math.round(ms)} ms:\n${w.stderr()}`);
      assert.match(w.stderr(), /streamsight worker: stopped/);
      assert.doesNotMatch(w.stderr(), /\n\s+at /, 'no stack trace');
    } finally {
      await redis.stop();
    }
  });

  test('a worker holding jobs stops with exit 0; with Redis back (empty) another worker completes the run, every frame once', async () => {
    const redis = await TestRedis.start();
    const config = join(dir, 'busy.yaml');
    // The batch (64 frames) never fills from 4 jobs of 8: the jobs stay active for batchWaitMs.
    writeRedisConfig(config, { resultTimeoutMs: 1000, batchWaitMs: 4000, lockDurationMs: 2000, stalledIntervalMs: 1000 });
    const env = { REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: 'wbusy' };
    const inspect = redis.client();
    try {
      const victim = await startWorker(['--model', model, '--threads', '1', '--batch', '64', '--config', config], env);
      workers.push(victim);
      const run = runCli([...ANALYZE, '--config', config, clip], { env });
      const deadline = Date.now() + 30_000;
      while ((await inspect.llen('wbusy:{wbusy.frames}:active').catch(() => 0)) === 0) {
        if (Date.now() > deadline) assert.fail('no job became active');
        await new Promise((r) => setTimeout(r, 10));
      }
      await redis.stop();
      await new Promise((r) => setTimeout(r, 300));
      const { code, ms } = await stopTimed(victim);
      assert.equal(code, 0, victim.stderr());
      assert.ok(ms < STOP_WITHIN_MS, `stopped after ${Math.round(ms)} ms:\n${victim.stderr()}`);
      assert.doesNotMatch(victim.stderr(), /\n\s+at /, 'no stack trace');
      await redis.start();
      const rescuer = await startWorker(['--model', model, '--threads', '1', '--config', config], env);
      workers.push(rescuer);
      const r = await run;
      assert.equal(r.code, 0, r.stderr);
      assertSameFrames(frameLines(r.stdout), reference, fail);
      assert.equal(await rescuer.stop(), 0, rescuer.stderr());
    } finally {
      inspect.disconnect();
      await redis.stop();
    }
  });
});
