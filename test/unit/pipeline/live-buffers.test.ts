import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame } from '../../../src/contracts/frame.ts';
import { LatestFrameBuffer } from '../../../src/pipeline/latest-frame-buffer.ts';
import { pickBatch } from '../../../src/pipeline/batch-picker.ts';

const f = (streamId: string, seq: number): Frame => ({ streamId, runId: 'r', seq, ptsMs: seq, capturedAt: 0, width: 1, height: 1, data: Buffer.alloc(3) });

test('a full buffer drops its oldest frame and counts it', () => {
  const b = new LatestFrameBuffer(3);
  for (let i = 0; i < 10; i++) b.push(f('a', i));
  assert.equal(b.length, 3);
  assert.equal(b.dropped, 7);
  assert.deepEqual(
    b.take(10).map((x) => x.seq),
    [7, 8, 9],
  );
  assert.throws(() => new LatestFrameBuffer(0), RangeError);
});

test('decoded = processed + dropped, whatever the interleaving', () => {
  const b = new LatestFrameBuffer(4);
  let taken = 0;
  for (let i = 0; i < 1000; i++) {
    b.push(f('a', i));
    if (i % 7 === 0) taken += b.take(1 + (i % 3)).length;
  }
  taken += b.take(100).length;
  assert.equal(taken + b.dropped, 1000);
});

test('pickBatch takes round robin across streams so a busy stream cannot starve others', () => {
  const a = new LatestFrameBuffer(10);
  const b = new LatestFrameBuffer(10);
  const c = new LatestFrameBuffer(10);
  for (let i = 0; i < 10; i++) a.push(f('a', i));
  b.push(f('b', 0));
  c.push(f('c', 0));
  c.push(f('c', 1));
  const first = pickBatch([a, b, c], 5, 0);
  assert.deepEqual(
    first.frames.map((x) => `${x.streamId}${x.seq}`),
    ['a0', 'b0', 'c0', 'a1', 'c1'],
  );
  const second = pickBatch([a, b, c], 4, first.next);
  assert.deepEqual(
    second.frames.map((x) => `${x.streamId}${x.seq}`),
    ['a2', 'a3', 'a4', 'a5'],
  );
  assert.deepEqual(pickBatch([], 4, 0).frames, []);
  assert.deepEqual(pickBatch([new LatestFrameBuffer(1)], 4, 3).frames, []);
});
