/**
 * Per-stream options through the real `serve`: model options (topK,
 * minScore) from the config file's sources and from POST /api/streams
 * shape what each stream publishes; POST takes rtspTransport and watchdog
 * overrides as the config does, and refuses bad bodies with one-line 400s.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { CLI, ROOT, runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { ffmpegChildrenOf } from '../helpers/processes.ts';
import { freePort } from '../helpers/ports.ts';
import { startSilentServer } from '../integration/live/servers.ts';
import { waitFor as poll, type Probe } from '../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-stream-opts-'));
const model = join(dir, 'r18.onnx');
const clip = join(dir, 'clip.mp4');
const TOKEN = 'test-token-123456';
let port = 0;
let child: ChildProcess;
let stderr = '';
let silent: Awaited<ReturnType<typeof startSilentServer>>;

interface FrameMsg {
  type: 'frame';
  stream: string;
  ptsMs: number;
  labels: Array<{ index: number; score: number }>;
}
interface StatusMsg {
  type: 'status';
  stream: string;
  state: string;
  detail?: string;
}
const frames: FrameMsg[] = [];
const statuses: StatusMsg[] = [];
let ws: WebSocket;

/** Every wait here: up to 60 s, probe errors retried (serve not listening yet), serve's stderr in the failure. */
const waitFor = <T>(what: string, probe: Probe<T>, timeoutMs = 60_000): Promise<T> =>
  poll(what, probe, { timeoutMs, intervalMs: 100, retryErrors: true, detail: () => `serve stderr:\n${stderr}` });

const url = (path: string): string => `http://127.0.0.1:${port}${path}`;
const post = (body: unknown): Promise<Response> =>
  fetch(url('/api/streams'), { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) });

before(async () => {
  makeClip(clip, { seconds: 4, rate: 10, gop: 10 });
  assert.equal((await runCli(['models', 'synth', 'resnet18', '--out', model])).code, 0);
  silent = await startSilentServer();
  const config = join(dir, 'serve.yaml');
  writeFileSync(
    config,
    [
      'allowlist:',
      '  schemes: [file, rtsp]',
      `  folders: [${JSON.stringify(dir)}]`,
      '  hosts: [127.0.0.1]',
      'sources:',
      `  - { id: base, url: ${JSON.stringify(clip)}, live: true, loop: true }`,
      `  - { id: one, url: ${JSON.stringify(clip)}, live: true, loop: true, model: { topK: 1 } }`,
      '',
    ].join('\n'),
  );
  port = await freePort();
  child = spawn(
    process.execPath,
    [CLI, 'serve', '--config', config, '--port', String(port), '--model', model, '--batch', '4', '--token', TOKEN, '--log-level', 'warn'],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await waitFor('healthz', async () => ((await fetch(url('/healthz'))).ok ? true : undefined));
  ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${TOKEN}`);
  ws.on('message', (d) => {
    const m = JSON.parse(String(d)) as { type: string };
    if (m.type === 'frame') frames.push(m as FrameMsg);
    if (m.type === 'status') statuses.push(m as StatusMsg);
  });
  await new Promise<void>((r) => ws.once('open', () => r()));
  ws.send(JSON.stringify({ type: 'subscribe', streams: '*' }));
});

after(async () => {
  ws?.close();
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  await silent?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The labels `base` (no options) published for the frame at ptsMs, if seen. */
function baseAt(ptsMs: number): FrameMsg | undefined {
  return frames.find((f) => f.stream === 'base' && f.ptsMs === ptsMs);
}

/** Frames of `stream` for which `base` published the same picture (same clip, same pts). */
async function pairs(stream: string, n: number): Promise<Array<[FrameMsg, FrameMsg]>> {
  return waitFor(`${n} frames of ${stream} paired with base`, () => {
    const out: Array<[FrameMsg, FrameMsg]> = [];
    for (const f of frames.filter((x) => x.stream === stream)) {
      const b = baseAt(f.ptsMs);
      if (b) out.push([f, b]);
    }
    return out.length >= n ? out : undefined;
  });
}

test('a config source with model.topK 1 publishes the best label only; one without publishes 5', { timeout: 120_000 }, async () => {
  for (const [one, base] of await pairs('one', 5)) {
    assert.equal(base.labels.length, 5);
    assert.deepEqual(
      one.labels.map((l) => l.index),
      [base.labels[0]!.index],
      `pts ${one.ptsMs}`,
    );
  }
});

test('POST /api/streams with model.topK and model.minScore: that stream publishes those labels, the others are unchanged', { timeout: 120_000 }, async () => {
  // A threshold between the 2nd and 3rd label of a frame base published: frames keep 1-5 labels.
  const sample = await waitFor('a base frame', () => frames.find((f) => f.stream === 'base'));
  const minScore = (sample.labels[1]!.score + sample.labels[2]!.score) / 2;
  assert.equal((await post({ id: 'top2', url: clip, live: true, loop: true, model: { topK: 2 } })).status, 201);
  assert.equal((await post({ id: 'sure', url: clip, live: true, loop: true, model: { minScore } })).status, 201);
  for (const [top2, base] of await pairs('top2', 5)) {
    assert.deepEqual(
      top2.labels.map((l) => l.index),
      base.labels.slice(0, 2).map((l) => l.index),
      `pts ${top2.ptsMs}`,
    );
  }
  // Until a frame whose labels the threshold cut is among them (the sampled frame comes round again: the clip loops).
  const checked = await waitFor('a frame of sure with labels removed', async () => {
    const got = await pairs('sure', 5);
    return got.some(([, base]) => base.labels.some((l) => l.score < minScore)) ? got : undefined;
  });
  for (const [sure, base] of checked) {
    const expected = base.labels.filter((l) => l.score >= minScore);
    assert.deepEqual(
      sure.labels.map((l) => l.index),
      expected.map((l) => l.index),
      `pts ${sure.ptsMs}, minScore ${minScore}`,
    );
  }
  assert.ok(frames.filter((f) => f.stream === 'base').every((f) => f.labels.length === 5));
});

test(
  'POST /api/streams takes rtspTransport and watchdog overrides: ffmpeg gets -rtsp_transport udp, and the stream stalls after its own startTimeoutMs',
  { timeout: 60_000 },
  async () => {
    const res = await post({
      id: 'cam',
      url: `rtsp://127.0.0.1:${silent.port}/live`,
      rtspTransport: 'udp',
      watchdog: { startTimeoutMs: 700, backoffInitialMs: 100, backoffMaxMs: 200 },
    });
    assert.equal(res.status, 201, await res.text());
    const argv = await waitFor('the rtsp ffmpeg', () => {
      for (const pid of ffmpegChildrenOf(child.pid!)) {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        if (args.some((a) => a.startsWith('rtsp://'))) return args;
      }
      return undefined;
    });
    assert.equal(argv[argv.indexOf('-rtsp_transport') + 1], 'udp');
    const down = await waitFor('cam reconnecting', () => statuses.find((s) => s.stream === 'cam' && s.state === 'reconnecting'));
    assert.match(down.detail ?? '', /stalled: no first frame for 700 ms/);
    assert.equal((await fetch(url('/api/streams/cam'), { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })).status, 204);
  },
);

