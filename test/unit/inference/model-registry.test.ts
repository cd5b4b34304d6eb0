import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_MODELS_DIR,
  ManifestSchema,
  loadManifest,
  modelCachePath,
  preprocessFromEntry,
  resolveModel,
  type Manifest,
} from '../../../src/inference/model-registry.ts';
import { loadLabels } from '../../../src/inference/labels.ts';
import { ConfigError, ModelNotFoundError } from '../../../src/shared/errors.ts';

describe('shipped manifest', () => {
  const manifest = loadManifest();

  it('validates and lists resnet18/34/50/101/152', () => {
    assert.deepEqual(
      manifest.models.map((m) => m.name),
      ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152'],
    );
  });

  it('gives every entry a 64-hex sha256, a positive size, an https URL and a labels file that loads', () => {
    for (const m of manifest.models) {
      assert.match(m.sha256, /^[0-9a-f]{64}$/, m.name);
      assert.ok(Number.isInteger(m.bytes) && m.bytes > 0, m.name);
      assert.ok(m.url.startsWith('https://'), m.name);
      assert.equal(loadLabels(join(DEFAULT_MODELS_DIR, m.labels)).length, 1000, m.name);
    }
  });

  it('has distinct checksums and the embedding sizes of the architectures', () => {
    assert.equal(new Set(manifest.models.map((m) => m.sha256)).size, manifest.models.length);
    const dims = Object.fromEntries(manifest.models.map((m) => [m.name, m.embeddingDim]));
    assert.deepEqual(dims, { resnet18: 512, resnet34: 512, resnet50: 2048, resnet101: 2048, resnet152: 2048 });
  });

  it('is frozen, so callers cannot edit the shared copy', () => {
    assert.ok(Object.isFrozen(manifest.models[0]));
  });

  it('turns an entry into the ImageNet preprocessing', () => {
    const entry = manifest.models[0];
    assert.ok(entry);
    const layer = preprocessFromEntry(entry);
    assert.deepEqual(layer.values.resize, { shorter: 256 });
    assert.deepEqual(layer.values.crop, { width: 224, height: 224 });
    assert.deepEqual(layer.values.mean, [0.485, 0.456, 0.406]);
    assert.match(layer.origin, /resnet18/);
  });
});

describe('loadManifest errors', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'streamsight-manifest-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('names the key path of an invalid field', () => {
    const good = loadManifest();
    const bad = JSON.parse(JSON.stringify(good)) as { models: { sha256: string }[] };
    (bad.models[1] as { sha256: string }).sha256 = 'abc';
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(bad));
    assert.throws(
      () => loadManifest(dir),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /models\.1\.sha256/);
        return true;
      },
    );
  });

  it('rejects duplicate names', () => {
    const good = loadManifest();
    const first = good.models[0];
    assert.ok(first);
    const result = ManifestSchema.safeParse({ schemaVersion: 1, models: [first, first] });
    assert.equal(result.success, false);
  });

  it('throws ConfigError for a missing manifest', () => {
    assert.throws(() => loadManifest(join(dir, 'nowhere')), ConfigError);
  });
});

describe('resolveModel', () => {
  let dir: string;
  let cacheDir: string;
  let manifest: Manifest;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'streamsight-resolve-'));
    cacheDir = join(dir, 'cache');
    mkdirSync(cacheDir);
    const fake = {
      schemaVersion: 1,
      models: [
        {
          ...loadManifest().models[0],
          name: 'tiny',
          bytes: 4,
          sha256: 'a'.repeat(64),
        },
      ],
    };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(fake));
    copyFileSync(join(DEFAULT_MODELS_DIR, 'imagenet-classes.txt'), join(dir, 'imagenet-classes.txt'));
    manifest = loadManifest(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('uses an existing .onnx path as is, without an entry', () => {
    const file = join(dir, 'custom.onnx');
    writeFileSync(file, 'onnx');
    assert.deepEqual(resolveModel(file, { modelsDir: dir, cacheDir }), { path: file, source: 'file' });
  });

  it('throws ModelNotFoundError listing known names for a missing path', () => {
    assert.throws(
      () => resolveModel(join(dir, 'missing.onnx'), { modelsDir: dir, cacheDir }),
      (err: unknown) => {
        assert.ok(err instanceof ModelNotFoundError);
        assert.match(err.message, /model file not found: .*missing\.onnx/);
        assert.match(err.hint ?? '', /known models: tiny/);
        return true;
      },
    );
  });

  it('throws ModelNotFoundError listing known names for an unknown name', () => {
    assert.throws(
      () => resolveModel('resnet9000', { manifest, cacheDir }),
      (err: unknown) => {
        assert.ok(err instanceof ModelNotFoundError);
        assert.equal(err.code, 'E_MODEL_NOT_FOUND');
        assert.equal(err.toLine(), 'error[E_MODEL_NOT_FOUND]: unknown model "resnet9000" (known models: tiny)');
        return true;
      },
    );
  });

  it('tells the user to pull a registry model that is not downloaded', () => {
    assert.throws(
      () => resolveModel('tiny', { modelsDir: dir, cacheDir }),
      (err: unknown) => {
        assert.ok(err instanceof ModelNotFoundError);
        assert.match(err.message, /model tiny is not downloaded \(expected .*tiny\.onnx\)/);
        assert.equal(err.hint, 'run: streamsight models pull tiny');
        return true;
      },
    );
  });

  it('resolves a pulled registry model to <cacheDir>/<name>.onnx with its entry and labels', () => {
    writeFileSync(modelCachePath('tiny', cacheDir), 'abcd');
    const got = resolveModel('tiny', { modelsDir: dir, cacheDir });
    assert.equal(got.source, 'registry');
    assert.equal(got.path, join(cacheDir, 'tiny.onnx'));
    assert.equal(got.entry?.name, 'tiny');
    assert.equal(got.labelsPath, join(dir, 'imagenet-classes.txt'));
  });

  it('refuses a pulled file whose size differs from the manifest', () => {
    writeFileSync(modelCachePath('tiny', cacheDir), 'abcdef');
    assert.throws(() => resolveModel('tiny', { modelsDir: dir, cacheDir }), /6 bytes, the manifest says 4/);
  });

  it('rejects an empty name with a TypeError', () => {
    assert.throws(() => resolveModel('', { manifest }), TypeError);
  });
});
