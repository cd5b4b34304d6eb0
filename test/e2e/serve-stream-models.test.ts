/**
 * A model per stream through the real `serve` (real ffmpeg, real ONNX
 * Runtime, synthesized ResNet-18s): a config source and a POSTed one with
 * `model.name` run on their own model, decoded to its input size, with the
 * labels `streamsight analyze --model` gives on the same clip, while the
 * default-model stream keeps its own; a model that cannot be loaded leaves
 * that stream out with one line (start-up) or a 4xx (POST) and the others go
 * on; the extra engine is closed with its last stream and at SIGTERM. A
 * source with its own `model.preprocess` gets an engine of its own for the
 * default model, with analyze's labels under the same flags.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { CLI, ROOT, runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { ffmpegChildrenOf } from '../helpers/processes.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor as poll, type Probe } from '../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-stream-models-'));
const outside = mkdtempSync(join(tmpdir(), 'ss-stream-models-outside-'));
// Small inputs keep a 2-core machine quick; different sizes and class counts make the two models' outputs tell apart.
const baseModel = join(dir, 'base.onnx'); // 1000 classes, 112x112
const doorModel = join(dir, 'door.onnx'); // 10 classes, 96x96, another seed
const brokenModel = join(dir, 'broken.onnx');
const clip = join(dir, 'clip.mp4');
const TOKEN = 'test-token-123456';
let port = 0;
let child: ChildProcess;
let stderr = '';

interface Label {
  index: number;
  label: string;
  score: number;
}
interface FrameMsg {
  type: 'frame';
  stream: string;
  ptsMs: number;
  labels: Label[];
}
interface Line {
  ptsMs: number;
  labels: Label[];
  model: string;
}
interface StreamInfo {
  id: string;
  model: string;
  untrained?: boolean;
}
const frames: FrameMsg[] = [];
/** Reference labels per ptsMs, from `streamsight analyze --every-frame --model X` on the same clip. */
const reference = new Map<string, Map<number, Line>>();
let ws: WebSocket;

/** Every wait here: up to 90 s, probe errors retried (serve not listening yet), serve's stderr in the failure. */
const waitFor = <T>(what: string, probe: Probe<T>, timeoutMs = 90_000): Promise<T> =>
  poll(what, probe, { timeoutMs, intervalMs: 100, retryErrors: true, detail: () => `serve stderr:\n${stderr}` });

const url = (path: string): string => `http://127.0.0.1:${port}${path}`;
const auth = { authorization: `Bearer ${TOKEN}` };
const post = (body: unknown): Promise<Response> =>
  fetch(url('/api/streams'), { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify(body) });
const streams = async (): Promise<StreamInfo[]> => (await (await fetch(url('/api/streams'))).json()) as StreamInfo[];
const providerGauges = async (): Promise<string[]> =>
  (await (await fetch(url('/metrics'))).text()).split('\n').filter((l) => l.startsWith('streamsight_execution_provider_info{'));

