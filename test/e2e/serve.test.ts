import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { CLI, ROOT, runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { freePort } from '../helpers/ports.ts';
import { ffmpegChildrenOf } from '../helpers/processes.ts';
import { waitFor as poll, type Probe } from '../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-serve-'));
const model = join(dir, 'r18.onnx');
const clip = join(dir, 'clip.mp4');
const other = join(dir, 'other.mp4');
const TOKEN = 'test-token-123456';
let port = 0;
let child: ChildProcess;
let stderr = '';

/** Every wait here: up to 60 s, probe errors retried (serve not listening yet), serve's stderr in the failure. */
const waitFor = <T>(what: string, probe: Probe<T>, timeoutMs = 60_000): Promise<T> =>
  poll(what, probe, { timeoutMs, intervalMs: 200, retryErrors: true, detail: () => `serve stderr:\n${stderr}` });

const url = (path: string): string => `http://127.0.0.1:${port}${path}`;

before(async () => {
  makeClip(clip, { seconds: 3, rate: 10, gop: 10 });
  makeClip(other, { seconds: 2, rate: 10, gop: 10 });
  assert.equal((await runCli(['models', 'synth', 'resnet18', '--out', model])).code, 0);
  const config = join(dir, 'serve.yaml');
  writeFileSync(config, `allowlist:\n  schemes: [file]\n  folders: [${JSON.stringify(dir)}]\n`);
  port = await freePort();
  child = spawn(
    process.execPath,
    [
      CLI,
      'serve',
      '--config',
      config,
      '--port',
      String(port),
      '--model',
      model,
      '--batch',
      '4',
      '--source',
      `cam1=${clip}`,
      '--live',
      '--loop',
      '--token',
      TOKEN,
      '--log-level',
      'warn',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await waitFor('healthz', async () => ((await fetch(url('/healthz'))).ok ? true : undefined));
});

after(() => {
  if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('streamsight serve', () => {
  test('health, readiness and the stream list', async () => {
    assert.equal((await fetch(url('/healthz'))).status, 200);
    assert.equal((await fetch(url('/readyz'))).status, 200);
    const streams = (await (await fetch(url('/api/streams'))).json()) as Array<{ id: string; state: string; model: string; fps: number }>;
    assert.equal(streams.length, 1);
    assert.equal(streams[0]!.id, 'cam1');
    assert.equal(streams[0]!.fps, 5);
  });

  test('the WebSocket feed: hello, then frames of the live stream, token required', async () => {
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    assert.equal(refused, 401);

    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${TOKEN}`);
    const messages: Array<{ type: string; [k: string]: unknown }> = [];
    ws.on('message', (d) => messages.push(JSON.parse(String(d)) as { type: string }));
    await new Promise<void>((r) => ws.once('open', () => r()));
    ws.send(JSON.stringify({ type: 'subscribe', streams: ['cam1'], topK: 3 }));
    await waitFor('3 frames', async () => (messages.filter((m) => m.type === 'frame').length >= 3 ? true : undefined), 30_000);
    assert.equal(messages[0]!.type, 'hello');
    const frame = messages.find((m) => m.type === 'frame')!;
    assert.equal(frame.stream, 'cam1');
    assert.equal((frame.labels as unknown[]).length, 3);
    assert.ok(typeof frame.latencyMs === 'number' && frame.latencyMs >= 0);
    // --loop: the 3 s clip restarts as a new run whose seq counts from 0 again.
    const firstRun = frame.run;
    const next = await waitFor('a second run', async () => messages.find((m) => m.type === 'frame' && m.run !== firstRun), 30_000);
    const secondRun = messages.filter((m) => m.type === 'frame' && m.run === next.run);
    // Seq counts again from 0 (live semantics may drop the very first frames under load).
    assert.ok((secondRun[0]!.seq as number) < 5, `second run starts at seq ${String(secondRun[0]!.seq)}`);
    ws.close();
  });

  test('a snapshot of the latest frame as JPEG, metrics with the execution provider', async () => {
    const snap = await fetch(url('/api/streams/cam1/snapshot.jpg'));
    assert.equal(snap.status, 200);
    assert.equal(snap.headers.get('content-type'), 'image/jpeg');
    const bytes = Buffer.from(await snap.arrayBuffer());
    assert.equal(bytes[0], 0xff);
    assert.equal(bytes[1], 0xd8);
    assert.equal((await fetch(url('/api/streams/nope/snapshot.jpg'))).status, 404);
    const metrics = await (await fetch(url('/metrics'))).text();
    assert.match(metrics, /streamsight_execution_provider_info\{provider="cpu",model="r18"\} 1/);
    assert.match(metrics, /streamsight_frames_processed_total\{stream="cam1"\} [1-9]/);
  });

  test('POST /api/streams needs the token and obeys the allowlist; DELETE removes', async () => {
    const post = (body: unknown, token?: string): Promise<Response> =>
      fetch(url('/api/streams'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
    assert.equal((await post({ id: 'cam2', url: other })).status, 401);
    assert.equal((await post({ id: 'cam2', url: '/etc/passwd' }, TOKEN)).status, 403);
    assert.equal((await post({ id: 'cam2', url: `concat:${other}|/etc/passwd` }, TOKEN)).status, 403);
    assert.equal((await post({ id: 'cam2', url: 'rtsp://10.1.2.3/x' }, TOKEN)).status, 403);
    assert.equal((await post({ id: '../x', url: other }, TOKEN)).status, 400);
    const created = await post({ id: 'cam2', url: other, live: true }, TOKEN);
    assert.equal(created.status, 201, await created.clone().text());
    assert.equal((await post({ id: 'cam2', url: other }, TOKEN)).status, 409);
    const ids = ((await (await fetch(url('/api/streams'))).json()) as Array<{ id: string }>).map((s) => s.id).sort();
    assert.deepEqual(ids, ['cam1', 'cam2']);
    assert.equal((await fetch(url('/api/streams/cam2'), { method: 'DELETE' })).status, 401);
    assert.equal((await fetch(url('/api/streams/cam2'), { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })).status, 204);
    assert.equal((await fetch(url('/api/streams/cam2'))).status, 404);
  });

  test('SIGTERM: exits 0 and leaves no ffmpeg behind', async () => {
    const children = ffmpegChildrenOf(child.pid!);
    assert.ok(children.length >= 1, 'the live stream runs ffmpeg');
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    for (const c of children) assert.throws(() => process.kill(c, 0), /ESRCH/);
  });
});
