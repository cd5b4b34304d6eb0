import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameLineSchema, type FrameLine } from '../../src/contracts/analyze-output.ts';
import { runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { synthFamily } from '../helpers/family-models.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-families-'));
const clip = join(dir, 'clip.mp4');
const squeeze = join(dir, 'squeeze.onnx');
const v3 = join(dir, 'mnv3.onnx');
const vit = join(dir, 'vit.onnx');
const FLAGS = ['--fps', '4', '--device', 'cpu', '--threads', '1'];

function lines(text: string): FrameLine[] {
  return text
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{"stream"'))
    .map((l) => FrameLineSchema.parse(JSON.parse(l)));
}

/** One `error[CODE]: ...` line on stderr (besides the untrained-model warning), no stack trace. */
function assertOneLineError(stderr: string, code: string, message: RegExp): void {
  const errors = stderr.split('\n').filter((l) => l.startsWith('error['));
  assert.equal(errors.length, 1, stderr);
  assert.ok(errors[0]!.startsWith(`error[${code}]: `), stderr);
  assert.match(errors[0]!, message);
  assert.doesNotMatch(stderr, /\n\s+at .+:\d+:\d+/, `no stack trace expected:\n${stderr}`);
}

before(() => {
  makeClip(clip, { seconds: 2, size: '160x120' });
  writeFileSync(squeeze, synthFamily('squeezenet', { seed: 2, numClasses: 4 }).bytes);
  writeFileSync(v3, synthFamily('mobilenetv3', { seed: 2, numClasses: 4 }).bytes);
  writeFileSync(vit, synthFamily('vit', { seed: 2, numClasses: 4, hfVit: true, softmax: true }).bytes);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('a labels-only model (SqueezeNet-like: no pooled feature before its classifier)', () => {
  test('analyze gives its labels for every sampled frame of a real clip, with no embedding', async () => {
    const r = await runCli(['analyze', '--model', squeeze, ...FLAGS, '--json', clip]);
    assert.equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    assert.equal(out.length, 8);
    for (const line of out) {
      assert.ok(line.labels.length > 0);
      for (const l of line.labels) assert.equal(l.label, `class_${l.index}`);
      assert.ok(line.labels.every((l, i) => i === 0 || l.score <= line.labels[i - 1]!.score));
      assert.equal(line.embedding, undefined);
    }
  });

  test('index refuses it with one line, before creating the index file', async () => {
    const db = join(dir, 'refused.db');
    const r = await runCli(['index', '--model', squeeze, ...FLAGS, '--index', db, clip]);
    assert.equal(r.code, 7, r.stderr);
    assertOneLineError(r.stderr, 'E_MODEL_INVALID', /model "squeeze" gives labels only \(no pooled feature before its classifier\): index needs embeddings/);
    assert.equal(existsSync(db), false);
  });

  test('analyze --embeddings and analyze --index refuse it with one line', async () => {
    const embeddings = await runCli(['analyze', '--model', squeeze, ...FLAGS, '--embeddings', '--json', clip]);
    assert.equal(embeddings.code, 7, embeddings.stderr);
    assertOneLineError(embeddings.stderr, 'E_MODEL_INVALID', /gives labels only .*: --embeddings needs embeddings/);
    assert.equal(embeddings.stdout, '');
    const db = join(dir, 'analyze-refused.db');
    const indexed = await runCli(['analyze', '--model', squeeze, ...FLAGS, '--index', db, '--json', clip]);
    assert.equal(indexed.code, 7, indexed.stderr);
    assertOneLineError(indexed.stderr, 'E_MODEL_INVALID', /gives labels only .*: --index needs embeddings/);
    assert.equal(existsSync(db), false);
  });

  test('models inspect says it gives labels only and names the classifier conv', async () => {
    const r = await runCli(['models', 'inspect', squeeze]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^classifier: {3}Conv \S+ \(4 classes\)$/m);
    assert.match(r.stdout, /^embedding: {4}labels only: no pooled feature before the classifier$/m);
    const json = await runCli(['models', 'inspect', '--json', squeeze]);
    const report = JSON.parse(json.stdout) as { embedding: unknown; inputLayout: string };
    assert.equal(report.embedding, null);
    assert.equal(report.inputLayout, 'NCHW');
  });
});

describe('models with an embedding beyond ResNet', () => {
  test('models inspect names the producing op: the MobileNetV3 hidden feature, the ViT CLS token', async () => {
    const r = await runCli(['models', 'inspect', v3]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^embedding: {4}\S+: hidden feature of HardSwish '\S+' after GlobalAveragePool '\S+' \(32-d\), added as a graph output at load$/m);
    const t = await runCli(['models', 'inspect', vit]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^embedding: {4}\S+: CLS token picked by Slice '\S+' \(16-d\)/m);
    assert.match(t.stdout, /^classifier: {3}Gemm \S+ \(4 classes, ends in Softmax\)$/m);
  });

  test('analyze --embeddings gives each frame the L2-normalised feature', async () => {
    for (const [file, dim] of [
      [v3, 32],
      [vit, 16],
    ] as const) {
      const r = await runCli(['analyze', '--model', file, ...FLAGS, '--embeddings', '--json', clip]);
      assert.equal(r.code, 0, r.stderr);
      const out = lines(r.stdout);
      assert.equal(out.length, 8);
      for (const line of out) {
        assert.equal(line.embedding?.length, dim);
        assert.ok(Math.abs(Math.hypot(...line.embedding!) - 1) < 1e-3);
      }
    }
  });
});
