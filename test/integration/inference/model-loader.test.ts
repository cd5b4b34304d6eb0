import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../../src/inference/model-loader.ts';
import { inspectModel } from '../../../src/inference/model-inspect.ts';
import { encodeModel } from '../../../src/inference/onnx-proto.ts';
import { synthResnetModel } from '../../../src/inference/resnet-synth.ts';
import { ModelInvalidError } from '../../../src/shared/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-loader-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const tiny = { arch: 'resnet18' as const, seed: 5, baseWidth: 8, inputSize: 64, numClasses: 3 };

test('a Hugging Face export: labels from config.json, preprocessing from preprocessor_config.json beside it', () => {
  const hf = join(dir, 'hf');
  mkdirSync(hf);
  writeFileSync(join(hf, 'model.onnx'), encodeModel(synthResnetModel({ ...tiny, headStyle: 'hf' })));
  writeFileSync(join(hf, 'config.json'), JSON.stringify({ id2label: { 0: 'cat', 1: 'dog', 2: 'bird' } }));
  writeFileSync(
    join(hf, 'preprocessor_config.json'),
    JSON.stringify({
      do_resize: true,
      size: { shortest_edge: 64 },
      crop_pct: 0.875,
      do_normalize: true,
      image_mean: [0.5, 0.5, 0.5],
      image_std: [0.5, 0.5, 0.5],
      rescale_factor: 1 / 255,
    }),
  );
  const m = loadModel(join(hf, 'model.onnx'));
  assert.deepEqual(m.labels, ['cat', 'dog', 'bird']);
  assert.match(m.labelsSource, /config\.json/);
  assert.equal(m.inputName, 'pixel_values');
  assert.deepEqual(m.preprocess.mean, [0.5, 0.5, 0.5]);
  assert.equal(m.preprocess.inputWidth, 64);
  assert.deepEqual(m.preprocess.resize, { shorter: 73 }); // floor(64 / 0.875)
  assert.equal(m.embeddingDim, 64); // 8 * 8 (bottleneck-free resnet18 at width 8)
});

test('class names from the model metadata (Ultralytics writes a Python dict)', () => {
  const proto = synthResnetModel(tiny);
  proto.metadata_props = [...(proto.metadata_props ?? []), { key: 'names', value: "{0: 'person', 1: 'bicycle', 2: 'car'}" }];
  const file = join(dir, 'ultra.onnx');
  writeFileSync(file, encodeModel(proto));
  const m = loadModel(file);
  assert.deepEqual(m.labels, ['person', 'bicycle', 'car']);
  assert.equal(m.labelsSource, 'model metadata');
  assert.equal(m.untrained, true);
  // The model's own 64x64 input gives the default transform at that size.
  assert.equal(m.preprocess.inputHeight, 64);
  assert.deepEqual(m.preprocess.resize, { shorter: 73 });
  const report = inspectModel(file);
  assert.equal(report.classCount, 3);
  assert.equal(report.embedding?.dim, 64);
  assert.equal(report.embedding.kind, 'pooling');
  assert.match(report.embedding.description, /^pooled feature of GlobalAveragePool '.+' \(64-d\)$/);
  assert.equal(report.inputLayout, 'NCHW');
  assert.equal(report.classifier.op, 'Gemm');
});

test('--labels overrides everything, and a count that does not match the classes is refused', () => {
  const file = join(dir, 'plain.onnx');
  writeFileSync(file, encodeModel(synthResnetModel(tiny)));
  const labels = join(dir, 'labels.txt');
  writeFileSync(labels, 'red\ngreen\nblue\n');
  assert.deepEqual(loadModel(file, { labelsFile: labels }).labels, ['red', 'green', 'blue']);
  const wrong = join(dir, 'wrong.txt');
  writeFileSync(wrong, 'a\nb\n');
  assert.throws(
    () => loadModel(file, { labelsFile: wrong }),
    (e: unknown) => e instanceof ModelInvalidError && /2 names but the model has 3 classes/.test(e.message),
  );
  // No labels anywhere: numbered classes.
  assert.deepEqual(loadModel(file).labels, ['class_0', 'class_1', 'class_2']);
});

test("a timm export: labels from config.json's label_names, preprocessing from its pretrained_cfg; the flags still win field by field", () => {
  const timm = join(dir, 'timm');
  mkdirSync(timm);
  writeFileSync(join(timm, 'model.onnx'), encodeModel(synthResnetModel(tiny)));
  writeFileSync(
    join(timm, 'config.json'),
    JSON.stringify({
      architecture: 'resnet18',
      num_classes: 3,
      label_names: ['cat', 'dog', 'bird'],
      pretrained_cfg: { input_size: [3, 64, 64], interpolation: 'bicubic', crop_pct: 0.95, mean: [0.5, 0.4, 0.3], std: [0.2, 0.3, 0.4] },
    }),
  );
  const m = loadModel(join(timm, 'model.onnx'));
  assert.deepEqual(m.labels, ['cat', 'dog', 'bird']);
  assert.deepEqual(m.preprocess.resize, { shorter: 67 }); // floor(64 / 0.95)
  assert.equal(m.preprocess.interpolation, 'bicubic');
  assert.deepEqual(
    [m.preprocess.mean, m.preprocess.std],
    [
      [0.5, 0.4, 0.3],
      [0.2, 0.3, 0.4],
    ],
  );
  assert.match(m.preprocess.origins.interpolation, /^timm .*config\.json$/);
  const flagged = loadModel(join(timm, 'model.onnx'), { preprocess: [{ origin: 'flags', values: { interpolation: 'bilinear' } }] });
  assert.equal(flagged.preprocess.interpolation, 'bilinear');
  assert.equal(flagged.preprocess.origins.interpolation, 'flags');
  assert.deepEqual(flagged.preprocess.mean, [0.5, 0.4, 0.3]);
});
