/**
 * `--skip-unchanged` end to end: a still camera and a busy one served live
 * (embedded `serve`, and `ingest` + `worker` + `gateway` over Redis), watched
 * on the WebSocket; `analyze --skip-unchanged` JSON Lines.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { FrameLineSchema, SummarySchema, type FrameLine } from '../../src/contracts/analyze-output.ts';
import { ServerMessageSchema, type ServerMessage } from '../../src/contracts/ws-messages.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { CLI, ROOT, runCli } from '../helpers/cli.ts';
import { ffmpeg, makeClip } from '../helpers/clips.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor as poll, type Probe } from '../helpers/wait.ts';
import { TestRedis } from '../integration/transport/redis-server.ts';
import { startWorker, writeTinyModel, type WorkerProcess } from './distributed-helpers.ts';

type FrameMessage = Extract<ServerMessage, { type: 'frame' }>;

const dir = mkdtempSync(join(tmpdir(), 'ss-skip-'));
const model = join(dir, 'tiny.onnx');
const still = join(dir, 'still.mp4');
const busy = join(dir, 'busy.mp4');
const walk = join(dir, 'walk.mp4');
const config = join(dir, 'skip.yaml');
/** maxSkipMs of these tests: a still stream is inferred at least once a second. */
const MAX_SKIP_MS = 1000;
const children: ChildProcess[] = [];
let logs = '';

const waitFor = <T>(what: string, probe: Probe<T>, timeoutMs = 90_000): Promise<T> =>
  poll(what, probe, { timeoutMs, intervalMs: 200, retryErrors: true, detail: () => `stderr:\n${logs}` });

