/**
 * `streamsight models import` with the real CLI: the imported copy carries
 * its preprocessing and labels, is listed with its sha256, and `--model NAME`
 * then gives, with no flag, what the file gave with the flags: in analyze,
 * index, serve and the distributed workers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { synthResnet } from '../../src/inference/resnet-synth.ts';
import { CLI, ROOT, runCli } from '../helpers/cli.ts';
import { ffmpeg, makeClip } from '../helpers/clips.ts';
import { freePort } from '../helpers/ports.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';
import { TestRedis } from '../integration/transport/redis-server.ts';
import { startWorker } from './distributed-helpers.ts';

const { dir, cleanup } = makeTempDir('streamsight-import-');
const modelsDir = join(dir, 'models');
const file = join(dir, 'export.onnx');
const labels = join(dir, 'names.txt');
const clip = join(dir, 'clip.mp4');
const NAMES = ['ant', 'bee', 'cat', 'dog', 'elk'];
const FLAGS = ['--preset', 'torchvision-v2', '--interpolation', 'bicubic'];
let redis: TestRedis | undefined;

interface Line {
  seq: number;
  ptsMs: number;
  labels: Array<{ index: number; label: string; score: number }>;
  model: string;
}

const lines = (stdout: string): Line[] =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);

before(() => {
  writeFileSync(file, synthResnet({ arch: 'resnet18', baseWidth: 8, inputSize: 64, numClasses: NAMES.length, seed: 4 }));
  writeFileSync(labels, NAMES.join('\n') + '\n');
  makeClip(clip, { seconds: 2, rate: 5, gop: 5 });
});
after(async () => {
  await redis?.stop();
  cleanup();
});

test('import writes the settled preprocessing and labels into the copy, lists it with its sha256, and refuses bad input with one line', async () => {
  const r = await runCli(['models', 'import', file, '--name', 'pets', '--labels', labels, '--models-dir', modelsDir, ...FLAGS]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /resize +shorter side 66 +from preset torchvision-v2 \(flags\)/);
  assert.match(r.stdout, /interpolation +bicubic +from flags/);
  assert.match(r.stdout, /use it with: --model pets/);

  const listed = await runCli(['models', 'list', '--json', '--models-dir', modelsDir]);
  const pets = lines(listed.stdout).find((m) => (m as unknown as { name: string }).name === 'pets') as unknown as {
    path: string;
    sha256: string;
    precision: string;
  };
  assert.ok(pets, listed.stdout);
  assert.equal(createHash('sha256').update(readFileSync(pets.path)).digest('hex'), pets.sha256);
  assert.equal(pets.precision, 'fp32');

  const inspect = await runCli(['models', 'inspect', 'pets', '--models-dir', modelsDir]);
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.match(inspect.stdout, /interpolation +bicubic +from model metadata streamsight.preprocess/);
  assert.match(inspect.stdout, /labels: +model metadata \(e\.g\. ant \| bee \| cat\)/);

  const cases: Array<[string[], RegExp]> = [
    [['models', 'import', file, '--name', 'pets', '--models-dir', modelsDir], /a local model named "pets" exists; give --force/],
    [['models', 'import', file, '--name', 'resnet50', '--models-dir', modelsDir], /is a registry model's name/],
    [['models', 'import', file, '--name', 'Bad Name', '--models-dir', modelsDir], /--name "Bad Name": use lowercase/],
    [['models', 'import', labels, '--name', 'text', '--models-dir', modelsDir], /E_MODEL_INVALID/],
    [
      ['models', 'import', file, '--name', 'big', '--crop', '80', '--models-dir', modelsDir],
      /crop 80x80 \(crop from flags\) does not match the model's input 64x64/,
    ],
  ];
  for (const [args, message] of cases) {
    const bad = await runCli(args);
    assert.notEqual(bad.code, 0, args.join(' '));
    assert.match(bad.stderr, message);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  }
  assert.equal(existsSync(join(modelsDir, 'big.onnx')), false);
});

test('analyze and index with --model NAME give what the file gives with the flags', async () => {
  const byFile = await runCli(['analyze', '--model', file, '--labels', labels, '--fps', '5', ...FLAGS, clip]);
  const byName = await runCli(['analyze', '--model', 'pets', '--models-dir', modelsDir, '--fps', '5', clip]);
  const plain = await runCli(['analyze', '--model', file, '--labels', labels, '--fps', '5', clip]);
  assert.equal(byName.code, 0, byName.stderr);
  const [a, b, c] = [lines(byFile.stdout), lines(byName.stdout), lines(plain.stdout)];
  assert.equal(a.length, 10);
  assert.deepEqual(
    b.map((l) => l.labels),
    a.map((l) => l.labels),
  );
  assert.equal(b[0]!.model, 'pets');
  assert.ok(NAMES.includes(b[0]!.labels[0]!.label));
  // The flags matter: without them the same file scores otherwise.
  assert.notDeepEqual(
    c.map((l) => l.labels),
    a.map((l) => l.labels),
  );

  const index = join(dir, 'archive.db');
  const ix = await runCli(['index', '--model', 'pets', '--models-dir', modelsDir, '--index', index, clip]);
  assert.equal(ix.code, 0, ix.stderr);
  assert.ok(existsSync(index));
});

test('an index made with preprocessing flags records them: search by picture feeds the model alike and finds the frame', async () => {
  const index = join(dir, 'flags.db');
  const ix = await runCli(['index', '--model', file, '--labels', labels, ...FLAGS, '--index', index, clip]);
  assert.equal(ix.code, 0, ix.stderr);
  // The clip's first frame as a picture: its nearest stored frame is itself, at a cosine near 1.
  const picture = join(dir, 'first.png');
  ffmpeg(['-i', clip, '-frames:v', '1', picture]);
  const r = await runCli(['search', '--index', index, '--image', picture, '--limit', '1', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const { hits } = JSON.parse(r.stdout) as { hits: Array<{ seq: number; score: number }> };
  assert.equal(hits.length, 1, r.stdout);
  assert.equal(hits[0]!.seq, 0);
  // Measured: 0.99993 fed as the index was; 0.9925 with the model's own preprocessing instead.
  assert.ok(hits[0]!.score > 0.999, r.stdout);
});

test('serve --model NAME publishes the labels analyze gives for the same frames', { timeout: 120_000 }, async () => {
  const ref = new Map(lines((await runCli(['analyze', '--model', 'pets', '--models-dir', modelsDir, '--every-frame', clip])).stdout).map((l) => [l.ptsMs, l]));
  const port = await freePort();
  const config = join(dir, 'serve.yaml');
  writeFileSync(config, `allowlist:\n  schemes: [file]\n  folders: [${JSON.stringify(dir)}]\n`);
  const child = spawn(
    process.execPath,
    [
      CLI,
      'serve',
      '--config',
      config,
      '--port',
      String(port),
      '--model',
      'pets',
      '--models-dir',
      modelsDir,
      '--source',
      `cam=${clip}`,
      '--live',
      '--loop',
      '--log-level',
      'warn',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  try {
    await waitFor('serve to listen', () => /streamsight serve: http:/.test(stderr), { timeoutMs: 60_000 });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const frames: Line[] = [];
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as Line & { type: string };
      if (m.type === 'frame') frames.push(m);
    });
    await new Promise<void>((r) => ws.once('open', () => r()));
    ws.send(JSON.stringify({ type: 'subscribe', streams: '*' }));
    const got = await waitFor('3 frames', () => (frames.length >= 3 ? frames.slice(0, 3) : undefined), { timeoutMs: 60_000 });
    ws.close();
    for (const f of got) {
      const want = ref.get(f.ptsMs);
      assert.ok(want, `no analyze frame at ${f.ptsMs}`);
      assert.equal(f.labels[0]!.label, want.labels[0]!.label);
      assert.ok(Math.abs(f.labels[0]!.score - want.labels[0]!.score) < 1e-3);
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});

test('a worker started with --model NAME infers for analyze --redis with the imported preprocessing', { timeout: 120_000 }, async () => {
  redis = await TestRedis.start();
  const env = { REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: 'import' };
  const worker = await startWorker(['--model', 'pets', '--models-dir', modelsDir, '--threads', '1'], env);
  try {
    const local = lines((await runCli(['analyze', '--model', 'pets', '--models-dir', modelsDir, '--fps', '5', clip])).stdout);
    const remote = await runCli(['analyze', '--model', 'pets', '--models-dir', modelsDir, '--fps', '5', '--redis', redis.url, clip], { env });
    assert.equal(remote.code, 0, remote.stderr);
    const got = lines(remote.stdout);
    assert.equal(got.length, local.length);
    got.forEach((l, i) => {
      assert.equal(l.labels[0]!.label, local[i]!.labels[0]!.label);
      assert.ok(Math.abs(l.labels[0]!.score - local[i]!.labels[0]!.score) < 1e-4);
    });
  } finally {
    await worker.stop();
  }
});
