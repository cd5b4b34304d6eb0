/**
 * File sources through the real commands: playlists and lists in an allowed
 * folder that name a video outside it are refused by analyze, index, serve
 * (config, --source and POST /api/streams) and ingest, with one line saying
 * what they are, and the outside video is never opened (ffmpeg and ffprobe
 * run under strace when it is installed; the outside video is magenta and
 * no frame at all may come out). A local file named like an option
 * (`-report`) is analysed and indexed, not read as one. decode.maxPixels
 * refuses a video before it is decoded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { CLI, ROOT, runCli, type CliResult } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { makeNestedOpenAttacks, type NestedOpenAttack, type NestedOpenAttacks } from '../helpers/nested-open-attacks.ts';
import { hasStrace, openTracer, type OpenTracer } from '../helpers/open-tracer.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor as poll, type Probe } from '../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-file-safety-'));
const model = join(dir, 'r18.onnx');
const tracer: OpenTracer | undefined = hasStrace ? openTracer() : undefined;
/** ffmpeg and ffprobe of the commands run under strace. */
const env: NodeJS.ProcessEnv = tracer ? { PATH: `${tracer.binDir}:${process.env.PATH ?? ''}` } : {};
let set: NestedOpenAttacks;

before(async () => {
  set = makeNestedOpenAttacks(dir);
  assert.equal((await runCli(['models', 'synth', 'resnet18', '--out', model])).code, 0);
});
after(() => {
  tracer?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI in `cwd` (runCli runs it in the repository). */
function runIn(cwd: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, STREAMSIGHT_LOG_LEVEL: 'warn', ...env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Fails when ffmpeg or ffprobe tried to open an outside file since the last reset (with strace; without it the frame checks stand alone). */
function assertOutsideNeverOpened(what: string): void {
  if (!tracer) return;
  const opened = tracer.opened(ROOT);
  for (const outside of set.outsideFiles) assert.ok(!opened.includes(outside), `${what}: ffmpeg or ffprobe opened ${outside}`);
}

/** The stderr line that reports `attack`, checked against its message. */
function assertRefusedLine(stderr: string, attack: NestedOpenAttack, code = 'E_NOT_A_VIDEO'): void {
  const line = stderr.split('\n').find((l) => l.includes(attack.path));
  assert.ok(line !== undefined, `${attack.name} not reported:\n${stderr}`);
  assert.ok(line.startsWith(`error[${code}]: `), line);
  assert.match(line.slice(`error[${code}]: `.length), attack.message);
}

describe('analyze and index', () => {
  test('analyze refuses every playlist and list with one line each (exit 3), writes no frame, and never opens the outside video', async () => {
    tracer?.reset();
    const r = await runIn(dir, ['analyze', '--model', model, '--every-frame', ...set.attacks.map((a) => a.path)]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, '', 'no frame line');
    for (const attack of set.attacks) assertRefusedLine(r.stderr, attack);
    assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
    assertOutsideNeverOpened('analyze');
  });

  test('index refuses them the same way, and stores none', async () => {
    tracer?.reset();
    const r = await runIn(dir, ['index', '--model', model, '--index', join(dir, 'attacks.db'), '--json', ...set.attacks.map((a) => a.path)]);
    assert.equal(r.code, 1, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { indexed: number; frames: number; failed: unknown[] };
    assert.equal(summary.indexed, 0);
    assert.equal(summary.frames, 0);
    assert.equal(summary.failed.length, set.attacks.length);
    for (const attack of set.attacks) assertRefusedLine(r.stderr, attack);
    assertOutsideNeverOpened('index');
  });

  test('a file named -report is analysed and indexed as a file (no report file appears); names with % # ? spaces and unicode too', async () => {
    const cwd = join(dir, 'dash-cwd');
    mkdirSync(cwd);
    const names = ['-report', '50% off #1?.mp4', 'été 日本.mp4'];
    makeClip(join(cwd, 'clip.mp4'), { seconds: 1, size: '160x120', rate: 10 });
    for (const name of names) copyFileSync(join(cwd, 'clip.mp4'), join(cwd, name));
    const analyzed = await runIn(cwd, ['analyze', '--model', model, '--fps', '2', '--', ...names]);
    assert.equal(analyzed.code, 0, analyzed.stderr);
    const lines = analyzed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { stream: string });
    for (const name of names) assert.equal(lines.filter((l) => l.stream === name).length, 2, `${name}: ${analyzed.stderr}`);
    const indexed = await runIn(cwd, ['index', '--model', model, '--index', 'names.db', '--json', '--', '-report']);
    assert.equal(indexed.code, 0, indexed.stderr);
    assert.equal((JSON.parse(indexed.stdout.trim().split('\n').at(-1)!) as { indexed: number }).indexed, 1);
    const reports = readdirSync(cwd).filter((f) => /^ff(mpeg|probe)-.*\.log$/.test(f));
    assert.deepEqual(reports, [], 'ffmpeg or ffprobe took -report as an option');
  });

  test('decode.maxPixels: a 320x240 video over a 10000-pixel limit is refused before decoding, by analyze and index', async () => {
    const clip = join(dir, 'qvga.mp4');
    makeClip(clip, { seconds: 1, size: '320x240', rate: 10 });
    const config = join(dir, 'small.yaml');
    writeFileSync(config, 'decode:\n  maxPixels: 10000\n');
    const message = `${clip} is 320x240 (76800 pixels), above the limit of 10000 pixels (decode.maxPixels): not decoded`;
    const analyzed = await runIn(dir, ['analyze', '--config', config, '--model', model, clip]);
    assert.equal(analyzed.code, 3, analyzed.stderr);
    assert.equal(analyzed.stdout, '');
    assert.ok(analyzed.stderr.includes(`error[E_TOO_MANY_PIXELS]: ${message} (0 frames written before it)`), analyzed.stderr);
    const indexed = await runIn(dir, ['index', '--config', config, '--model', model, '--index', join(dir, 'big.db'), clip]);
    assert.equal(indexed.code, 1, indexed.stderr);
    assert.ok(indexed.stderr.includes(`error[E_TOO_MANY_PIXELS]: ${message}`), indexed.stderr);
  });
});

/** Every wait here: up to 60 s, probe errors retried (serve not listening yet). */
const waitFor = <T>(what: string, probe: Probe<T>, timeoutMs = 60_000): Promise<T> => poll(what, probe, { timeoutMs, intervalMs: 100, retryErrors: true });

describe('serve with an allowlist folder', () => {
  const TOKEN = 'file-safety-token-123';
  let child: ChildProcess;
  let stderr = '';
  let port = 0;
  let ws: WebSocket;
  const statuses: Array<{ stream: string; state: string; detail?: string }> = [];
  const frames: Array<{ stream: string }> = [];
  const attack = (name: string): NestedOpenAttack => set.attacks.find((a) => a.name === name)!;

  before(async () => {
    tracer?.reset();
    const config = join(dir, 'serve.yaml');
    writeFileSync(
      config,
      [
        'allowlist:',
        '  schemes: [file]',
        `  folders: [${JSON.stringify(set.allowed)}]`,
        'sources:',
        `  - { id: cfg, url: ${JSON.stringify(attack('hls-rel.m3u8').path)} }`,
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
        model,
        '--batch',
        '4',
        '--token',
        TOKEN,
        '--log-level',
        'warn',
        '--source',
        `cli=${attack('dash-abs.mpd').path}`,
      ],
      { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    await waitFor('healthz', async () => ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok ? true : undefined));
    ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${TOKEN}`);
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { type: string; stream: string; state: string; detail?: string };
      if (m.type === 'status') statuses.push(m);
      if (m.type === 'frame') frames.push(m);
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
  });

  test(
    'streams from the config, --source and POST /api/streams never go live with the outside video: each fails with the one-line reason',
    { timeout: 120_000 },
    async () => {
      const posted = ['hls-abs.m3u8', 'ffconcat-link.txt', 'dash-rel.mpd', 'seq%d.png'];
      for (const [i, name] of posted.entries()) {
        const res = await fetch(`http://127.0.0.1:${port}/api/streams`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify({ id: `post${i}`, url: attack(name).path, live: true, loop: true }),
        });
        assert.equal(res.status, 201, `${name}: ${await res.text()}`);
      }
      for (const [i, name] of posted.entries()) {
        const id = `post${i}`;
        const failed = await waitFor(`${id} failed`, () => statuses.find((s) => s.stream === id && s.state === 'failed'));
        assert.match(failed.detail ?? '', attack(name).message, `${id}: ${failed.detail ?? ''}`);
        assert.ok(!statuses.some((s) => s.stream === id && s.state === 'live'), `${id} went live`);
      }
      // The config's and --source's streams failed before the WebSocket client came: their reason is in the log.
      for (const [id, name] of [
        ['cfg', 'hls-rel.m3u8'],
        ['cli', 'dash-abs.mpd'],
      ] as const) {
        const logged = await waitFor(`${id} failed`, () =>
          stderr
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as { stream?: string; msg?: string; reason?: string })
            .find((l) => l.stream === id && l.msg === 'stream failed; giving up'),
        );
        assert.match(logged.reason ?? '', attack(name).message);
      }
      const listed = (await (await fetch(`http://127.0.0.1:${port}/api/streams`)).json()) as Array<{ id: string; state: string }>;
      assert.deepEqual(
        listed.map((s) => s.state),
        listed.map(() => 'failed'),
        JSON.stringify(listed),
      );
      for (const { id } of listed) assert.equal((await fetch(`http://127.0.0.1:${port}/api/streams/${id}/snapshot.jpg`)).status, 404, `${id} has a picture`);
      assert.equal(frames.length, 0, 'frames were published');
      assertOutsideNeverOpened(`serve:\n${stderr}`);
    },
  );
});

