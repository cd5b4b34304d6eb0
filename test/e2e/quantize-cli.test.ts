import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { FrameLine } from '../../src/contracts/analyze-output.ts';
import { QuantizeOutputSchema, type QuantizeOutput } from '../../src/contracts/quantize-report.ts';
import { CLI, ROOT, runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { freePort } from '../helpers/ports.ts';
import { makeTempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait.ts';
import { TestRedis } from '../integration/transport/redis-server.ts';
import { assertSameFrames, frameLines, startWorker, writeTinyModel, type WorkerProcess } from './distributed-helpers.ts';

const { dir, cleanup } = makeTempDir('ss-quantize-cli-');
const floatModel = join(dir, 'tiny.onnx');
const int8Model = join(dir, 'tiny-int8.onnx');
const clip = join(dir, 'clip.mp4');
const modelsDir = join(dir, 'models');
const ANALYZE = ['analyze', '--every-frame', '--embeddings', '--batch', '8', '--json'];
let quantizeJson: QuantizeOutput;
let int8Frames: FrameLine[];
let redis: TestRedis | undefined;
const workers: WorkerProcess[] = [];

before(async () => {
  writeTinyModel(floatModel);
  makeClip(clip, { seconds: 4, size: '160x120', rate: 25 });
  const r = await runCli([
    'models',
    'quantize',
    floatModel,
    '--calibrate',
    clip,
    '--frames',
    '16',
    '--out',
    int8Model,
    '--name',
    'tiny-int8',
    '--models-dir',
    modelsDir,
    '--json',
    '--progress',
    'json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  quantizeJson = QuantizeOutputSchema.parse(JSON.parse(r.stdout));
  assert.match(r.stderr, /"type":"progress"/);
  // --name: the registered copy is what analyze --model NAME runs.
  const a = await runCli([...ANALYZE, '--model', 'tiny-int8', '--models-dir', modelsDir, clip]);
  assert.equal(a.code, 0, a.stderr);
  int8Frames = frameLines(a.stdout);
});

after(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await redis?.stop();
  cleanup();
});

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  a.forEach((x, i) => {
    dot += x * b[i]!;
    na += x * x;
    nb += b[i]! * b[i]!;
  });
  return dot / Math.sqrt(na * nb);
}

describe('streamsight models quantize, and the INT8 model through analyze, serve and the workers', () => {
  test('--json prints one report object; progress goes to stderr; the text report names the figures', async () => {
    assert.equal(quantizeJson.type, 'quantize');
    assert.equal(quantizeJson.out, int8Model);
    assert.equal(quantizeJson.calibrationFrames, 16);
    assert.equal(quantizeJson.name, 'tiny-int8');
    assert.equal(readFileSync(quantizeJson.path!).equals(readFileSync(int8Model)), true, 'the registered copy is the --out file');
    const list = await runCli(['models', 'list', '--models-dir', modelsDir]);
    assert.match(list.stdout, /tiny-int8/);
    const again = await runCli([
      'models',
      'quantize',
      floatModel,
      '--calibrate',
      clip,
      '--out',
      join(dir, 'x.onnx'),
      '--name',
      'tiny-int8',
      '--models-dir',
      modelsDir,
    ]);
    assert.equal(again.code, 2);
    assert.match(again.stderr.trim(), /^error\[E_USAGE\]: a local model named "tiny-int8" exists; give --force to replace it$/);
    const { agreement } = quantizeJson;
    assert.equal(agreement.frames, 16);
    for (const v of [agreement.top1Agreement, agreement.top1InTop5, agreement.embeddingCosine!.min, agreement.embeddingCosine!.median])
      assert.ok(v >= 0 && v <= 1);
    const text = await runCli(['models', 'quantize', floatModel, '--calibrate', clip, '--frames', '8', '--out', join(dir, 'again.onnx')]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /top-1 agreement\s+\d+\.\d%/);
    assert.match(text.stdout, /FP32 top-1 in top-5\s+\d+\.\d%/);
    assert.match(text.stdout, /embedding cosine\s+min \d\.\d{4}, median \d\.\d{4}/);
    const inspect = await runCli(['models', 'inspect', int8Model]);
    assert.match(inspect.stdout, /precision:\s+INT8/);
  });

  test('analyze with the INT8 model (by its --name): labels and an embedding on every frame, close to FP32', async () => {
    const fp32 = await runCli([...ANALYZE, '--model', floatModel, clip]);
    assert.equal(fp32.code, 0, fp32.stderr);
    const ref = frameLines(fp32.stdout);
    assert.equal(int8Frames.length, 100);
    assert.equal(ref.length, 100);
    int8Frames.forEach((f, i) => {
      assert.equal(f.seq, ref[i]!.seq);
      assert.equal(f.labels.length, 5);
      assert.match(f.labels[0]!.label, /^class_\d$/);
      assert.equal(f.embedding?.length, 64);
      assert.ok(cosine(f.embedding!, ref[i]!.embedding!) > 0.98, `frame ${i}: embedding cosine ${cosine(f.embedding!, ref[i]!.embedding!)}`);
    });
  });

  test('distributed workers running the INT8 model (its file) give what embedded analyze gives, frame by frame', async () => {
    redis = await TestRedis.start();
    const env = { REDIS_URL: redis.url, STREAMSIGHT_REDIS_PREFIX: 'q8' };
    workers.push(await startWorker(['--model', int8Model, '--threads', '1'], env));
    const r = await runCli([...ANALYZE, '--model', int8Model, clip], { env });
    assert.equal(r.code, 0, r.stderr);
    assertSameFrames(frameLines(r.stdout), int8Frames, (msg) => assert.fail(msg));
    assert.equal(await workers[0]!.stop(), 0);
  });

  test('serve with the INT8 model sends labels and embeddings over the WebSocket', async () => {
    const config = join(dir, 'serve.yaml');
    writeFileSync(config, `allowlist:\n  schemes: [file]\n  folders: [${JSON.stringify(dir)}]\n`);
    const port = await freePort();
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
        int8Model,
        '--batch',
        '4',
        '--source',
        `cam1=${clip}`,
        '--live',
        '--loop',
        '--log-level',
        'warn',
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    try {
      await waitFor('healthz', async () => ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok ? true : undefined), {
        timeoutMs: 60_000,
        intervalMs: 200,
        retryErrors: true,
        detail: () => stderr,
      });
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      const frames: Array<{ labels: Array<{ label: string }>; embedding?: { dim: number; b64: string } }> = [];
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as { type: string };
        if (m.type === 'frame') frames.push(m as unknown as (typeof frames)[number]);
      });
      await new Promise<void>((r) => ws.once('open', () => r()));
      ws.send(JSON.stringify({ type: 'subscribe', streams: ['cam1'], topK: 3, embeddings: true }));
      await waitFor('3 frames', async () => (frames.length >= 3 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100, detail: () => stderr });
      ws.close();
      for (const f of frames.slice(0, 3)) {
        assert.equal(f.labels.length, 3);
        assert.match(f.labels[0]!.label, /^class_\d$/);
        assert.equal(f.embedding?.dim, 64);
        const bytes = Buffer.from(f.embedding!.b64, 'base64');
        const v = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        assert.equal(v.length, 64);
        assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-3, 'L2-normalised');
      }
    } finally {
      child.kill('SIGTERM');
    }
  });

  test('bad input: one line and a non-zero exit for a model that is not a float classifier, an undecodable video, too few frames', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['models', 'quantize', int8Model, '--calibrate', clip, '--out', join(dir, 'x.onnx')], 7, /^error\[E_MODEL_INVALID\]: .*already quantized/],
      [['models', 'quantize', clip, '--calibrate', clip, '--out', join(dir, 'x.onnx')], 7, /^error\[E_MODEL_INVALID\]: not an ONNX model/],
      [['models', 'quantize', floatModel, '--calibrate', floatModel, '--out', join(dir, 'x.onnx')], 3, /^error\[E_NOT_A_VIDEO\]/],
    ];
    const short = join(dir, 'short.mp4');
    makeClip(short, { seconds: 0.2, rate: 25 });
    cases.push([['models', 'quantize', floatModel, '--calibrate', short, '--out', join(dir, 'x.onnx')], 2, /^error\[E_USAGE\]: too few frames/]);
    for (const [args, code, line] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, code, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, line);
    }
  });
});
