import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeClip, runCli } from '../helpers/cli.ts';
import { TestRedis } from '../integration/transport/redis-server.ts';
import { startWorker, writeRedisConfig, writeTinyModel, type WorkerProcess } from './distributed-helpers.ts';
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
    assert.deepEqual(JSON.parse(again.stdout.trim().split('\n').at(-1)!), { ...JSON.parse(again.stdout.trim().split('\n').at(-1)!), skipped: 2, indexed: 0, frames: 0 });
    assertSameIndex(readIndex(remote), want, 1e-4);
    assert.equal(await worker.stop(), 0);
    worker = undefined;
  });

  test('Redis unreachable: one error line, non-zero exit, and no video recorded as failed (so a rerun does not skip them as failed)', async () => {
    const file = join(dir, 'unreachable.db');
    const config = join(dir, 'unreachable.yaml');
    writeRedisConfig(config, { unavailableTimeoutMs: 1000 });
    const r = await runCli(['index', ...FLAGS, '--config', config, '--redis', 'redis://127.0.0.1:1', '--index', file, videos], { env: { STREAMSIGHT_REDIS_PREFIX: 'idx2' } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^error\[E_REDIS_UNAVAILABLE\]: .*$/m, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    const contents = readIndex(file);
    assert.deepEqual(contents.videos.filter((v) => v.status === 'failed'), []);
  });
});