async function analyze(model: string, extra: string[] = []): Promise<Map<number, Line>> {
  const r = await runCli(['analyze', '--model', model, '--every-frame', '--device', 'cpu', ...extra, clip]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
  return new Map(lines.map((l) => [l.ptsMs, l]));
}

before(async () => {
  makeClip(clip, { seconds: 4, rate: 10, gop: 10 });
  assert.equal((await runCli(['models', 'synth', 'resnet18', '--input-size', '112', '--out', baseModel])).code, 0);
  assert.equal((await runCli(['models', 'synth', 'resnet18', '--seed', '2', '--classes', '10', '--input-size', '96', '--out', doorModel])).code, 0);
  writeFileSync(brokenModel, Buffer.from('this is not an ONNX model\n'));
  reference.set('base', await analyze(baseModel));
  reference.set('door', await analyze(doorModel));
  reference.set('porch', await analyze(baseModel, ['--preset', 'ultralytics']));
  const config = join(dir, 'serve.yaml');
  writeFileSync(
    config,
    [
      'allowlist:',
      '  schemes: [file]',
      `  folders: [${JSON.stringify(dir)}]`,
      'sources:',
      `  - { id: lobby, url: ${JSON.stringify(clip)}, live: true, loop: true }`,
      `  - { id: door, url: ${JSON.stringify(clip)}, live: true, loop: true, model: { name: ${JSON.stringify(doorModel)} } }`,
      `  - { id: ghost, url: ${JSON.stringify(clip)}, live: true, loop: true, model: { name: no-such-model } }`,
      `  - { id: porch, url: ${JSON.stringify(clip)}, live: true, loop: true, model: { preprocess: { preset: ultralytics } } }`,
      '',
    ].join('\n'),
  );
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
      baseModel,
      '--device',
      'cpu',
      '--batch',
      '4',
      '--token',
      TOKEN,
      '--log-level',
      'warn',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // Printed once every configured source was added (or left out): the door model is started by then.
  await waitFor('the serving line', () => (/streamsight serve: http:/.test(stderr) ? true : undefined));
  ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${TOKEN}`);
  ws.on('message', (d) => {
    const m = JSON.parse(String(d)) as { type: string };
    if (m.type === 'frame') frames.push(m as FrameMsg);
  });
  await new Promise<void>((r) => ws.once('open', () => r()));
  ws.send(JSON.stringify({ type: 'subscribe', streams: '*' }));
});

after(async () => {
  ws?.close();
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
  rmSync(dir, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

/** Waits for n frames of `stream` and checks each against `analyze --model` of `model` at the same pts. */
async function checkAgainstAnalyze(stream: string, model: 'base' | 'door' | 'porch', n: number): Promise<void> {
  const ref = reference.get(model)!;
  const got = await waitFor(`${n} frames of ${stream}`, () => {
    const mine = frames.filter((f) => f.stream === stream);
    return mine.length >= n ? mine.slice(0, n) : undefined;
  });
  for (const f of got) {
    const want = ref.get(f.ptsMs);
    assert.ok(want, `${stream}: analyze has no frame at pts ${f.ptsMs}`);
    assert.equal(f.labels.length, 5, `${stream} pts ${f.ptsMs}`);
    // Batches of other sizes may round differently: the best label must agree, every score to 1e-3.
    assert.equal(f.labels[0]!.index, want.labels[0]!.index, `${stream} pts ${f.ptsMs}: best label`);
    for (const l of f.labels) {
      const w = want.labels.find((x) => x.index === l.index);
      if (w) assert.ok(Math.abs(w.score - l.score) < 1e-3, `${stream} pts ${f.ptsMs} class ${l.index}: ${l.score} vs analyze ${w.score}`);
    }
    if (model === 'door')
      assert.ok(
        f.labels.every((l) => l.index < 10),
        `${stream} pts ${f.ptsMs}: a 10-class model's labels`,
      );
  }
}

test('the two synthesized models disagree on the clip (so the checks below tell them apart)', () => {
  const [base, door] = [reference.get('base')!, reference.get('door')!];
  assert.equal(base.size, door.size);
  assert.ok(
    [...base.values()].some((l) => l.labels.some((x) => x.index >= 10)),
    'the 1000-class model names classes past 9',
  );
  assert.ok([...base.keys()].some((pts) => base.get(pts)!.labels[0]!.index !== door.get(pts)!.labels[0]!.index));
  assert.equal(door.get(0)!.model, 'door');
  // Ultralytics' transform (mean 0, std 1, no 0.875 crop) gives the same model other scores.
  const porch = reference.get('porch')!;
  assert.ok([...base.keys()].some((pts) => Math.abs(base.get(pts)!.labels[0]!.score - porch.get(pts)!.labels[0]!.score) > 0.01));
});

test('a config source with model.name runs on that model; the default stream on the default; each matches analyze --model', { timeout: 180_000 }, async () => {
  const listed = await streams();
  assert.deepEqual(listed.map((s) => [s.id, s.model, s.untrained]).sort(), [
    ['door', 'door', true],
    ['lobby', 'base', true],
    ['porch', 'base', true],
  ]);
  await checkAgainstAnalyze('door', 'door', 6);
  await checkAgainstAnalyze('lobby', 'base', 6);
  // The default model with its own preprocessing (sources[].model.preprocess): analyze --preset ultralytics.
  await checkAgainstAnalyze('porch', 'porch', 6);
  const gauges = await providerGauges();
  assert.ok(gauges.some((g) => /model="door"/.test(g)) && gauges.some((g) => /model="base"/.test(g)), gauges.join('\n'));
});

