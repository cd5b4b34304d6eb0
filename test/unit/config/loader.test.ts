import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/loader.ts';
import { ConfigError } from '../../../src/shared/errors.ts';

function withFile(text: string, fn: (file: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'ss-config-'));
  try {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, text);
    fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('defaults apply when nothing is set', () => {
  const c = loadConfig({ env: {} });
  assert.equal(c.model.name, 'resnet50');
  assert.equal(c.model.batch, 8);
  assert.equal(c.sampling.fps, 1);
});

test('file, then environment, then flags: the later wins', () => {
  withFile('model:\n  batch: 2\n  topK: 3\n  device: cpu\n', (file) => {
    const c = loadConfig({ file, env: { STREAMSIGHT_BATCH: '4' }, flags: { model: { device: 'auto' } } });
    assert.equal(c.model.topK, 3);
    assert.equal(c.model.batch, 4);
    assert.equal(c.model.device, 'auto');
  });
});

test('a bad value names the key path', () => {
  withFile('model:\n  batch: -1\n', (file) => {
    assert.throws(
      () => loadConfig({ file, env: {} }),
      (err: unknown) => err instanceof ConfigError && /"model\.batch"/.test(err.message),
    );
  });
  assert.throws(
    () => loadConfig({ env: { STREAMSIGHT_DEVICE: 'tpu' } }),
    (err: unknown) => err instanceof ConfigError && /"model\.device"/.test(err.message),
  );
  assert.throws(
    () => loadConfig({ env: { STREAMSIGHT_BATCH: 'lots' } }),
    (err: unknown) => err instanceof ConfigError && /STREAMSIGHT_BATCH/.test(err.message),
  );
});

test('an unknown key is refused, not ignored', () => {
  withFile('model:\n  bacth: 4\n', (file) => {
    assert.throws(
      () => loadConfig({ file, env: {} }),
      (err: unknown) => err instanceof ConfigError && /model/.test(err.message),
    );
  });
});

test('the loaded config is frozen', () => {
  const c = loadConfig({ env: {} });
  assert.throws(() => {
    (c.model as { batch: number }).batch = 3;
  }, TypeError);
});

test('a missing or non-YAML config file is a ConfigError', () => {
  assert.throws(() => loadConfig({ file: '/nonexistent/streamsight.yaml', env: {} }), ConfigError);
  withFile('model: [unclosed', (file) => assert.throws(() => loadConfig({ file, env: {} }), ConfigError));
});
