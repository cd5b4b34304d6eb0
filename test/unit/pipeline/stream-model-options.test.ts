import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigSchema } from '../../../src/config/schema.ts';
import { AddStreamSchema } from '../../../src/contracts/stream-request.ts';
import { labelsForStream } from '../../../src/pipeline/stream-model-options.ts';

const labels = [
  { index: 3, score: 0.6 },
  { index: 1, score: 0.2 },
  { index: 7, score: 0.1 },
  { index: 2, score: 0.05 },
];

test('labelsForStream keeps the best topK labels at or above minScore, in order', () => {
  assert.deepEqual(labelsForStream(labels, undefined), labels);
  assert.deepEqual(
    labelsForStream(labels, { topK: 2 }).map((l) => l.index),
    [3, 1],
  );
  assert.deepEqual(
    labelsForStream(labels, { minScore: 0.1 }).map((l) => l.index),
    [3, 1, 7],
  );
  assert.deepEqual(
    labelsForStream(labels, { minScore: 0.1, topK: 1 }).map((l) => l.index),
    [3],
  );
  assert.deepEqual(labelsForStream(labels, { minScore: 0.9 }), []);
  assert.deepEqual(labelsForStream(labels, { topK: 10 }), labels);
});

test('config sources and POST bodies take the same per-stream options; unknown keys are refused with their path', () => {
  const source = {
    id: 'cam',
    url: 'rtsp://10.0.0.5/x',
    rtspTransport: 'udp',
    watchdog: { stallTimeoutMs: 20_000 },
    model: { name: 'resnet18', topK: 3, minScore: 0.2 },
  };
  assert.equal(ConfigSchema.safeParse({ sources: [source] }).success, true);
  assert.equal(AddStreamSchema.safeParse(source).success, true);
  const bad = ConfigSchema.safeParse({ sources: [{ ...source, model: { device: 'cuda' } }] });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error?.issues[0]?.path, ['sources', 0, 'model']);
  const empty = ConfigSchema.safeParse({ sources: [{ ...source, model: { name: '' } }] });
  assert.deepEqual(empty.error?.issues[0]?.path, ['sources', 0, 'model', 'name']);
  assert.equal(AddStreamSchema.safeParse({ ...source, enabled: true }).success, false, 'enabled is for the config file only');
  assert.equal(AddStreamSchema.safeParse({ ...source, model: { minScore: -0.1 } }).success, false);
});
