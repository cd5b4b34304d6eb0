import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS } from '../../../src/config/schema.ts';
import { ClientQueue, type QueuedMessage } from '../../../src/gateway/client-queue.ts';

function frame(stream: string, n: number, bytes = 10): QueuedMessage {
  return { data: Buffer.alloc(bytes, n % 256), type: 'frame', frameOf: stream };
}
function other(type: string, bytes = 10): QueuedMessage {
  return { data: Buffer.alloc(bytes), type };
}

test('messages come out in the order they went in, frames and others interleaved', () => {
  const q = new ClientQueue({ maxFrames: DEFAULTS.server.clientQueueMessages });
  const ins = [frame('a', 1), other('event'), frame('b', 2), other('status'), frame('a', 3)];
  for (const m of ins) q.push(m);
  const outs: QueuedMessage[] = [];
  for (let m = q.shift(); m !== undefined; m = q.shift()) outs.push(m);
  assert.deepEqual(outs, ins);
  assert.equal(q.bytes, 0);
});

test('past maxFrames the oldest frame messages are dropped and counted per stream; other messages stay', () => {
  const q = new ClientQueue({ maxFrames: 3 });
  q.push(other('event'));
  const drops = [frame('a', 0), frame('b', 1), frame('a', 2), frame('a', 3), frame('b', 4)].map((m) => q.push(m));
  assert.deepEqual(drops, [0, 0, 0, 1, 1]);
  assert.equal(q.frameCount, 3);
  assert.equal(q.droppedTotal, 2);
  assert.deepEqual(q.takeDropped(), [
    { stream: 'a', count: 1 },
    { stream: 'b', count: 1 },
  ]);
  assert.deepEqual(q.takeDropped(), [], 'announced once');
  assert.equal(q.shift()!.type, 'event');
  assert.deepEqual(
    [q.shift(), q.shift(), q.shift()].map((m) => m!.data[0]),
    [2, 3, 4],
  );
});

test('past maxBytes the oldest frames go until the queue fits; the byte count stays at or under the bound', () => {
  const q = new ClientQueue({ maxBytes: 100, maxFrames: 1000 });
  for (let i = 0; i < 50; i++) {
    q.push(frame('s', i, 30));
    assert.ok(q.bytes <= 100);
  }
  assert.equal(q.frameCount, 3);
  assert.equal(q.droppedTotal, 47);
  assert.deepEqual(q.takeDropped(), [{ stream: 's', count: 47 }]);
});

test('a frame bigger than maxBytes drops itself', () => {
  const q = new ClientQueue({ maxBytes: 100, maxFrames: DEFAULTS.server.clientQueueMessages });
  assert.equal(q.push(frame('s', 0, 101)), 1);
  assert.equal(q.length, 0);
  assert.equal(q.bytes, 0);
});

test('never-dropped messages make room by dropping frames, and overflow only when they alone exceed maxBytes', () => {
  const q = new ClientQueue({ maxBytes: 100, maxFrames: DEFAULTS.server.clientQueueMessages });
  q.push(frame('s', 0, 40));
  q.push(frame('s', 1, 40));
  q.push(other('status', 50));
  assert.equal(q.frameCount, 1);
  assert.ok(!q.overflowed);
  q.push(other('status', 60));
  assert.equal(q.frameCount, 0);
  assert.ok(q.overflowed);
  assert.equal(q.length, 2);
});

test('the FIFO stays correct across many pushes and shifts (compaction)', () => {
  const q = new ClientQueue({ maxFrames: 5000, maxBytes: 1 << 30 });
  let next = 0;
  let expect = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 300; i++) q.push(frame('s', next++, 1));
    for (let i = 0; i < 250; i++) assert.equal(q.shift()!.data[0], expect++ % 256);
  }
  assert.equal(q.length, next - expect);
  q.clear();
  assert.equal(q.length, 0);
  assert.equal(q.bytes, 0);
});

test('bounds are validated', () => {
  assert.throws(() => new ClientQueue({ maxFrames: 0 }), RangeError);
  assert.throws(() => new ClientQueue({ maxBytes: 1.5, maxFrames: DEFAULTS.server.clientQueueMessages }), RangeError);
});
