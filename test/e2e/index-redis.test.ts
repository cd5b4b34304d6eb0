import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { TestRedis } from '../integration/transport/redis-server.ts';
import { frameLines, startWorker, writeRedisConfig, writeTinyModel, type WorkerProcess } from './distributed-helpers.ts';
import { assertSameIndex, readIndex } from './index-contents.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-index-redis-'));
const videos = join(dir, 'videos');
const model = join(dir, 'tiny.onnx');
const FLAGS = ['--model', model, '--fps', '5', '--batch', '4', '--json'];
let redis: TestRedis;
let worker: WorkerProcess | undefined;

before(async () => {
  mkdirSync(videos);
  writeTinyModel(model);
  makeClip(join(videos, 'a.mp4'), { seconds: 6, size: '160x120' });
  makeClip(join(videos, 'b.mp4'), { seconds: 4, size: '160x120', source: 'testsrc=size=160x120:rate=25' });
  redis = await TestRedis.start();
});

after(async () => {
  worker?.child.kill('SIGKILL');
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('index --redis (decode here, infer in streamsight worker processes)', () => {
  test('with one worker, the index equals the embedded one: same videos, frames, labels, thumbnails and segments; embeddings within 1e-4', async () => {
    const embedded = join(dir, 'embedded.db');
    const e = await runCli(['index', ...FLAGS, '--device', 'cpu', '--threads', '1', '--index', embedded, videos]);
    assert.equal(e.code, 0, e.stderr);

    const env = { STREAMSIGHT_REDIS_PREFIX: 'idx1' };
    worker = await startWorker(['--model', model, '--threads', '1'], { ...env, REDIS_URL: redis.url });
    const remote = join(dir, 'remote.db');
    const r = await runCli(['index', ...FLAGS, '--redis', redis.url, '--index', remote, videos], { env });
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { indexed: number; frames: number; device: string };
    assert.equal(summary.indexed, 2);
    assert.equal(summary.frames, 50, '6 s + 4 s at 5 frames/s');
    const want = readIndex(embedded);
    assert.equal(want.frames.length, 50);
    assertSameIndex(readIndex(remote), want, 1e-4);

    // REDIS_URL does the same as --redis; the unchanged folder is skipped, not sent to the workers again.
    const again = await runCli(['index', ...FLAGS, '--index', remote, videos], { env: { ...env, REDIS_URL: redis.url } });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout.trim().split('\n').at(-1)!), {
      ...JSON.parse(again.stdout.trim().split('\n').at(-1)!),
      skipped: 2,
      indexed: 0,
      frames: 0,
    });
    assertSameIndex(readIndex(remote), want, 1e-4);
    assert.equal(await worker.stop(), 0);
    worker = undefined;
  });

  test('Redis unreachable: one error line, non-zero exit, and no video recorded as failed (so a rerun does not skip them as failed)', async () => {
    const file = join(dir, 'unreachable.db');
    const config = join(dir, 'unreachable.yaml');
    writeRedisConfig(config, { unavailableTimeoutMs: 1000 });
    const r = await runCli(['index', ...FLAGS, '--config', config, '--redis', 'redis://127.0.0.1:1', '--index', file, videos], {
      env: { STREAMSIGHT_REDIS_PREFIX: 'idx2' },
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^error\[E_REDIS_UNAVAILABLE\]: .*$/m, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    const contents = readIndex(file);
    assert.deepEqual(
      contents.videos.filter((v) => v.status === 'failed'),
      [],
    );
  });
  test('no worker running: SIGINT stops index --redis and analyze --redis (they used to wait for results forever); the frames stay queued, and a rerun with a worker completes the index', async () => {
    const embedded = join(dir, 'embedded-stop.db');
    const e = await runCli(['index', ...FLAGS, '--device', 'cpu', '--threads', '1', '--index', embedded, videos]);
    assert.equal(e.code, 0, e.stderr);
    const prefix = 'idxstop';
    const env = { STREAMSIGHT_REDIS_PREFIX: prefix, STREAMSIGHT_LOG_LEVEL: 'info' };
    const probe = redis.client();
    const interruptOnceQueued = async (args: string[]): Promise<CliResult> => {
      let pid = 0;
      const run = runCli([...args, '--redis', redis.url], { env, onSpawn: (p) => (pid = p), timeoutMs: 60_000 });
      const deadline = Date.now() + 30_000;
      while ((await probe.llen(`${prefix}:{${prefix}.frames}:wait`)) < 2) {
        assert.ok(Date.now() < deadline, 'no batch queued after 30 s');
        await sleep(20);
      }
      process.kill(pid, 'SIGINT');
      return run;
    };
    try {
      const file = join(dir, 'stopped.db');
      const index = await interruptOnceQueued(['index', ...FLAGS, '--index', file, videos]);
      assert.equal(index.signal, null, `index had to be killed: ${index.stderr}`);
      assert.equal(index.code, 130, index.stderr);
      assert.match(index.stderr, /stopped: frames sent had no result yet; they stay queued for the workers/);
      assert.match(index.stdout, /"interrupted":true/);

      // What index left queued stays there for the workers; cleared so that analyze's own batches are waited for.
      await probe.del(`${prefix}:{${prefix}.frames}:wait`);
      const analyze = await interruptOnceQueued(['analyze', ...FLAGS, videos + '/a.mp4']);
      assert.equal(analyze.signal, null, `analyze had to be killed: ${analyze.stderr}`);
      assert.equal(analyze.code, 130, analyze.stderr);
      assert.equal(frameLines(analyze.stdout).length, 0, 'no frame had a result');
      assert.match(analyze.stderr, /"interrupted":true/);

      await probe.del(`${prefix}:{${prefix}.frames}:wait`);
      worker = await startWorker(['--model', model, '--threads', '1'], { STREAMSIGHT_REDIS_PREFIX: prefix, REDIS_URL: redis.url });
      const rerun = await runCli(['index', ...FLAGS, '--redis', redis.url, '--index', file, videos], { env });
      assert.equal(rerun.code, 0, rerun.stderr);
      assertSameIndex(readIndex(file), readIndex(embedded), 1e-4);
      assert.equal(await worker.stop(), 0);
      worker = undefined;
    } finally {
      probe.disconnect();
    }
  });
});