test('bad per-stream options are 400s with the key and the reason on one line; nothing is added', { timeout: 30_000 }, async () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ id: 'x1', url: clip, model: { topK: 0 } }, /^model\.topK: /],
    [{ id: 'x2', url: clip, model: { minScore: 1.5 } }, /^model\.minScore: /],
    [{ id: 'x3', url: clip, model: { device: 'cuda' } }, /^model: Unrecognized key.*device/],
    [{ id: 'x4', url: clip, watchdog: { stallTimeoutMs: 'soon' } }, /^watchdog\.stallTimeoutMs: /],
    [{ id: 'x5', url: clip, watchdog: { retries: 3 } }, /^watchdog: Unrecognized key.*retries/],
    [{ id: 'x6', url: clip, rtspTransport: 'sctp' }, /^rtspTransport: /],
    [{ id: 'x7', url: clip, watchdog: { backoffInitialMs: 5000, backoffMaxMs: 1000 } }, /^watchdog: .*maxMs must be/],
    // A tuning that means a restart loop: a backoff under its floor, a stall timeout within one frame interval.
    [{ id: 'x8', url: clip, watchdog: { backoffInitialMs: 0 } }, /^watchdog\.backoffInitialMs: /],
    [
      { id: 'x9', url: clip, fps: 2, watchdog: { stallTimeoutMs: 400 } },
      /^watchdog: stallTimeoutMs \(400 ms\) must be above the sampling period \(500 ms at 2 fps\)/,
    ],
    // The start-rate bound is the server's, not the stream's.
    [{ id: 'x0', url: clip, watchdog: { maxStartsPerMinute: 1000 } }, /^watchdog: Unrecognized key.*maxStartsPerMinute/],
  ];
  for (const [body, message] of cases) {
    const res = await post(body);
    const text = await res.text();
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${text}`);
    const { error } = JSON.parse(text) as { error: { code: string; message: string } };
    assert.equal(error.code, 'bad_request');
    assert.match(error.message, message, JSON.stringify(body));
    assert.doesNotMatch(error.message, /\n/);
  }
  const ids = ((await (await fetch(url('/api/streams'))).json()) as Array<{ id: string }>).map((s) => s.id);
  assert.ok(!ids.some((id) => /^x\d$/.test(id)), ids.join(','));
});
