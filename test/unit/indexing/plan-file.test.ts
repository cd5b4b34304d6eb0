import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planFile } from '../../../src/indexing/index-pipeline.ts';
import type { VideoRow } from '../../../src/indexing/index-schema.ts';
import type { VideoKey } from '../../../src/indexing/index-store.ts';

const key: VideoKey = {
  path: '/v/a.mp4',
  contentHash: 'h1',
  sizeBytes: 1000,
  model: 'resnet18',
  modelHash: 'm1',
  modelPath: '/m/resnet18.onnx',
  untrained: false,
  embeddingDim: 512,
  sampling: 'fps:1',
};

/** The row a run with `key` stored, in `status`, with `frames` committed. */
function row(status: VideoRow['status'], frames: number, over: Partial<VideoRow> = {}): VideoRow {
  return {
    id: 1,
    path: key.path,
    content_hash: key.contentHash,
    size_bytes: key.sizeBytes,
    duration_ms: 4000,
    fps: 25,
    width: 320,
    height: 240,
    codec: 'h264',
    model: key.model,
    model_hash: key.modelHash,
    model_path: key.modelPath,
    untrained: 0,
    embedding_dim: key.embeddingDim,
    sampling: key.sampling,
    status,
    failure_code: status === 'failed' ? 'E_INPUT_CORRUPT' : null,
    failure_reason: status === 'failed' ? 'moov atom not found' : null,
    frames,
    started_at: 1,
    finished_at: status === 'indexing' ? null : 2,
    ...over,
  };
}

describe('planFile (what a stored row means for the next index run)', () => {
  test('a file never seen is indexed from frame 0', () => {
    assert.deepEqual(planFile(undefined, key, false), { resumeFrom: 0 });
  });

  test('done with the same content, model and sampling: skipped as unchanged', () => {
    assert.deepEqual(planFile(row('done', 4), key, false), { skip: 'unchanged' });
    assert.deepEqual(planFile(row('done', 4), key, true), { skip: 'unchanged' }, '--retry-failed does not redo finished files');
  });

  test('left at `indexing` by a killed run with the same key: resumed from its committed frame count', () => {
    assert.deepEqual(planFile(row('indexing', 7), key, false), { resumeFrom: 7 });
    assert.deepEqual(planFile(row('indexing', 0), key, false), { resumeFrom: 0 });
  });

  test('failed before: skipped with the old reason, unless --retry-failed; then indexed from 0, not resumed', () => {
    assert.deepEqual(planFile(row('failed', 3), key, false), { skip: 'failed before: moov atom not found' });
    assert.deepEqual(planFile(row('failed', 3, { failure_reason: null }), key, false), { skip: 'failed before: ' });
    assert.deepEqual(planFile(row('failed', 3), key, true), { resumeFrom: 0 });
  });

  test('any change of content, model or sampling re-indexes from 0, whatever the stored status', () => {
    for (const change of [{ content_hash: 'h2' }, { model_hash: 'm2' }, { sampling: 'fps:2' }] satisfies Partial<VideoRow>[]) {
      for (const status of ['done', 'indexing', 'failed'] as const) {
        assert.deepEqual(planFile(row(status, 5, change), key, false), { resumeFrom: 0 }, `${status} with ${JSON.stringify(change)}`);
      }
    }
  });

  test('the model name and path are not part of the key: the same bytes under another name are still the same model', () => {
    assert.deepEqual(planFile(row('done', 4, { model: 'renamed', model_path: '/elsewhere/x.onnx' }), key, false), { skip: 'unchanged' });
  });
});
