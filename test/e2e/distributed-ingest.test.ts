import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResultFrame } from '../../src/contracts/transport.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { connect } from '../../src/transport/redis-connections.ts';
import { redisNames } from '../../src/transport/redis-keys.ts';
import { ResultReader } from '../../src/transport/result-stream.ts';
import { runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { TestRedis } from '../integration/transport/redis-server.ts';
import { frameLines, startWorker, writeRedisConfig, writeTinyModel, type WorkerProcess } from './distributed-helpers.ts';
import type { FrameLine } from '../../src/contracts/analyze-output.ts';
import { waitFor } from '../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-dingest-'));
const model = join(dir, 'tiny.onnx');
const otherModel = join(dir, 'other.onnx');
const clip = join(dir, 'clip.mp4');
const FPS = ['--fps', '10'];
const workers: WorkerProcess[] = [];
let reference: FrameLine[];

interface Collected {
  frames: Map<string, ResultFrame[]>;
  states: string[];
  close(): Promise<void>;
}

/** Reads the shared results stream the way a gateway does (through Redis restarts), from its start. */
function collect(url: string, prefix: string): Collected {
  const client = connect(url, 'worker', 'test-collector');
  const frames = new Map<string, ResultFrame[]>();
  const states: string[] = [];
  const reader = new ResultReader({
    client,
    streamKey: redisNames(prefix).resultsStream,
    from: '0',
    logger: createLogger({ level: 'silent' }),
    onEntry: (e) => {
      if (e.kind === 'status') states.push(e.state);
      if (e.kind !== 'frames') return;
      for (const f of e.frames) frames.set(`${e.run}/${f.seq}`, [...(frames.get(`${e.run}/${f.seq}`) ?? []), f]);
    },
  });
  return {
    frames,
    states,
    async close() {
      await reader.close();
      client.disconnect();
    },
  };
}

before(async () => {
  writeTinyModel(model);
  writeTinyModel(otherModel);
  makeClip(clip, { seconds: 6, size: '160x120', rate: 25, gop: 25 });
  const r = await runCli(['analyze', '--model', model, ...FPS, '--json', clip]);
  assert.equal(r.code, 0, r.stderr);
  reference = frameLines(r.stdout);
  assert.ok(reference.length >= 55, `reference frames: ${reference.length}`);
});

