import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LabelEvent } from '../../../src/contracts/results.ts';
import { SegmentBuilder } from '../../../src/events/segment-builder.ts';

const ev = (kind: LabelEvent['kind'], ptsMs: number, score: number, label = 'cat', stream = 'cam1'): LabelEvent => ({
  stream,
  label,
  kind,
  ptsMs,
  capturedAt: 1_000 + ptsMs,
  score,
});

test('a start and its end make one closed segment with the larger score as peak', () => {
  const b = new SegmentBuilder();
  assert.equal(b.push(ev('start', 100, 0.7)), undefined);
  assert.equal(b.openCount(), 1);
  assert.deepEqual(b.push(ev('end', 900, 0.95)), { stream: 'cam1', label: 'cat', startMs: 100, endMs: 900, peakScore: 0.95 });
  assert.equal(b.openCount(), 0);
});

test('a repeated start keeps the first; an end with no open start is ignored', () => {
  const b = new SegmentBuilder();
  assert.equal(b.push(ev('end', 50, 0.9)), undefined);
  b.push(ev('start', 100, 0.7));
  b.push(ev('start', 300, 0.8));
  assert.deepEqual(b.push(ev('end', 900, 0.75)), { stream: 'cam1', label: 'cat', startMs: 100, endMs: 900, peakScore: 0.75 });
  assert.equal(b.push(ev('end', 900, 0.75)), undefined, 'a redelivered end');
});

test('labels and streams are kept apart, even when their names contain separators', () => {
  const b = new SegmentBuilder();
  const got = b.pushAll([
    ev('start', 0, 0.6, 'a', 'x:y'),
    ev('start', 0, 0.6, 'y:a', 'x'),
    ev('start', 100, 0.9, 'dog', 'x:y'),
    ev('end', 500, 0.6, 'y:a', 'x'),
    ev('end', 700, 0.9, 'dog', 'x:y'),
  ]);
  assert.deepEqual(got, [
    { stream: 'x', label: 'y:a', startMs: 0, endMs: 500, peakScore: 0.6 },
    { stream: 'x:y', label: 'dog', startMs: 100, endMs: 700, peakScore: 0.9 },
  ]);
  assert.equal(b.openCount('x:y'), 1);
  assert.equal(b.openCount('x'), 0);
});
