import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PreprocessOverridesSchema } from '../../../src/contracts/preprocess.ts';
import { checkedLayer, resolvePreprocess } from '../../../src/inference/preprocess-resolve.ts';
import { presetLayer } from '../../../src/inference/preprocess-presets.ts';
import { streamsightLayer, timmConfigLayer, ultralyticsLayer } from '../../../src/inference/preprocess-sources.ts';
import { ModelInvalidError, UsageError } from '../../../src/shared/errors.ts';

const fixed224 = { layout: 'NCHW' as const, width: 224, height: 224 };
const dynamic = { layout: 'NCHW' as const, width: null, height: null };

describe('resolvePreprocess', () => {
  it('gives ImageNet evaluation defaults at the model input size when nothing is said', () => {
    const spec = resolvePreprocess([], fixed224);
    assert.deepEqual(spec.resize, { shorter: 256 });
    assert.deepEqual([spec.inputWidth, spec.inputHeight, spec.interpolation, spec.layout], [224, 224, 'bilinear', 'NCHW']);
    assert.match(spec.origins.mean, /default/);
    const at299 = resolvePreprocess([], { layout: 'NCHW', width: 299, height: 299 });
    assert.deepEqual(at299.resize, { shorter: 342 }); // round(299 / 0.875)
  });

  it('takes each field from the first source that sets it, and names that source', () => {
    const spec = resolvePreprocess(
      [
        { origin: 'flags', values: { resize: { shorter: 232 } } },
        { origin: 'config', values: { resize: { shorter: 300 }, interpolation: 'bicubic' } },
        { origin: 'metadata', values: { mean: [0, 0, 0], std: [1, 1, 1], interpolation: 'bilinear' } },
      ],
      fixed224,
    );
    assert.deepEqual(spec.resize, { shorter: 232 });
    assert.equal(spec.interpolation, 'bicubic');
    assert.deepEqual(spec.mean, [0, 0, 0]);
    assert.deepEqual(
      [spec.origins.resize, spec.origins.interpolation, spec.origins.mean, spec.origins.crop],
      ['flags', 'config', 'metadata', 'default (ImageNet evaluation transform)'],
    );
    assert.equal(spec.source, "flags; default (ImageNet evaluation transform); config; metadata; the model's input shape");
  });

  it('derives the default resize from a crop given for a model with a symbolic size', () => {
    const spec = resolvePreprocess([{ origin: 'flags', values: { crop: { width: 288, height: 288 } } }], dynamic);
    assert.deepEqual(spec.resize, { shorter: 329 });
  });

  it('refuses what cannot feed the model, naming where each value came from', () => {
    assert.throws(
      () => resolvePreprocess([{ origin: 'flags', values: { crop: { width: 240, height: 240 } } }], fixed224),
      (err: unknown) => err instanceof UsageError && /crop 240x240 \(crop from flags\) does not match the model's input 224x224/.test(err.message),
    );
    assert.throws(
      () => resolvePreprocess([{ origin: 'config', values: { resize: { shorter: 200 } } }], fixed224),
      /larger than the resize to shorter side 200/,
    );
    assert.throws(() => resolvePreprocess([{ origin: 'config', values: { layout: 'NHWC' } }], fixed224), /contradicts the model's input, which is NCHW/);
  });
});

describe('preprocessing sources', () => {
  it('reads an Ultralytics classify export: mean 0, std 1, crop fraction 1.0, bilinear', () => {
    const layer = ultralyticsLayer({ author: 'Ultralytics', task: 'classify', imgsz: '[224, 224]', names: "{0: 'cat'}" });
    assert.ok(layer);
    assert.deepEqual(layer.values.resize, { shorter: 224 });
    assert.deepEqual([layer.values.mean, layer.values.std, layer.values.interpolation], [[0, 0, 0], [1, 1, 1], 'bilinear']);
    assert.deepEqual(ultralyticsLayer({ author: 'Ultralytics', task: 'classify', imgsz: '[192, 256]' })!.values.resize, { width: 256, height: 192 });
    assert.equal(ultralyticsLayer({ author: 'Ultralytics', task: 'detect', imgsz: '[640, 640]' }), undefined);
    assert.equal(ultralyticsLayer({ names: "{0: 'cat'}" }), undefined);
    assert.throws(() => ultralyticsLayer({ author: 'Ultralytics', task: 'classify', imgsz: 'big' }), ModelInvalidError);
  });

  it("reads timm's config.json pretrained_cfg through timm's eval rule", () => {
    const layer = timmConfigLayer(
      {
        architecture: 'convnext_tiny',
        num_classes: 1000,
        pretrained_cfg: { input_size: [3, 224, 224], interpolation: 'bicubic', crop_pct: 0.95, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
      },
      'config.json',
    );
    assert.ok(layer);
    assert.deepEqual(layer.values.resize, { shorter: 235 }); // floor(224 / 0.95)
    assert.deepEqual([layer.values.crop, layer.values.interpolation], [{ width: 224, height: 224 }, 'bicubic']);
    const squash = timmConfigLayer({ pretrained_cfg: { input_size: [3, 224, 224], crop_pct: 1, crop_mode: 'squash' } }, 'c.json');
    assert.deepEqual(squash!.values.resize, { width: 224, height: 224 });
    assert.equal(timmConfigLayer({ id2label: { 0: 'cat' } }, 'hf.json'), undefined);
    assert.throws(() => timmConfigLayer({ pretrained_cfg: { interpolation: 'lanczos' } }, 'c.json'), /lanczos/);
  });

  it('reads what StreamSight wrote, and refuses a damaged value', () => {
    const layer = streamsightLayer({ 'streamsight.preprocess': JSON.stringify({ resize: { shorter: 232 }, interpolation: 'bilinear' }) });
    assert.deepEqual(layer?.values, { resize: { shorter: 232 }, interpolation: 'bilinear' });
    assert.throws(() => streamsightLayer({ 'streamsight.preprocess': '{"resize": {"shorter": -1}}' }), ModelInvalidError);
    assert.throws(() => streamsightLayer({ 'streamsight.preprocess': 'nope' }), /not JSON/);
  });

  it('scales each preset to other crops, keeping its ratio', () => {
    assert.deepEqual(presetLayer('torchvision-v2', { width: 224, height: 224 }).values.resize, { shorter: 232 });
    assert.deepEqual(presetLayer('timm', { width: 288, height: 288 }).values.resize, { shorter: 329 });
    assert.deepEqual(presetLayer('ultralytics', { width: 96, height: 96 }).values.std, [1, 1, 1]);
  });

  it('accepts a bare number as the shorter side in config, and nothing unknown', () => {
    assert.deepEqual(PreprocessOverridesSchema.parse({ resize: 232 }).resize, { shorter: 232 });
    assert.throws(() => checkedLayer('config', { resize: { shorter: 232, width: 10 } }), ModelInvalidError);
    assert.throws(() => checkedLayer('config', { colour: 'BGR' }), /colour/);
  });
});
