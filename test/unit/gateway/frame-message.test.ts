import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FrameResult } from '../../../src/contracts/results.ts';
import { decodeEmbedding, encodeEmbedding, FrameEncoder } from '../../../src/gateway/frame-message.ts';
import { createSubscription } from '../../../src/gateway/subscription.ts';
import { ServerMessageSchema } from '../../../src/contracts/ws-messages.ts';

const RESULT: FrameResult = {
  stream: 'cam1',
  run: 'r',
  seq: 3,
  ptsMs: 600,
  capturedAt: 1_700_000_000_000,
  latencyMs: 20,
  model: 'resnet50',
  labels: [
    { index: 1, label: 'goldfish', score: 0.7 },
    { index: 2, label: 'great white shark', score: 0.2 },
  ],
  embedding: new Float32Array([0.5, -1, 3.25e-5]),
};

test('embedding b64 is the little-endian float32 bytes and round-trips', () => {
  const e = encodeEmbedding(new Float32Array([1, -2.5]));
  assert.equal(e.dim, 2);
  assert.equal(e.dtype, 'float32');
  assert.deepEqual([...Buffer.from(e.b64, 'base64')], [0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0]);
  assert.deepEqual(decodeEmbedding(encodeEmbedding(RESULT.embedding!)), RESULT.embedding);
  assert.throws(() => decodeEmbedding({ ...e, dim: 3 }), RangeError);
});

test('the frame message has docs/PROTOCOL.md fields in order, without model', () => {
  const bytes = new FrameEncoder(RESULT).encodeFor(createSubscription({ type: 'subscribe', streams: '*' }))!;
  const msg = JSON.parse(bytes.toString()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(msg), ['type', 'stream', 'run', 'seq', 'ptsMs', 'capturedAt', 'labels', 'latencyMs']);
});

test('a reused result (--skip-unchanged) carries "reused": true after latencyMs, before the embedding, and passes the protocol schema', () => {
  const bytes = new FrameEncoder({ ...RESULT, reused: true }).encodeFor(createSubscription({ type: 'subscribe', streams: '*', embeddings: true }))!;
  const msg = JSON.parse(bytes.toString()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(msg), ['type', 'stream', 'run', 'seq', 'ptsMs', 'capturedAt', 'labels', 'latencyMs', 'reused', 'embedding']);
  assert.equal(msg.reused, true);
  assert.ok(ServerMessageSchema.safeParse(msg).success);
  assert.equal(ServerMessageSchema.safeParse({ ...msg, reused: false }).success, false, 'reused is true or absent');
});

test('encodings are shared between subscriptions with the same filter, and differ with embeddings', () => {
  const enc = new FrameEncoder(RESULT);
  const a = enc.encodeFor(createSubscription({ type: 'subscribe', streams: ['cam1'], topK: 1 }));
  const b = enc.encodeFor(createSubscription({ type: 'subscribe', streams: '*', topK: 1 }));
  const c = enc.encodeFor(createSubscription({ type: 'subscribe', streams: '*', topK: 1, embeddings: true }))!;
  assert.equal(a, b, 'the same Buffer, serialised once');
  assert.notEqual(a, c);
  assert.deepEqual(decodeEmbedding((JSON.parse(c.toString()) as { embedding: { dim: number; dtype: 'float32'; b64: string } }).embedding), RESULT.embedding);
  assert.equal(enc.encodeFor(createSubscription({ type: 'subscribe', streams: '*', labels: ['tabby'] })), null);
});

test('embeddings asked for on a result without one: no embedding field', () => {
  const { embedding: _e, ...plain } = RESULT;
  const bytes = new FrameEncoder(plain).encodeFor(createSubscription({ type: 'subscribe', streams: '*', embeddings: true }))!;
  assert.equal('embedding' in JSON.parse(bytes.toString()), false);
});
