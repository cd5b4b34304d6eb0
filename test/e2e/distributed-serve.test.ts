import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { CLI, ROOT } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { ffmpegChildrenOf } from '../helpers/processes.ts';
import { freePort } from '../helpers/ports.ts';
import { TestRedis } from '../integration/transport/redis-server.ts';
import { startWorker, writeTinyModel, type WorkerProcess } from './distributed-helpers.ts';
import { waitFor as poll, type Probe } from '../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-dserve-'));
const model = join(dir, 'tiny.onnx');
const clip = join(dir, 'clip.mp4');
const other = join(dir, 'other.mp4');
const TOKEN = 'dist-token-123456';
let redis: TestRedis;
let worker: WorkerProcess;
let serve: ChildProcess;
let port = 0;
let stderr = '';
const children: ChildProcess[] = [];

type Message = { type: string; [k: string]: unknown };

/** Every wait here: up to 60 s, probe errors retried (serve not listening yet), serve's stderr in the failure. */
const waitFor = <T>(what: string, probe: Probe<T>, timeoutMs = 60_000): Promise<T> =>
  poll(what, probe, { timeoutMs, intervalMs: 100, retryErrors: true, detail: () => `serve stderr:\n${stderr}` });

function spawnCli(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, STREAMSIGHT_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let text = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (text += d));
  return { child, stderr: () => text };
}

const url = (path: string): string => `http://127.0.0.1:${port}${path}`;
const post = (body: unknown, token?: string, base = url('/api/streams')): Promise<Response> =>
  fetch(base, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });

