/**
 * CrossJobBatcher (the worker's batcher): batches across jobs, closed when
 * full or when the first frame waited maxWaitMs; jobs never split; a failed
 * shared batch retried job by job so only the poisoned job fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame } from '../../../src/contracts/frame.ts';
import type { FrameInference } from '../../../src/inference/batch-inferer.ts';
import { CrossJobBatcher, type BatchRunner } from '../../../src/transport/cross-job-batcher.ts';

const frames = (stream: string, n: number): Frame[] =>
  Array.from({ length: n }, (_, seq) => ({ streamId: stream, runId: 'r', seq, ptsMs: seq, capturedAt: 0, width: 1, height: 1, data: Buffer.alloc(3) }));

/** A runner that records each batch and answers each frame with its seq as the top class. */
function recordingRunner(fail?: (batch: readonly Frame[]) => boolean): BatchRunner & { batches: Array<readonly Frame[]> } {
  const batches: Array<readonly Frame[]> = [];
  return {
    batches,
    async infer(batch) {
      batches.push(batch);
      await new Promise((r) => setTimeout(r, 5));
      if (fail?.(batch)) throw new Error('poisoned');
      return { frames: batch.map((f): FrameInference => ({ top: [{ index: f.seq, score: 1 }] })) };
    },
  };
}

const labels = (r: FrameInference[]): number[] => r.map((f) => f.top[0]!.index);

test('jobs of several streams share a batch that closes when full; each job gets its own frames back, in order', async () => {
  const runner = recordingRunner();
  const b = new CrossJobBatcher({ runner, batch: 4, maxWaitMs: 10_000, maxInFlight: 2 });
  const [a, c] = await Promise.all([b.infer(frames('a', 2)), b.infer(frames('c', 2))]);
  assert.equal(runner.batches.length, 1);
  assert.deepEqual(
    runner.batches[0]!.map((f) => f.streamId),
    ['a', 'a', 'c', 'c'],
  );
  assert.deepEqual(labels(a), [0, 1]);
  assert.deepEqual(labels(c), [0, 1]);
});

test('a batch that is not full closes when its first frame has waited maxWaitMs', async () => {
  const runner = recordingRunner();
  const b = new CrossJobBatcher({ runner, batch: 8, maxWaitMs: 50, maxInFlight: 2 });
  const started = performance.now();
  await b.infer(frames('a', 1));
  const waited = performance.now() - started;
  assert.ok(waited >= 45, `closed after ${waited.toFixed(0)} ms`);
  assert.equal(runner.batches.length, 1);
});

test('a job is never split: one that would overflow the batch waits for the next one; a job larger than a batch runs alone', async () => {
  const runner = recordingRunner();
  const b = new CrossJobBatcher({ runner, batch: 4, maxWaitMs: 20, maxInFlight: 1 });
  await Promise.all([b.infer(frames('a', 3)), b.infer(frames('b', 3)), b.infer(frames('big', 6))]);
  assert.deepEqual(
    runner.batches.map((batch) => batch.length),
    [3, 3, 6],
  );
});

test('at most maxInFlight batches run at once', async () => {
  let running = 0;
  let peak = 0;
  const runner: BatchRunner = {
    async infer(batch) {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      return { frames: batch.map(() => ({ top: [] })) };
    },
  };
  const b = new CrossJobBatcher({ runner, batch: 1, maxWaitMs: 0, maxInFlight: 2 });
  await Promise.all(Array.from({ length: 8 }, (_, i) => b.infer(frames(`s${i}`, 1))));
  assert.equal(peak, 2);
});

test('a shared batch that fails is run again job by job: only the poisoned job fails', async () => {
  const runner = recordingRunner((batch) => batch.some((f) => f.streamId === 'bad'));
  const b = new CrossJobBatcher({ runner, batch: 4, maxWaitMs: 10_000, maxInFlight: 2 });
  const results = await Promise.allSettled([b.infer(frames('good', 2)), b.infer(frames('bad', 2))]);
  assert.equal(results[0]!.status, 'fulfilled');
  assert.equal(results[1]!.status, 'rejected');
  assert.deepEqual(
    runner.batches.map((batch) => batch.map((f) => f.streamId).join(',')),
    ['good,good,bad,bad', 'good,good', 'bad,bad'],
  );
});
