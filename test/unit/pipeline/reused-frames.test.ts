/**
 * Reused frames (`--skip-unchanged`) wait for the result they repeat, so
 * that a stream's results go out in seq order in both modes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS } from '../../../src/config/schema.ts';
import type { FrameResult, LabelEvent } from '../../../src/contracts/results.ts';
import { LiveResultPublisher } from '../../../src/pipeline/live-result-publisher.ts';
import { ReusedFrames, type ReusedFrame } from '../../../src/pipeline/reused-frames.ts';
import { Metrics } from '../../../src/shared/metrics.ts';

const reused = (seq: number, ref: number, run = 'r1', stream = 'cam'): ReusedFrame => ({ stream, run, seq, ptsMs: seq * 200, capturedAt: 1000 + seq, ref });
const seqs = (fs: readonly ReusedFrame[]): number[] => fs.map((f) => f.seq);

test('a reused frame whose reference is published goes at once; one whose reference is in flight waits for it and goes after it', () => {
  const r = new ReusedFrames(10_000);
  assert.deepEqual(r.published('cam', 'r1', 0), { before: [], after: [] });
  assert.deepEqual(seqs(r.add(reused(1, 0), 0)), [1]);
  // Frame 2 is being inferred; 3 and 4 repeat it.
  assert.deepEqual(r.add(reused(3, 2), 0), []);
  assert.deepEqual(r.add(reused(4, 2), 0), []);
  assert.equal(r.size, 2);
  const out = r.published('cam', 'r1', 2);
  assert.deepEqual(seqs(out.before), []);
  assert.deepEqual(seqs(out.after), [3, 4]);
  assert.equal(r.size, 0);
});

test('a lost reference: frames repeating it go when it is abandoned, or before a later inferred frame, or after maxHoldMs', () => {
  const r = new ReusedFrames(1000);
  r.published('cam', 'r1', 0);
  r.add(reused(2, 1), 0);
  assert.deepEqual(seqs(r.abandoned('cam', 'r1', 1)), [2]);
  r.add(reused(4, 3), 0);
  const out = r.published('cam', 'r1', 5);
  assert.deepEqual(seqs(out.before), [4]);
  r.add(reused(7, 6), 100);
  assert.deepEqual(r.expired(1099), []);
  assert.equal(r.nextExpiry(), 1100);
  assert.deepEqual(seqs(r.expired(1100)), [7]);
  // Another run's first result releases what an older run held.
  r.add(reused(9, 8), 2000);
  assert.deepEqual(seqs(r.published('cam', 'r2', 0).before), [9]);
  r.add(reused(1, 0, 'r2', 'other'), 0);
  r.forget('other');
  assert.equal(r.size, 0);
});

test('the publisher repeats the last labels with reused: true, counts streamsight_frames_skipped_total{reason="unchanged"}, and label events see reused frames as frames', async () => {
  const frames: FrameResult[] = [];
  const events: LabelEvent[] = [];
  const metrics = new Metrics({ processMetrics: false });
  const publisher = new LiveResultPublisher({
    sink: { publishFrame: (f) => frames.push(f), publishEvent: (e) => events.push(e), publishStatus: () => undefined },
    events: { ...DEFAULTS.events, enterFrames: 3, exitFrames: 3 },
    metrics,
  });
  publisher.track('cam', { topK: 1 });
  const base = { stream: 'cam', run: 'r1', ptsMs: 0, capturedAt: Date.now(), model: 'm' };
  const labels = [
    { index: 3, label: 'dog', score: 0.9 },
    { index: 4, label: 'cat', score: 0.05 },
  ];
  publisher.publishFrame({ ...base, seq: 0, labels, embedding: new Float32Array([1, 0]) });
  // Frame 1 is in flight: 2 and 3 wait for it.
  publisher.publishReused(reused(2, 1));
  publisher.publishReused(reused(3, 1));
  assert.equal(frames.length, 1);
  publisher.publishFrame({ ...base, seq: 1, labels });
  assert.deepEqual(
    frames.map((f) => [f.seq, f.reused ?? false, f.labels.length]),
    [
      [0, false, 1],
      [1, false, 1],
      [2, true, 1],
      [3, true, 1],
    ],
  );
  assert.deepEqual(frames[2]!.labels, [{ index: 3, label: 'dog', score: 0.9 }]);
  // Three frames of dog (two inferred, one reused) start the label.
  assert.deepEqual(
    events.map((e) => [e.label, e.kind]),
    [['dog', 'start']],
  );
  const text = await metrics.registry.metrics();
  assert.match(text, /streamsight_frames_skipped_total\{stream="cam",reason="unchanged"\} 2/);
  assert.match(text, /streamsight_frames_processed_total\{stream="cam"\} 2/);
});