async function feed(): Promise<{ ws: WebSocket; messages: Message[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${TOKEN}`);
  const messages: Message[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(String(d)) as Message));
  await once(ws, 'open');
  ws.send(JSON.stringify({ type: 'subscribe', streams: '*', topK: 3 }));
  return { ws, messages };
}

before(async () => {
  writeTinyModel(model);
  makeClip(clip, { seconds: 3, size: '160x120', rate: 10, gop: 10 });
  makeClip(other, { seconds: 2, size: '160x120', rate: 10, gop: 10 });
  redis = await TestRedis.start();
  const env = { REDIS_URL: redis.url };
  worker = await startWorker(['--model', model, '--threads', '1'], env);
  const config = join(dir, 'serve.yaml');
  writeFileSync(config, `allowlist:\n  schemes: [file]\n  folders: [${JSON.stringify(dir)}]\n`);
  port = await freePort();
  const s = spawnCli(
    [
      'serve',
      '--redis',
      redis.url,
      '--config',
      config,
      '--port',
      String(port),
      '--model',
      model,
      '--source',
      `cam1=${clip}`,
      '--live',
      '--loop',
      '--token',
      TOKEN,
      '--log-level',
      'warn',
    ],
    {},
  );
  serve = s.child;
  s.child.stderr!.on('data', () => (stderr = s.stderr()));
  await waitFor('healthz', async () => ((await fetch(url('/healthz'))).ok ? true : undefined));
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  worker?.child.kill('SIGKILL');
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('streamsight serve --redis (ingest + gateway here, inference by a worker process)', () => {
  test('the WebSocket feed: hello lists the stream, frames of it arrive with labels inferred by the worker', async () => {
    const { ws, messages } = await feed();
    try {
      await waitFor('3 frames of cam1', async () => (messages.filter((m) => m.type === 'frame' && m.stream === 'cam1').length >= 3 ? true : undefined));
      assert.equal(messages[0]!.type, 'hello');
      assert.deepEqual(
        (messages[0]!.streams as { id: string }[]).map((s) => s.id),
        ['cam1'],
      );
      const frame = messages.find((m) => m.type === 'frame')!;
      assert.equal((frame.labels as unknown[]).length, 3);
      assert.ok(typeof frame.latencyMs === 'number' && frame.latencyMs >= 0);
      assert.equal((await fetch(url('/readyz'))).status, 200);
      // The worker, not this process, ran inference: it counts the jobs it completed.
      assert.match(worker.stderr(), /streamsight worker: ready/);
    } finally {
      ws.close();
    }
  });

  test('a snapshot of the latest decoded frame is a JPEG; an unknown stream is 404', async () => {
    const snap = await fetch(url('/api/streams/cam1/snapshot.jpg'));
    assert.equal(snap.status, 200);
    assert.equal(snap.headers.get('content-type'), 'image/jpeg');
    const bytes = Buffer.from(await snap.arrayBuffer());
    assert.deepEqual([bytes[0], bytes[1]], [0xff, 0xd8]);
    assert.equal((await fetch(url('/api/streams/nope/snapshot.jpg'))).status, 404);
  });

  test('POST adds a stream (token and allowlist checked) that then produces frames; DELETE stops its ffmpeg and removes it', async () => {
    assert.equal((await post({ id: 'cam2', url: other })).status, 401);
    assert.equal((await post({ id: 'cam2', url: '/etc/passwd' }, TOKEN)).status, 403);
    assert.equal((await post({ id: 'cam2', url: `concat:${other}|/etc/passwd` }, TOKEN)).status, 403);
    assert.equal((await post({ id: 'cam2', url: 'rtsp://10.1.2.3/x' }, TOKEN)).status, 403);
    assert.equal((await post({ id: 'cam1', url: other }, TOKEN)).status, 409);
    assert.equal(ffmpegChildrenOf(serve.pid!).length, 1);
    const { ws, messages } = await feed();
    try {
      const created = await post({ id: 'cam2', url: other, live: true, loop: true }, TOKEN);
      assert.equal(created.status, 201, await created.clone().text());
      assert.equal(((await created.json()) as { id: string }).id, 'cam2');
      await waitFor('3 frames of cam2', async () => (messages.filter((m) => m.type === 'frame' && m.stream === 'cam2').length >= 3 ? true : undefined));
      const listed = (await (await fetch(url('/api/streams'))).json()) as { id: string; state: string }[];
      assert.deepEqual(listed.map((s) => s.id).sort(), ['cam1', 'cam2']);
      assert.equal(listed.find((s) => s.id === 'cam2')!.state, 'live');
      const snap = await fetch(url('/api/streams/cam2/snapshot.jpg'));
      assert.equal(snap.status, 200);
      assert.equal(ffmpegChildrenOf(serve.pid!).length, 2);

      assert.equal((await fetch(url('/api/streams/cam2'), { method: 'DELETE' })).status, 401);
      assert.equal((await fetch(url('/api/streams/cam2'), { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })).status, 204);
      assert.equal((await fetch(url('/api/streams/cam2'), { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
      const after = (await (await fetch(url('/api/streams'))).json()) as { id: string }[];
      assert.deepEqual(
        after.map((s) => s.id),
        ['cam1'],
      );
      assert.equal((await fetch(url('/api/streams/cam2/snapshot.jpg'))).status, 404);
      assert.equal(ffmpegChildrenOf(serve.pid!).length, 1, "the removed stream's ffmpeg is gone");
      // Its results still in flight are not shown; the other stream goes on.
      const mark = messages.length;
      await waitFor('more frames of cam1', async () =>
        messages.slice(mark).filter((m) => m.type === 'frame' && m.stream === 'cam1').length >= 2 ? true : undefined,
      );
      assert.equal(messages.slice(mark).filter((m) => m.type === 'frame' && m.stream === 'cam2').length, 0);
      // Added again under the same id, it produces frames again.
      assert.equal((await post({ id: 'cam2', url: other, live: true }, TOKEN)).status, 201);
      const mark2 = messages.length;
      await waitFor('frames of cam2 again', async () => (messages.slice(mark2).some((m) => m.type === 'frame' && m.stream === 'cam2') ? true : undefined));
      assert.equal((await fetch(url('/api/streams/cam2'), { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })).status, 204);
    } finally {
      ws.close();
    }
  });

  test('per-stream options over POST as in embedded serve: model.topK shapes what the stream publishes; a watchdog tuning the watchdog refuses is a 400 and adds nothing', async () => {
    const bad = await post({ id: 'x7', url: other, watchdog: { backoffInitialMs: 5000, backoffMaxMs: 1000 } }, TOKEN);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /^watchdog: .*maxMs must be/);
    assert.equal((await fetch(url('/api/streams/x7'))).status, 404);
    const { ws, messages } = await feed();
    try {
      const created = await post({ id: 'top1', url: other, live: true, loop: true, model: { topK: 1 } }, TOKEN);
      assert.equal(created.status, 201, await created.clone().text());
      await waitFor('3 frames of top1', async () => (messages.filter((m) => m.type === 'frame' && m.stream === 'top1').length >= 3 ? true : undefined));
      await waitFor('a frame of cam1 after it', async () => (messages.some((m) => m.type === 'frame' && m.stream === 'cam1') ? true : undefined));
      for (const m of messages.filter((x) => x.type === 'frame')) {
        // The client asked for 3; the stream itself publishes 1; the other stream is untouched.
        assert.equal((m.labels as unknown[]).length, m.stream === 'top1' ? 1 : 3, `${String(m.stream)} seq ${String(m.seq)}`);
      }
      assert.equal((await fetch(url('/api/streams/top1'), { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })).status, 204);
    } finally {
      ws.close();
    }
  });

  test('standalone `streamsight gateway` lists the streams but refuses POST/DELETE, naming serve --redis and ingest', async () => {
    const gport = await freePort();
    const g = spawnCli(['gateway', '--redis', redis.url, '--port', String(gport)], {});
    const gurl = `http://127.0.0.1:${gport}`;
    await waitFor('gateway healthz', async () => ((await fetch(`${gurl}/healthz`)).ok ? true : undefined));
    // It knows cam1 once an entry of it has passed by.
    await waitFor('cam1 on the gateway', async () =>
      ((await (await fetch(`${gurl}/api/streams`)).json()) as { id: string }[]).some((s) => s.id === 'cam1') ? true : undefined,
    );
    const res = await post({ id: 'cam9', url: other }, undefined, `${gurl}/api/streams`);
    assert.equal(res.status, 405);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'not_here');
    assert.match(body.error.message, /serve --redis/);
    assert.match(body.error.message, /ingest/);
    const del = await fetch(`${gurl}/api/streams/cam1`, { method: 'DELETE' });
    assert.equal(del.status, 405);
    assert.match(((await del.json()) as { error: { message: string } }).error.message, /serve --redis/);
    const exited = once(g.child, 'exit');
    g.child.kill('SIGTERM');
    assert.equal((await exited)[0], 0, g.stderr());
  });

  test('SIGTERM: serve --redis exits 0 and leaves no ffmpeg behind; the worker still stops cleanly', async () => {
    const pid = serve.pid!;
    const exited = once(serve, 'exit');
    serve.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, stderr);
    assert.deepEqual(ffmpegChildrenOf(pid), []);
    assert.equal(await worker.stop(), 0, worker.stderr());
  });
});