describe('ingest (Redis)', () => {
  test('file sources that are playlists fail with the reason; a video over decode.maxPixels too', { timeout: 120_000 }, async () => {
    tracer?.reset();
    const clip = join(dir, 'qvga-ingest.mp4');
    makeClip(clip, { seconds: 1, size: '320x240', rate: 10 });
    const config = join(dir, 'ingest.yaml');
    writeFileSync(config, 'decode:\n  maxPixels: 10000\n');
    const prefix = `ss-file-safety-${process.pid}`;
    const r = await runIn(
      dir,
      [
        'ingest',
        '--config',
        config,
        '--redis',
        'redis://127.0.0.1:6379',
        '--model',
        model,
        '--source',
        `a=${set.attacks[0]!.path}`,
        '--source',
        `b=${join(set.allowed, 'ffconcat-link.txt')}`,
        '--source',
        `c=${clip}`,
      ],
      { STREAMSIGHT_REDIS_PREFIX: prefix },
    ).finally(async () => {
      const redis = new Redis('redis://127.0.0.1:6379');
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    });
    assert.equal(r.code, 1, r.stderr);
    const line = (id: string): string => r.stderr.split('\n').find((l) => l.startsWith(`${id}: `)) ?? '';
    assert.match(line('a'), new RegExp(`^a: failed \\(${set.attacks[0]!.message.source.slice(1)}`), r.stderr);
    assert.match(line('b'), /^b: failed \(.*ffconcat-link\.txt is a concat list \(format concat\)/, r.stderr);
    assert.ok(line('c').startsWith(`c: failed (${clip} is 320x240 (76800 pixels), above the limit of 10000 pixels (decode.maxPixels)`), r.stderr);
    for (const id of ['a', 'b', 'c']) assert.match(line(id), / · 0 frame\(s\) decoded$/);
    assertOutsideNeverOpened('ingest');
  });
});
