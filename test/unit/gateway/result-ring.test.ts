import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FrameResult } from '../../../src/contracts/results.ts';
import { ResultRing } from '../../../src/gateway/result-ring.ts';

function r(stream: string, seq: number, run = 'r1', capturedAt = 1000 + seq): FrameResult {
  return { stream, run, seq, ptsMs: seq * 200, capturedAt, labels: [], latencyMs: 1, model: 'm' };
}

test('keeps the last `capacity` results per stream, oldest first', () => {
  const ring = new ResultRing({ capacity: 3 });
  for (let i = 0; i < 10; i++) ring.add(r('a', i));
  ring.add(r('b', 0));
  assert.deepEqual(
    ring.recent('a', 100).map((x) => x.seq),
    [7, 8, 9],
  );
  assert.deepEqual(
    ring.recent('a', 2).map((x) => x.seq),
    [8, 9],
  );
  assert.deepEqual(
    ring.recent('b', 5).map((x) => x.seq),
    [0],
  );
  assert.deepEqual(ring.recent('nope', 5), []);
  assert.deepEqual(ring.streamIds().sort(), ['a', 'b']);
});

test('is idempotent on (stream, run, seq): a duplicate is refused and not stored twice', () => {
  const ring = new ResultRing({ capacity: 10 });
  assert.equal(ring.add(r('a', 1)), true);
  assert.equal(ring.add(r('a', 1)), false);
  assert.equal(ring.add(r('a', 1, 'r2')), true);
  assert.equal(ring.add(r('b', 1)), true);
  assert.equal(ring.recent('a', 10).length, 2);
});

test('remembers identities beyond the replay capacity, and even with capacity 0', () => {
  const ring = new ResultRing({ capacity: 0, identityCapacity: 50 });
  for (let i = 0; i < 50; i++) assert.ok(ring.add(r('a', i)));
  for (let i = 0; i < 50; i++) assert.equal(ring.add(r('a', i)), false);
  assert.deepEqual(ring.recent('a', 10), []);
  ring.add(r('a', 50));
  assert.equal(ring.add(r('a', 0)), true, 'forgotten once identityCapacity newer ones came');
});

test('out-of-order arrivals are sorted in by seq; one older than everything kept is not stored when full', () => {
  const ring = new ResultRing({ capacity: 3 });
  for (const s of [5, 3, 4, 7]) ring.add(r('a', s));
  assert.deepEqual(
    ring.recent('a', 3).map((x) => x.seq),
    [4, 5, 7],
  );
  ring.add(r('a', 1));
  assert.deepEqual(
    ring.recent('a', 3).map((x) => x.seq),
    [4, 5, 7],
  );
});

test('a new run sorts after the old one by capture time, whatever its seq', () => {
  const ring = new ResultRing({ capacity: 5 });
  ring.add(r('a', 100, 'old', 1000));
  ring.add(r('a', 101, 'old', 1001));
  ring.add(r('a', 0, 'new', 2000));
  ring.add(r('a', 1, 'new', 2001));
  assert.deepEqual(
    ring.recent('a', 5).map((x) => `${x.run}:${x.seq}`),
    ['old:100', 'old:101', 'new:0', 'new:1'],
  );
});

test('options are validated', () => {
  assert.throws(() => new ResultRing({ capacity: -1 }), RangeError);
  assert.throws(() => new ResultRing({ capacity: 10, identityCapacity: 5 }), RangeError);
});
