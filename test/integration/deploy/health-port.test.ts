/**
 * `--health-port` of `streamsight worker` and `streamsight ingest`: the
 * endpoint their container health checks and Prometheus read. Real
 * processes, a real Redis of the test's own (killed and restarted to see
 * /healthz follow it), a tiny model and a clip made here.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, runCli } from '../../helpers/cli.ts';
import { makeClip } from '../../helpers/clips.ts';
import { freePort, listenOnFreePort } from '../../helpers/ports.ts';
import { TestRedis } from '../transport/redis-server.ts';
import { startWorker, writeTinyModel, type WorkerProcess } from '../../e2e/distributed-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-health-'));
const model = join(dir, 'tiny.onnx');
const clip = join(dir, 'clip.mp4');
const workers: WorkerProcess[] = [];
let redis: TestRedis;
let prefixSeq = 0;

/** A Redis key prefix no other test (or earlier case here) uses. */
function prefix(): string {
  return `health${process.pid}n${++prefixSeq}`;
}

async function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** Polls GET /healthz until it answers `status` (or fails after `ms`). */
async function healthzBecomes(port: number, status: number, ms = 15_000): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + ms;
  let last: { status: number; body: string } | string = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const r = await get(port, '/healthz');
      if (r.status === status) return r;
      last = r;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`/healthz never answered ${status} within ${ms} ms; last: ${JSON.stringify(last)}`);
}

before(async () => {
  writeTinyModel(model);
  makeClip(clip, { seconds: 2, size: '160x120', rate: 25, gop: 25 });
  redis = await TestRedis.start();
});

after(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('streamsight worker --health-port', () => {
  test('/healthz is 200 while Redis is reachable, 503 with the reason while it is not, 200 again once it is back; /metrics counts the frames inferred', async () => {
    const port = await freePort();
    const env = { REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: prefix() };
    const w = await startWorker(['--model', model, '--threads', '1', '--health-port', String(port)], env);
    workers.push(w);
    assert.match(w.stderr(), new RegExp(`health and metrics on http://127\\.0\\.0\\.1:${port}/healthz`));

    const ok = await get(port, '/healthz');
    assert.equal(ok.status, 200, ok.body);
    assert.deepEqual(JSON.parse(ok.body), { status: 'ok' });
    assert.equal((await get(port, '/readyz')).status, 200);

    // Work through the worker, then its counters show it.
    const r = await runCli(['analyze', '--model', model, '--every-frame', '--batch', '8', '--json', clip], { env });
    assert.equal(r.code, 0, r.stderr);
    const metrics = await get(port, '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain/);
    assert.match(metrics.body, /streamsight_frames_processed_total\{stream="[^"]+"\} 50\n/, 'the 50 frames of the clip');
    assert.match(metrics.body, /streamsight_execution_provider_info\{provider="cpu",model="tiny"\} 1\n/);
    assert.match(metrics.body, /process_cpu_user_seconds_total/, 'process metrics');
    assert.match(metrics.body, /streamsight_inference_seconds_count \d+/);

    await redis.stop();
    const down = await healthzBecomes(port, 503);
    assert.deepEqual(JSON.parse(down.body), { status: 'not ready', reasons: ['Redis unreachable'] });
    await redis.start();
    await healthzBecomes(port, 200, 30_000);

    assert.equal(await w.stop(), 0, w.stderr());
    await assert.rejects(get(port, '/healthz'), 'the port is closed once the worker has exited');
  });

  test('other paths are 404 and other methods 405, as JSON with a code', async () => {
    const port = await freePort();
    const w = await startWorker(['--model', model, '--threads', '1', '--health-port', String(port)], {
      REDIS_URL: redis.url,
      STREAMSIGHT_REDIS_PREFIX: prefix(),
    });
    workers.push(w);
    const missing = await get(port, '/api/streams');
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body).error.code, 'not_found');
    const post = await get(port, '/healthz', 'POST');
    assert.equal(post.status, 405);
    assert.equal(JSON.parse(post.body).error.code, 'method_not_allowed');
    assert.equal((await get(port, '/healthz', 'HEAD')).status, 200);
    assert.equal(await w.stop(), 0, w.stderr());
  });

  test('a health port in use is one line naming it (exit 2), before the model is loaded', async () => {
    const taken = createServer();
    const port = await listenOnFreePort(taken);
    try {
      const r = await runCli(['worker', '--model', join(dir, 'absent.onnx'), '--health-port', String(port)], {
        env: { REDIS_URL: redis.url },
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`error\\[E_USAGE\\]: --health-port: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      taken.close();
    }
  });

  test('--health-port takes a port number only', async () => {
    const r = await runCli(['worker', '--health-port', '70000'], { env: { REDIS_URL: redis.url }, timeoutMs: 30_000 });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--health-port must be a port, 0-65535/);
  });
});

describe('streamsight ingest --health-port', () => {
  test('a live ingest answers /healthz 200 and counts decoded frames in /metrics; SIGTERM closes the port', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'ingest', '--model', model, '--source', `clip=${clip}`, '--live', '--loop', '--health-port', String(port)], {
      cwd: ROOT,
      env: { ...process.env, STREAMSIGHT_LOG_LEVEL: 'warn', REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: prefix() },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = once(child, 'exit');
    try {
      await healthzBecomes(port, 200);
      assert.match(stderr, new RegExp(`streamsight ingest: health and metrics on http://127\\.0\\.0\\.1:${port}/healthz`));
      const deadline = Date.now() + 15_000;
      let body = '';
      while (Date.now() < deadline && !/streamsight_frames_decoded_total\{stream="clip"\} [1-9]/.test(body)) {
        body = (await get(port, '/metrics')).body;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(body, /streamsight_frames_decoded_total\{stream="clip"\} [1-9]/, `no decoded frames counted:\n${stderr}`);
      assert.match(body, /process_cpu_user_seconds_total/, 'process metrics');

      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0, stderr);
      await assert.rejects(get(port, '/healthz'));
    } finally {
      child.kill('SIGKILL');
    }
  });
});
