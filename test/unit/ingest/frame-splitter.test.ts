import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameSplitter } from '../../../src/ingest/frame-splitter.ts';
import { mulberry32 } from '../../../src/shared/mulberry32.ts';

// Deterministic (mulberry32) so a failing case can be replayed from its seed.
const rng = mulberry32;

function stream(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
}

function chunkify(data: Buffer, sizes: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  let offset = 0;
  while (offset < data.length) {
    const n = Math.max(1, Math.min(sizes(), data.length - offset));
    // Copy so chunks never share memory with `data` or each other, as pipe chunks don't.
    chunks.push(Buffer.from(data.subarray(offset, offset + n)));
    offset += n;
  }
  return chunks;
}

test('frames are reassembled exactly from random chunkings (property, 300 cases)', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const rand = rng(seed);
    const frameBytes = 1 + Math.floor(rand() * 200);
    const frames = Math.floor(rand() * 12);
    const tail = rand() < 0.3 ? Math.floor(rand() * frameBytes) : 0;
    const data = stream(frameBytes * frames + tail);
    const maxChunk = 1 + Math.floor(rand() * frameBytes * 3);
    const splitter = new FrameSplitter(frameBytes);
    const out: Buffer[] = [];
    for (const chunk of chunkify(data, () => 1 + Math.floor(rand() * maxChunk))) out.push(...splitter.push(chunk));
    assert.equal(out.length, frames, `seed ${seed}: frame count`);
    for (const [i, f] of out.entries()) {
      assert.equal(f.length, frameBytes, `seed ${seed}: frame ${i} size`);
      assert.ok(f.equals(data.subarray(i * frameBytes, (i + 1) * frameBytes)), `seed ${seed}: frame ${i} bytes`);
    }
    assert.equal(splitter.frameCount, frames);
    assert.equal(splitter.pendingBytes, tail, `seed ${seed}: pending`);
    assert.equal(splitter.end(), tail, `seed ${seed}: leftover`);
    assert.equal(splitter.end(), 0, 'end() resets');
  }
});

test('1-byte chunks produce every frame, each after its last byte', () => {
  const frameBytes = 7;
  const data = stream(frameBytes * 5);
  const splitter = new FrameSplitter(frameBytes);
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i++) {
    const got = splitter.push(data.subarray(i, i + 1));
    assert.equal(got.length, (i + 1) % frameBytes === 0 ? 1 : 0, `byte ${i}`);
    out.push(...got);
  }
  assert.ok(Buffer.concat(out).equals(data));
  assert.equal(splitter.end(), 0);
});

test('aligned chunks of whole frames are returned without copying', () => {
  const frameBytes = 12;
  const chunk = stream(frameBytes * 3);
  const splitter = new FrameSplitter(frameBytes);
  const frames = splitter.push(chunk);
  assert.equal(frames.length, 3);
  for (const [i, f] of frames.entries()) {
    assert.equal(f.buffer, chunk.buffer, 'shares the chunk memory');
    assert.equal(f.byteOffset, chunk.byteOffset + i * frameBytes);
  }
});

test('a frame straddling chunks is a fresh buffer, not a view of either chunk', () => {
  const splitter = new FrameSplitter(10);
  const a = stream(6);
  const b = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(splitter.push(a), []);
  const [frame] = splitter.push(b);
  assert.ok(frame);
  const expected = [...a, 1, 2, 3, 4];
  // Small buffers share Node's pool, so compare contents after scribbling on the inputs.
  a.fill(0xee);
  b.fill(0xee);
  assert.deepEqual([...frame], expected);
  assert.equal(splitter.pendingBytes, 4);
  assert.equal(splitter.end(), 4, 'reports the partial frame left at the end');
});

test('an empty chunk changes nothing', () => {
  const splitter = new FrameSplitter(4);
  assert.deepEqual(splitter.push(Buffer.alloc(0)), []);
  splitter.push(Buffer.from([1, 2]));
  assert.deepEqual(splitter.push(Buffer.alloc(0)), []);
  assert.equal(splitter.pendingBytes, 2);
});

test('frameBytes must be a positive integer', () => {
  assert.throws(() => new FrameSplitter(0), RangeError);
  assert.throws(() => new FrameSplitter(1.5), RangeError);
  assert.throws(() => new FrameSplitter(-3), RangeError);
});