after(() => {
  for (const w of workers) w.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('streamsight ingest of a file (distributed)', () => {
  test('Redis killed and restarted empty while every job waits: ingest sends the lost batches again and every frame gets its result, as embedded analyze labels it', async () => {
    const redis = await TestRedis.start();
    const config = join(dir, 'restart.yaml');
    writeRedisConfig(config, { resultTimeoutMs: 1000, unavailableTimeoutMs: 60_000 });
    const env = { REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: 'ing' };
    const seen = collect(redis.url, 'ing');
    const inspect = redis.client();
    try {
      const run = runCli(['ingest', '--config', config, '--model', model, ...FPS, '--source', `clip=${clip}`], { env });
      // No worker yet: every batch waits in the queue, which then dies with Redis.
      await waitFor('all batches queued', async () => (await inspect.llen('ing:{ing.frames}:wait').catch(() => 0)) >= Math.floor(reference.length / 8));
      // A key of the test's own: gone after the restart whatever ingest sends again meanwhile (it may resend at once).
      await inspect.set('test:before-restart', '1');
      await redis.stop();
      await new Promise((r) => setTimeout(r, 500));
      await redis.start();
      assert.equal(await inspect.exists('test:before-restart').catch(() => -1), 0, 'the restarted Redis is empty');
      workers.push(await startWorker(['--model', model, '--threads', '1', '--config', config], env));
      const r = await run;
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /batch\(es\) \(\d+ frame\(s\)\) sent again/);
      assert.match(r.stderr, new RegExp(`clip: ended .* ${reference.length} frame\\(s\\) decoded`));
      await waitFor('every result read', async () => seen.frames.size >= reference.length, 10_000).catch(() => undefined);
      const runs = new Set([...seen.frames.keys()].map((k) => k.split('/')[0]));
      assert.equal(runs.size, 1, 'one run');
      const run0 = [...runs][0]!;
      assert.equal(seen.frames.size, reference.length, 'every frame has a result');
      reference.forEach((want, seq) => {
        const got = seen.frames.get(`${run0}/${seq}`);
        assert.ok(got, `seq ${seq} has no result`);
        // Delivered at least once (consumers dedupe); each delivery says the same.
        for (const g of got) {
          assert.equal(g.ptsMs, want.ptsMs, `seq ${seq} ptsMs`);
          assert.deepEqual(
            g.labels.slice(0, want.labels.length).map((l) => l.index),
            want.labels.map((l) => l.index),
            `seq ${seq} labels`,
          );
        }
      });
      assert.equal(seen.states.at(-1), 'ended', 'announced ended once every result was in');
      assert.equal(await workers.at(-1)!.stop(), 0);
    } finally {
      await seen.close();
      inspect.disconnect();
      await redis.stop();
    }
  });

  for (const { name, inFlightFrames } of [
    { name: 'waiting for the last results', inFlightFrames: 1000 },
    { name: 'holding ffmpeg with its window full', inFlightFrames: 8 },
  ]) {
    test(`no worker running: SIGTERM stops a file ingest ${name}, and it says how many frames are left queued for the workers`, async () => {
      const redis = await TestRedis.start();
      const prefix = `nowork${inFlightFrames}`;
      const config = join(dir, `${prefix}.yaml`);
      writeRedisConfig(config, { inFlightFrames });
      const env = { REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: prefix };
      const probe = connect(redis.url, 'worker', 'test-probe');
      try {
        let pid = 0;
        const running = runCli(['ingest', '--config', config, '--model', model, ...FPS, '--source', `clip=${clip}`], {
          env,
          onSpawn: (p) => (pid = p),
          timeoutMs: 90_000,
        });
        // Every frame the window lets through is queued (no worker takes them): then ingest can only wait.
        const expected = Math.min(inFlightFrames, reference.length);
        const waitKey = `${prefix}:${redisNames(prefix).framesQueue}:wait`;
        let queuedFrames = 0;
        await waitFor(`${expected} frames queued`, async () => {
          const jobs = await probe.lrange(waitKey, 0, -1);
          queuedFrames = 0;
          for (const jobId of jobs) {
            const data = await probe.hget(`${prefix}:${redisNames(prefix).framesQueue}:${jobId}`, 'data');
            queuedFrames += data ? (JSON.parse(data) as { frames: unknown[] }).frames.length : 0;
          }
          return queuedFrames >= expected;
        });
        await new Promise((r) => setTimeout(r, 500));
        process.kill(pid, 'SIGTERM');
        const r = await running;
        assert.equal(r.signal, null, `ingest had to be killed: ${r.stderr}`);
        assert.equal(r.code, 0, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(`clip: ended \\(stopped\\) · \\d+ frame\\(s\\) decoded · ${queuedFrames} without a result yet \\(left queued for the workers\\)`),
        );
      } finally {
        probe.disconnect();
        await redis.stop();
      }
    });
  }

  test('frames that fail on every send are counted and named, and ingest exits 13 (never a silent skip)', async () => {
    const redis = await TestRedis.start();
    const config = join(dir, 'lost.yaml');
    writeRedisConfig(config, { maxResends: 1, resultTimeoutMs: 5000 });
    const env = { REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: 'lost' };
    try {
      // A worker of another model refuses every job (bad data: no retry storm), so no frame can get a result.
      workers.push(await startWorker(['--model', otherModel, '--threads', '1'], env));
      const r = await runCli(['ingest', '--config', config, '--model', model, ...FPS, '--source', `clip=${clip}`], { env });
      assert.equal(r.code, 13, r.stderr);
      assert.match(r.stderr, new RegExp(`error\\[E_FRAMES_LOST\\]: clip: ${reference.length} frame\\(s\\) got no result: seq 0 \\(0 ms\\), seq 1 `));
      assert.match(r.stderr, /E_BAD_JOB/);
      assert.equal(await workers.at(-1)!.stop(), 0);
    } finally {
      await redis.stop();
    }
  });
});

process.on('exit', () => {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
});