function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, STREAMSIGHT_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (logs += d));
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** Frame messages of every stream, each validated against the protocol's schema (v1 with `reused`). */
async function watch(port: number): Promise<{ ws: WebSocket; frames: FrameMessage[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  const frames: FrameMessage[] = [];
  ws.on('message', (d) => {
    const raw = JSON.parse(String(d)) as { type: string };
    if (raw.type !== 'frame') return;
    const msg = ServerMessageSchema.parse(raw);
    if (msg.type === 'frame') frames.push(msg);
  });
  await once(ws, 'open');
  ws.send(JSON.stringify({ type: 'subscribe', streams: '*' }));
  return { ws, frames };
}

/**
 * What the check watches: per stream, frames inferred and reused;
 * every reused frame repeats the labels of the frame inferred last before
 * it on its run (so results arrive in seq order), within maxSkipMs of it.
 */
function checkStream(frames: readonly FrameMessage[], stream: string): { inferred: number; reused: number } {
  // The client subscribes once the server is up, possibly after a stream's first (inferred) frame went out:
  // frames before the first inferred one it saw have no reference it could check.
  const all = frames.filter((f) => f.stream === stream);
  const firstInferred = all.findIndex((f) => !f.reused);
  assert.ok(firstInferred !== -1, `${stream}: no inferred frame seen`);
  const mine = all.slice(firstInferred);
  let inferred = 0;
  let reused = 0;
  let last: FrameMessage | undefined;
  for (const f of mine) {
    if (last && last.run === f.run) assert.ok(f.seq > last.seq, `${stream}: seq ${f.seq} after ${last.seq} on run ${f.run}`);
    if (f.reused) {
      reused++;
      assert.ok(last && last.run === f.run, `${stream}: reused frame ${f.seq} with no inferred frame before it on its run`);
      assert.deepEqual(f.labels, last.labels, `${stream}: reused frame ${f.seq} repeats the labels of ${last.seq}`);
      assert.ok(f.capturedAt - last.capturedAt < MAX_SKIP_MS, `${stream}: frame ${f.seq} reused ${f.capturedAt - last.capturedAt} ms after the last inference`);
    } else {
      inferred++;
      last = f;
    }
  }
  return { inferred, reused };
}

async function metric(port: number, stream: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^streamsight_frames_skipped_total\\{stream="${stream}",reason="unchanged"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

before(() => {
  writeTinyModel(model);
  // A still camera: a fixed scene under temporal noise. A busy one: testsrc2 moves everywhere.
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    'smptehdbars=size=640x360:rate=25',
    '-t',
    '4',
    '-vf',
    'noise=alls=20:allf=t',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-crf',
    '28',
    '-g',
    '25',
    '-pix_fmt',
    'yuv420p',
    still,
  ]);
  makeClip(busy, { seconds: 4, size: '320x240', rate: 25, gop: 25 });
  // Still for 2 s, then a dark shape crosses the picture.
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    'smptehdbars=size=640x360:rate=25',
    '-f',
    'lavfi',
    '-i',
    'color=c=0x202020:size=80x200:rate=25',
    '-t',
    '4',
    '-filter_complex',
    "[0][1]overlay=x='if(lt(t,2),-200,640-(t-2)*300)':y=100,noise=alls=20:allf=t",
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-crf',
    '28',
    '-g',
    '25',
    '-pix_fmt',
    'yuv420p',
    walk,
  ]);
  writeFileSync(config, `log:\n  level: warn\nlive:\n  skipUnchanged:\n    maxSkipMs: ${MAX_SKIP_MS}\n`);
});

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('--skip-unchanged', () => {
  test('serve: three still cameras are mostly reused (labels repeated, in order, within maxSkipMs), the busy one always inferred; the metric and the dashboard count the reused frames', async () => {
    const port = await freePort();
    logs = '';
    const serve = spawnCli([
      'serve',
      '--skip-unchanged',
      '--config',
      config,
      '--port',
      String(port),
      '--model',
      model,
      '--threads',
      '1',
      '--batch',
      '4',
      '--source',
      `still=${still}`,
      '--source',
      `still2=${still}`,
      '--source',
      `still3=${still}`,
      '--source',
      `busy=${busy}`,
      '--live',
      '--loop',
    ]);
    try {
      await waitFor('serve listening', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok || undefined);
      const { ws, frames } = await watch(port);
      const streams = ['still', 'still2', 'still3', 'busy'];
      await waitFor('15 frames of each stream', () => streams.every((s) => frames.filter((f) => f.stream === s).length >= 15));
      ws.close();
      const b = checkStream(frames, 'busy');
      assert.equal(b.reused, 0, 'the busy camera loses nothing to the gate');
      for (const id of ['still', 'still2', 'still3']) {
        const s = checkStream(frames, id);
        assert.ok(s.reused >= 8, `${id}: ${s.reused} reused, ${s.inferred} inferred`);
        // Inferred at least at each run's start and once per maxSkipMs: more than once in 3 s.
        assert.ok(s.inferred >= 2, `${id}: ${s.inferred} inferred`);
        assert.ok((await metric(port, id)) >= s.reused);
      }
      assert.equal(await metric(port, 'busy'), 0);

      // The dashboard counts, per stream, the frames it received that were reused.
      const browser = await launchBrowser();
      try {
        const page = await browser.context.newPage();
        await page.goto(`http://127.0.0.1:${port}/`);
        const skipped = (id: string): string => `[data-testid="stream-card"][data-stream="${id}"] [data-testid="stat-skipped"]`;
        await page.waitForFunction((sel) => Number(document.querySelector(sel)?.textContent) >= 3, skipped('still'), { timeout: 30_000 });
        await page.waitForFunction((sel) => Number(document.querySelector(sel)?.textContent) >= 10, skipped('busy').replace('stat-skipped', 'stat-frames'), {
          timeout: 30_000,
        });
        assert.equal(await page.locator(skipped('busy')).textContent(), '0');
      } finally {
        await browser.close();
      }
    } finally {
      await stop(serve);
    }
  });

  test('analyze --skip-unchanged: reused lines repeat the last inferred labels with "reused": true, the moving part is inferred; without the flag nothing is reused', async () => {
    const r = await runCli(['analyze', '--skip-unchanged', '--config', config, '--model', model, '--threads', '1', '--fps', '5', '--json', walk]);
    assert.equal(r.code, 0, r.stderr);
    const lines: FrameLine[] = r.stdout
      .trim()
      .split('\n')
      .map((l) => FrameLineSchema.strict().parse(JSON.parse(l)));
    assert.ok(lines.length >= 19, `${lines.length} lines`);
    let last: FrameLine | undefined;
    for (const l of lines) {
      if (l.reused) assert.deepEqual(l.labels, last!.labels, `line ${l.seq} repeats ${last!.seq}`);
      else last = l;
    }
    const still = lines.filter((l) => l.ptsMs < 2000);
    assert.equal(still.filter((l) => !l.reused).length, 2, 'the still part: the first frame, and one after maxSkipMs (1 s)');
    // The shape is in the picture and moving from about 2.4 s to the end.
    const moving = lines.filter((l) => l.ptsMs >= 2600);
    assert.ok(moving.length >= 5);
    assert.ok(
      moving.every((l) => !l.reused),
      moving.map((l) => `${l.ptsMs}${l.reused ? 'R' : ''}`).join(' '),
    );
    const summary = SummarySchema.parse(JSON.parse(r.stderr.trim().split('\n').pop()!));
    assert.equal(summary.reusedFrames, lines.filter((l) => l.reused).length);
    assert.equal(summary.frames, lines.length);

    const plain = await runCli(['analyze', '--model', model, '--threads', '1', '--fps', '5', walk]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.ok(!plain.stdout.includes('"reused"'));
    assert.equal(plain.stdout.trim().split('\n').length, lines.length);

    const refused = await runCli(['analyze', '--skip-unchanged', '--index', join(dir, 'x.db'), '--model', model, walk]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--skip-unchanged does not go with --index/);
  });

  test('distributed: ingest --skip-unchanged + worker + gateway over Redis: reused frames reach the gateway in order with their reference labels', async () => {
    const redis = await TestRedis.start();
    let worker: WorkerProcess | undefined;
    const env = { REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: 'skip' };
    logs = '';
    try {
      worker = await startWorker(['--model', model, '--threads', '1'], env);
      const port = await freePort();
      const gateway = spawnCli(['gateway', '--port', String(port)], env);
      await waitFor('gateway listening', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok || undefined);
      const { ws, frames } = await watch(port);
      const ingest = spawnCli(
        ['ingest', '--skip-unchanged', '--config', config, '--model', model, '--source', `still=${still}`, '--source', `busy=${busy}`, '--live', '--loop'],
        env,
      );
      await waitFor('15 frames of each stream', () => ['still', 'busy'].every((s) => frames.filter((f) => f.stream === s).length >= 15));
      ws.close();
      const s = checkStream(frames, 'still');
      const b = checkStream(frames, 'busy');
      assert.equal(b.reused, 0);
      assert.ok(s.reused >= 8, `still: ${s.reused} reused, ${s.inferred} inferred`);
      assert.ok((await metric(port, 'still')) >= s.reused);
      await stop(ingest);
      // ingest's own account: the still stream's unchanged frames were never queued for the workers.
      assert.match(logs, /still: ended[^\n]* reused \(unchanged, not queued\)/);
      assert.doesNotMatch(logs, /busy: [^\n]*reused/);
      await stop(gateway);
    } finally {
      await worker?.stop();
      await redis.stop();
    }
  });
});
