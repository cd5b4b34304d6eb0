import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameLineSchema, SummarySchema, type FrameLine } from '../../src/contracts/analyze-output.ts';
import { runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { ffmpegChildrenOf } from '../helpers/processes.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-analyze-'));
const model = join(dir, 'r18.onnx');
const clip = join(dir, 'clip.mp4');
const longClip = join(dir, 'long.mp4');

function lines(text: string): FrameLine[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => FrameLineSchema.parse(JSON.parse(l)));
}

function probePts(file: string): number[] {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pts_time', '-of', 'csv=p=0', file], {
    encoding: 'utf8',
  });
  return out
    .trim()
    .split('\n')
    .map((s) => Math.round(Number(s.split(',')[0]) * 1000));
}

/** One line of stderr that is not a log line, without a stack trace. */
function assertOneLineError(stderr: string, code: string): void {
  assert.match(stderr, new RegExp(`error\\[${code}\\]`), stderr);
  assert.doesNotMatch(stderr, /\n\s+at .+:\d+:\d+/, `no stack trace expected:\n${stderr}`);
}

before(async () => {
  makeClip(clip, { seconds: 4, rate: 25, gop: 25 });
  makeClip(longClip, { seconds: 60, size: '160x120', rate: 25, gop: 50 });
  const r = await runCli(['models', 'synth', 'resnet18', '--out', model]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('streamsight analyze', () => {
  test('writes one line per sampled frame, in seq order, with source timestamps, marked untrained', async () => {
    const r = await runCli(['analyze', '--model', model, '--fps', '2', '--json', clip]);
    assert.equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    const pts = probePts(clip);
    // First frame of each half-second bucket of the source timestamps.
    const expected = pts.filter((p, i) => i === 0 || Math.floor(p / 500) > Math.floor(pts[i - 1]! / 500));
    assert.deepEqual(
      out.map((l) => l.seq),
      expected.map((_, i) => i),
    );
    assert.deepEqual(
      out.map((l) => l.ptsMs),
      expected,
    );
    for (const l of out) {
      assert.equal(l.stream, clip);
      assert.equal(l.model, 'r18');
      assert.equal(l.untrained, true);
      assert.equal(l.labels.length, 5);
      assert.ok(l.labels[0]!.score >= l.labels[4]!.score);
      assert.equal(l.embedding, undefined);
    }
    assert.equal(new Set(out.map((l) => l.run)).size, 1);
    assert.match(r.stderr, /UNTRAINED/);
    const summary = SummarySchema.parse(
      JSON.parse(
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => l.includes('"type":"summary"'))[0]!,
      ),
    );
    assert.equal(summary.frames, out.length);
    assert.equal(summary.untrained, true);
    assert.equal(summary.device, 'cpu');
  });

  test('--embeddings adds unit-length 512-d vectors; --out writes the same lines to a file', async () => {
    const out = join(dir, 'emb.jsonl');
    const r = await runCli(['analyze', '--model', model, '--keyframes', '--embeddings', '--top-k', '3', '--out', out, clip]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    const got = lines(readFileSync(out, 'utf8'));
    assert.equal(got.length, 4); // 4 s at one key frame per second
    for (const l of got) {
      assert.equal(l.labels.length, 3);
      assert.equal(l.embedding!.length, 512);
      const norm = Math.sqrt(l.embedding!.reduce((s, x) => s + x * x, 0));
      assert.ok(Math.abs(norm - 1) < 1e-4, `norm ${norm}`);
    }
  });

  test('the same frames give the same labels at batch 1 and batch 8', async () => {
    const a = lines((await runCli(['analyze', '--model', model, '--every-frame', '--batch', '1', clip])).stdout);
    const b = lines((await runCli(['analyze', '--model', model, '--every-frame', '--batch', '8', clip])).stdout);
    assert.equal(a.length, 100);
    assert.deepEqual(
      a.map((l) => l.labels.map((x) => x.index)),
      b.map((l) => l.labels.map((x) => x.index)),
    );
    a.forEach((l, i) => assert.ok(Math.abs(l.labels[0]!.score - b[i]!.labels[0]!.score) < 1e-4));
  });

  test('a missing file, a non-video and an unreachable URL each get one line and their exit code', async () => {
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'this is not a video\n'.repeat(50));
    const cases: Array<[string, number, string]> = [
      [join(dir, 'nope.mp4'), 3, 'E_INPUT_NOT_FOUND'],
      [text, 3, 'E_NOT_A_VIDEO'],
      ['http://127.0.0.1:9/clip.mp4', 5, 'E_SOURCE_UNREACHABLE'],
    ];
    for (const [input, code, name] of cases) {
      const r = await runCli(['analyze', '--model', model, input]);
      assert.equal(r.code, code, `${input}: ${r.stderr}`);
      assertOneLineError(r.stderr, name);
      assert.equal(r.stdout, '');
    }
  });

  test('a truncated video: frames before the damage are written, then exit 4', async () => {
    const cut = join(dir, 'cut.ts');
    makeClip(cut, { seconds: 4, extra: ['-f', 'mpegts'] });
    truncateSync(cut, Math.floor(statSync(cut).size * 0.5));
    const r = await runCli(['analyze', '--model', model, '--every-frame', cut]);
    const got = lines(r.stdout);
    assert.ok(got.length >= 20 && got.length < 100, `frames written: ${got.length}`);
    assert.deepEqual(
      got.map((l) => l.seq),
      got.map((_, i) => i),
    );
    if (r.code !== 0) {
      assert.equal(r.code, 4, r.stderr);
      assertOneLineError(r.stderr, 'E_DECODE');
    } else {
      // ffmpeg may treat a cut at a packet boundary as a clean end; the output must still be complete to that point.
      assert.match(r.stderr, /frames/);
    }
  });

  test('with several inputs a bad one is reported and the others still run', async () => {
    const r = await runCli(['analyze', '--model', model, '--keyframes', join(dir, 'missing.mp4'), clip]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(lines(r.stdout).length, 4);
    assertOneLineError(r.stderr, 'E_INPUT_NOT_FOUND');
  });

  test('model problems: not downloaded, corrupt file, CUDA asked for on a CPU host', async () => {
    const missing = await runCli(['analyze', '--model', 'resnet152', '--models-dir', dir, clip]);
    assert.equal(missing.code, 7, missing.stderr);
    assertOneLineError(missing.stderr, 'E_MODEL_NOT_FOUND');
    assert.match(missing.stderr, /streamsight models pull resnet152/);

    const broken = join(dir, 'broken.onnx');
    writeFileSync(broken, Buffer.from('definitely not protobuf'.repeat(100)));
    const bad = await runCli(['analyze', '--model', broken, clip]);
    assert.equal(bad.code, 7, bad.stderr);
    assertOneLineError(bad.stderr, 'E_MODEL_INVALID');

    const cuda = await runCli(['analyze', '--model', model, '--device', 'cuda', clip]);
    assert.equal(cuda.code, 9, cuda.stderr);
    assertOneLineError(cuda.stderr, 'E_DEVICE_UNAVAILABLE');
  });

  test('bad flags exit 2 with one line', async () => {
    for (const args of [['--batch', '0'], ['--fps', 'fast'], ['--device', 'tpu'], ['--bogus']]) {
      const r = await runCli(['analyze', '--model', model, ...args, clip]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });

  test('SIGINT mid-run: finished frames are kept, exit 130, no ffmpeg left behind', async () => {
    let pid = 0;
    const out = join(dir, 'interrupted.jsonl');
    const running = runCli(['analyze', '--model', model, '--every-frame', '--out', out, longClip], { onSpawn: (p) => (pid = p) });
    // Wait until some frames are written, then interrupt.
    for (let i = 0; i < 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        if (statSync(out).size > 0) break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    const children = ffmpegChildrenOf(pid);
    assert.ok(children.length > 0, 'ffmpeg should be running');
    process.kill(pid, 'SIGINT');
    const r = await running;
    assert.equal(r.code, 130, r.stderr);
    const got = lines(readFileSync(out, 'utf8'));
    assert.ok(got.length > 0 && got.length < 1500);
    assert.deepEqual(
      got.map((l) => l.seq),
      got.map((_, i) => i),
    );
    for (const c of children) assert.throws(() => process.kill(c, 0), /ESRCH/, `ffmpeg ${c} still running`);
  });

  test('a reader that closes stdout early (| head -1): one line, exit 11, no crash', async () => {
    const { spawn } = await import('node:child_process');
    const { CLI, ROOT } = await import('../helpers/cli.ts');
    const child = spawn(process.execPath, [CLI, 'analyze', '--model', model, '--every-frame', clip], {
      cwd: ROOT,
      env: { ...process.env, STREAMSIGHT_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    assert.equal(code, 11, stderr);
    assertOneLineError(stderr, 'E_OUTPUT');
    assert.doesNotMatch(stderr, /terminate called|InferenceError/);
  });

  test('--help works for every command', async () => {
    for (const args of [
      ['--help'],
      ['analyze', '--help'],
      ['models', '--help'],
      ['models', 'pull', '--help'],
      ['models', 'synth', '--help'],
      ['models', 'inspect', '--help'],
      ['models', 'list', '--help'],
    ]) {
      const r = await runCli(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /Usage:/);
    }
  });
});
