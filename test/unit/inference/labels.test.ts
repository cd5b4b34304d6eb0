import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labelsFromMetadata, loadLabels, parseLabels, parsePythonLiteral, preprocessFromHf } from '../../../src/inference/labels.ts';
import { InputNotFoundError, ModelInvalidError } from '../../../src/shared/errors.ts';

const IMAGENET_FILE = fileURLToPath(new URL('../../../models/imagenet-classes.txt', import.meta.url));

describe('loadLabels', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'streamsight-labels-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string): string => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('reads the shipped ImageNet file: 1000 classes, 0 is tench, 281 is tabby', () => {
    const labels = loadLabels(IMAGENET_FILE);
    assert.equal(labels.length, 1000);
    assert.equal(labels[0], 'tench, Tinca tinca');
    assert.equal(labels[281], 'tabby, tabby cat');
    assert.equal(labels[999], 'toilet tissue, toilet paper, bathroom tissue');
  });

  it('reads a text file one label per line, CRLF and trailing newlines included', () => {
    assert.deepEqual(loadLabels(write('a.txt', 'cat\r\ndog\r\n\r\n')), ['cat', 'dog']);
  });

  it('strips ImageNet synset ids when every line has one', () => {
    assert.deepEqual(loadLabels(write('synset.txt', 'n01440764 tench, Tinca tinca\nn01443537 goldfish\n')), ['tench, Tinca tinca', 'goldfish']);
  });

  it('rejects a blank line in the middle, which would shift later indices', () => {
    assert.throws(
      () => loadLabels(write('gap.txt', 'a\n\nb\n')),
      (err: unknown) => {
        assert.ok(err instanceof ModelInvalidError);
        assert.match(err.message, /gap\.txt: line 2 is empty/);
        return true;
      },
    );
  });

  it('reads a JSON array', () => {
    assert.deepEqual(loadLabels(write('a.json', '["x", "y", "z"]')), ['x', 'y', 'z']);
  });

  it('reads a Hugging Face config.json id2label in index order, not key order', () => {
    const config = { architectures: ['ResNetForImageClassification'], id2label: { '1': 'goldfish', '0': 'tench', '2': 'shark' }, label2id: {} };
    assert.deepEqual(loadLabels(write('config.json', JSON.stringify(config))), ['tench', 'goldfish', 'shark']);
  });

  it('rejects id2label with a gap in the indices', () => {
    assert.throws(() => loadLabels(write('gap.json', '{"id2label": {"0": "a", "2": "c"}}')), ModelInvalidError);
  });

  it('throws InputNotFoundError for a missing file', () => {
    assert.throws(() => loadLabels(join(dir, 'nope.txt')), InputNotFoundError);
  });

  it('rejects an empty file and broken JSON', () => {
    assert.throws(() => parseLabels('  \n'), ModelInvalidError);
    assert.throws(() => parseLabels('["a",'), ModelInvalidError);
  });
});

describe('labelsFromMetadata', () => {
  it('parses the Ultralytics Python dict repr without eval', () => {
    const got = labelsFromMetadata({ names: "{0: 'person', 1: 'bicycle', 2: \"it's\", 3: 'back\\\\slash'}" });
    assert.deepEqual(got, { labels: ['person', 'bicycle', "it's", 'back\\slash'], key: 'names' });
  });

  it('parses JSON arrays and objects under labels, classes and id2label', () => {
    assert.deepEqual(labelsFromMetadata({ labels: '["a","b"]' })?.labels, ['a', 'b']);
    assert.deepEqual(labelsFromMetadata({ classes: '{"0":"a","1":"b"}' })?.labels, ['a', 'b']);
    assert.deepEqual(labelsFromMetadata({ id2label: '{"1":"b","0":"a"}' })?.key, 'id2label');
  });

  it('returns undefined when no label key is present', () => {
    assert.equal(labelsFromMetadata({ author: 'Ultralytics', stride: '32' }), undefined);
  });

  it('throws ModelInvalidError naming the key when the value is not a label table', () => {
    assert.throws(
      () => labelsFromMetadata({ names: "__import__('os').system('x')" }),
      (err: unknown) => {
        assert.ok(err instanceof ModelInvalidError);
        assert.match(err.message, /metadata "names"/);
        return true;
      },
    );
  });
});