test('a config source whose model cannot be loaded is left out with one start-up line; the others run', () => {
  const lines = stderr.split('\n').filter((l) => l.includes('"ghost"'));
  assert.equal(lines.length, 1, stderr);
  assert.match(stderr, /streamsight serve: http:.* 3 stream\(s\)/);
  assert.match(lines[0]!, /^streamsight serve: stream "ghost" not started: model\.name "no-such-model" cannot be used: unknown model "no-such-model"/);
});

test('POST with a model that cannot be used is a one-line 4xx, nothing is added, and the server keeps serving', { timeout: 120_000 }, async () => {
  const outsideModel = join(outside, 'door.onnx');
  writeFileSync(outsideModel, Buffer.from('never read'));
  const cases: Array<[unknown, number, string, RegExp]> = [
    [
      { id: 'x1', url: clip, model: { name: 'no-such-model' } },
      422,
      'model_unavailable',
      /^model\.name "no-such-model" cannot be used: unknown model "no-such-model"/,
    ],
    [{ id: 'x2', url: clip, model: { name: brokenModel } }, 422, 'model_unavailable', /cannot be used: not an ONNX model/],
    [{ id: 'x3', url: clip, model: { name: outsideModel } }, 403, 'forbidden_model', /^model\.name refused: /],
    [{ id: 'x4', url: clip, model: { name: 'door.onnx' } }, 403, 'forbidden_model', /^model\.name refused: /],
    [{ id: 'x5', url: clip, model: { name: '' } }, 400, 'bad_request', /^model\.name: /],
  ];
  for (const [body, status, code, message] of cases) {
    const res = await post(body);
    const text = await res.text();
    assert.equal(res.status, status, `${JSON.stringify(body)}: ${text}`);
    const { error } = JSON.parse(text) as { error: { code: string; message: string } };
    assert.equal(error.code, code, text);
    assert.match(error.message, message, text);
    assert.doesNotMatch(error.message, /\n/);
  }
  assert.deepEqual((await streams()).map((s) => s.id).sort(), ['door', 'lobby', 'porch']);
  const before = frames.length;
  await waitFor('frames of both streams after the refusals', () => {
    const later = frames.slice(before);
    return later.some((f) => f.stream === 'lobby') && later.some((f) => f.stream === 'door') ? true : undefined;
  });
});

test("POST with model.name shares that model's engine; the engine is closed when its last stream is deleted", { timeout: 180_000 }, async () => {
  const res = await post({ id: 'door2', url: clip, live: true, loop: true, model: { name: doorModel, topK: 2 } });
  const text = await res.text();
  assert.equal(res.status, 201, text);
  assert.equal((JSON.parse(text) as StreamInfo).model, 'door');
  const [f] = await waitFor('a frame of door2', () => {
    const got = frames.filter((x) => x.stream === 'door2');
    return got.length > 0 ? got : undefined;
  });
  const want = reference.get('door')!.get(f!.ptsMs)!;
  assert.deepEqual(
    f!.labels.map((l) => l.index),
    want.labels.slice(0, 2).map((l) => l.index),
  );
  // The config's default name (here a path) means the default model, no second engine.
  assert.equal((await post({ id: 'lobby2', url: clip, model: { name: baseModel } })).status, 201);
  assert.equal((await streams()).find((s) => s.id === 'lobby2')?.model, 'base');
  assert.equal((await providerGauges()).length, 2);

  for (const id of ['door', 'door2']) assert.equal((await fetch(url(`/api/streams/${id}`), { method: 'DELETE', headers: auth })).status, 204);
  const gauges = await providerGauges();
  assert.ok(!gauges.some((g) => /model="door"/.test(g)), gauges.join('\n'));
  // Started again on the next stream that asks for it.
  assert.equal((await post({ id: 'door3', url: clip, live: true, loop: true, model: { name: doorModel } })).status, 201);
  await checkAgainstAnalyze('door3', 'door', 3);
});

test('SIGTERM closes every engine and source: exit 0, no ffmpeg left', { timeout: 30_000 }, async () => {
  const children = ffmpegChildrenOf(child.pid!);
  assert.ok(children.length >= 2, `ffmpeg children: ${children.join(',')}`);
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  assert.equal(code, 0, stderr);
  for (const pid of children) assert.throws(() => process.kill(pid, 0), `ffmpeg ${pid} still running`);
});
