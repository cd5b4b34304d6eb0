/**
 * createServer() of the package's API: serve in process. Its events carry
 * what the WebSocket feed carries (same frames, label events, states), the
 * HTTP API and the feed run as under `streamsight serve`, and close() leaves
 * no ffmpeg behind.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { createServer, type FrameResult, type LabelEvent, type StreamStatus } from '../../../src/index.ts';
import { ConfigError } from '../../../src/shared/errors.ts';
import { ffmpegChildrenOf } from '../../helpers/processes.ts';
import { colourModel, colourSpans } from '../../helpers/colour-model.ts';
import { waitFor } from '../../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-create-server-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const model = join(dir, 'colour.onnx');
const labels = join(dir, 'colours.txt');
const clip = join(dir, 'red-green.mp4');
writeFileSync(model, colourModel());
writeFileSync(labels, 'red\ngreen\nblue\n');
execFileSync('ffmpeg', [
  '-nostdin',
  '-loglevel',
  'error',
  '-y',
  '-filter_complex',
  colourSpans([
    ['red', 1.5],
    ['green', 1.5],
  ]),
  '-c:v',
  'libx264',
  '-preset',
  'ultrafast',
  '-pix_fmt',
  'yuv420p',
  clip,
]);

test(
  'createServer: events carry the frames, label events and states the WebSocket feed carries; the HTTP API works; close() stops ffmpeg',
  { timeout: 60_000 },
  async () => {
    const server = createServer({
      settings: {
        model: { name: model, labels, device: 'cpu', threads: 1, batch: 4 },
        server: { port: 0, token: 'library-token-1' },
        events: { enterFrames: 2, exitFrames: 2 },
        log: { level: 'silent' },
      },
    });
    const frames: FrameResult[] = [];
    const events: LabelEvent[] = [];
    const states: StreamStatus[] = [];
    server.events.on('frame', (f) => frames.push(f));
    server.events.on('event', (e) => events.push(e));
    server.events.on('status', (s) => states.push(s));
    const { port } = await server.listen();
    const fed: Array<{ type: string; stream?: string; seq?: number }> = [];
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=library-token-1`);
    ws.on('message', (d) => fed.push(JSON.parse(String(d)) as { type: string }));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'subscribe', streams: '*' }));
    try {
      const info = await server.addSource({ id: 'lobby', url: clip, fps: 5, live: true });
      assert.equal(info.id, 'lobby');
      await waitFor('the green label event', () => events.find((e) => e.label === 'green' && e.kind === 'start'), 20_000);
      await waitFor('the end of the file', () => states.find((s) => s.stream === 'lobby' && s.state === 'ended'), 20_000);
      assert.ok(frames.length >= 10, `${frames.length} frames`);
      assert.equal(frames[0]!.labels[0]!.label, 'red');
      assert.equal(frames.at(-1)!.labels[0]!.label, 'green');
      // The feed saw the same frames (by seq) as the events.
      await waitFor('every frame on the feed', () => (fed.filter((m) => m.type === 'frame').length >= frames.length ? true : undefined), 5000);
      assert.deepEqual(
        fed.filter((m) => m.type === 'frame').map((m) => m.seq),
        frames.map((f) => f.seq),
      );
      const listed = (await (await fetch(`http://127.0.0.1:${port}/api/streams`)).json()) as Array<{ id: string }>;
      assert.deepEqual(
        listed.map((s) => s.id),
        ['lobby'],
      );
      assert.deepEqual(
        server.streams().map((s) => s.id),
        ['lobby'],
      );
      assert.equal(await server.removeSource('lobby'), true);
      assert.equal(await server.removeSource('lobby'), false);
    } finally {
      ws.close();
      await server.close();
      await server.close();
    }
    assert.deepEqual(ffmpegChildrenOf(process.pid), []);
    await assert.rejects(() => server.listen(), /closed/);
  },
);

test('createServer: a bad setting throws a ConfigError naming the key, before anything starts', () => {
  assert.throws(
    () => createServer({ settings: { server: { port: -1 } } }),
    (err: unknown) => err instanceof ConfigError && /"server\.port"/.test(err.message),
  );
});