describe('parsePythonLiteral', () => {
  it('parses lists, tuples, nested dicts, escapes and trailing commas', () => {
    assert.deepEqual(parsePythonLiteral("[ 'a', ('b', 2), {'k': -1,}, '\\x41\\u00e9\\n' ]"), ['a', ['b', 2], { k: -1 }, 'A\u00e9\n']);
  });

  it('rejects unterminated strings and trailing garbage with an offset', () => {
    assert.throws(() => parsePythonLiteral("{0: 'a"), /unterminated string/);
    assert.throws(() => parsePythonLiteral("{0: 'a'} x"), /offset 9: trailing characters/);
    assert.throws(() => parsePythonLiteral('{0 1}'), /expected ":"/);
  });
});

describe('preprocessFromHf', () => {
  it('maps microsoft/resnet-50 (ConvNext processor, size 224, crop_pct 0.875, resample 3) to resize 256 / crop 224 bicubic', () => {
    const { values, origin } = preprocessFromHf({
      crop_pct: 0.875,
      do_normalize: true,
      do_rescale: true,
      do_resize: true,
      image_mean: [0.485, 0.456, 0.406],
      image_std: [0.229, 0.224, 0.225],
      image_processor_type: 'ConvNextImageProcessor',
      resample: 3,
      rescale_factor: 0.00392156862745098,
      size: { shortest_edge: 224 },
    });
    assert.deepEqual(values.resize, { shorter: 256 });
    assert.deepEqual(values.crop, { width: 224, height: 224 });
    assert.equal(values.interpolation, 'bicubic');
    assert.deepEqual(values.mean, [0.485, 0.456, 0.406]);
    assert.deepEqual(values.std, [0.229, 0.224, 0.225]);
    assert.equal(values.scale, 0.00392156862745098);
    assert.equal(values.channelOrder, 'RGB');
    assert.match(origin, /preprocessor_config\.json \(ConvNextImageProcessor\)/);
  });

  it('accepts the legacy numeric size and defaults crop_pct to 224/256', () => {
    const { values, origin } = preprocessFromHf({ feature_extractor_type: 'ConvNextFeatureExtractor', size: 224 }, 'hub/config');
    assert.deepEqual(values.resize, { shorter: 256 });
    assert.match(origin, /^Hugging Face hub\/config \(ConvNextFeatureExtractor\)/);
  });

  it('uses crop_size for Bit-style processors (shortest_edge 256, crop 224)', () => {
    const { values } = preprocessFromHf({ size: { shortest_edge: 256 }, do_center_crop: true, crop_size: { height: 224, width: 224 } });
    assert.deepEqual([values.resize, values.crop], [{ shorter: 256 }, { width: 224, height: 224 }]);
  });

  it('warps straight to the size from 384 up, and for a height/width size (ViT), as HF does', () => {
    assert.deepEqual(preprocessFromHf({ size: { shortest_edge: 384 } }).values.resize, { width: 384, height: 384 });
    const vit = preprocessFromHf({ size: { height: 224, width: 224 }, resample: 2, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] }).values;
    assert.deepEqual([vit.resize, vit.crop, vit.interpolation], [{ width: 224, height: 224 }, { width: 224, height: 224 }, 'bilinear']);
  });

  it('honours do_normalize and do_rescale false', () => {
    const { values } = preprocessFromHf({ size: 224, do_normalize: false, do_rescale: false });
    assert.deepEqual(values.mean, [0, 0, 0]);
    assert.deepEqual(values.std, [1, 1, 1]);
    assert.equal(values.scale, 1);
  });

  it('leaves missing keys to the next source', () => {
    const { values } = preprocessFromHf({});
    assert.deepEqual(Object.keys(values).sort(), ['channelOrder', 'scale']);
  });

  it('throws ModelInvalidError naming the bad key', () => {
    assert.throws(() => preprocessFromHf({ image_mean: [0.5, 0.5] }), /image_mean/);
    assert.throws(() => preprocessFromHf('nope'), ModelInvalidError);
  });
});
