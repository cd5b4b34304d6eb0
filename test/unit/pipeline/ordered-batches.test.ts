import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchesInFlight, OrderedBatches } from '../../../src/pipeline/ordered-batches.ts';

/** An inference whose answers the test gives, in any order. */
function controlled() {
  const answers = new Map<string, { resolve: (r: string) => void; reject: (e: Error) => void }>();
  const sent: string[] = [];
  const written: string[] = [];
  const infer = (batch: string): Promise<string> => {
    sent.push(batch);
    return new Promise((resolve, reject) => answers.set(batch, { resolve, reject }));
  };
  const write = (batch: string, result: string): void => {
    written.push(`${batch}=${result}`);
  };
  const answer = (batch: string, result = batch.toUpperCase()): void => answers.get(batch)!.resolve(result);
  const fail = (batch: string, message: string): void => answers.get(batch)!.reject(new Error(message));
  return { infer, write, answer, fail, sent, written };
}

/** Lets every settled promise run its continuations. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

test('answers are written in submission order when they arrive out of order', async () => {
  const c = controlled();
  const batches = new OrderedBatches({ maxInFlight: 4, infer: c.infer, write: c.write });
  for (const b of ['a', 'b', 'c']) await batches.submit(b);
  const drained = batches.drain();
  c.answer('c');
  c.answer('b');
  await settle();
  assert.deepEqual(c.written, [], 'nothing is written before the oldest batch is answered');
  c.answer('a');
  await drained;
  assert.deepEqual(c.written, ['a=A', 'b=B', 'c=C']);
  assert.equal(batches.inFlight, 0);
});

test('submit() waits once maxInFlight batches are in flight, and sends each batch at once', async () => {
  const c = controlled();
  const batches = new OrderedBatches({ maxInFlight: 2, infer: c.infer, write: c.write });
  await batches.submit('a');
  let returned = false;
  const second = batches.submit('b').then(() => (returned = true));
  await settle();
  assert.deepEqual(c.sent, ['a', 'b'], 'the batch is sent before submit() waits');
  assert.equal(returned, false, 'submit() waits while 2 batches are in flight');
  assert.equal(batches.inFlight, 2);
  c.answer('b');
  await settle();
  assert.equal(returned, false, 'an answer to a younger batch does not release it');
  c.answer('a');
  await second;
  assert.deepEqual(c.written, ['a=A']);
  assert.equal(batches.inFlight, 1);
  await batches.drain();
  assert.deepEqual(c.written, ['a=A', 'b=B']);
});

test('in flight never exceeds maxInFlight, whatever the answer timing', async () => {
  let inFlight = 0;
  let most = 0;
  const batches = new OrderedBatches<number, number>({
    maxInFlight: 3,
    infer: async (n) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, (n * 7) % 5));
      return n;
    },
    write: () => {
      inFlight--;
    },
  });
  for (let n = 0; n < 30; n++) await batches.submit(n);
  await batches.drain();
  assert.equal(most, 3);
  assert.equal(inFlight, 0);
});

test('an inference error surfaces at its turn, after every batch before it is written', async () => {
  const c = controlled();
  const batches = new OrderedBatches({ maxInFlight: 5, infer: c.infer, write: c.write });
  for (const b of ['a', 'b', 'c']) await batches.submit(b);
  // b fails first; it must not overtake a, which is still running.
  c.fail('b', 'engine crashed');
  await settle();
  c.answer('a');
  c.answer('c');
  await assert.rejects(batches.drain(), /engine crashed/);
  assert.deepEqual(c.written, ['a=A']);
  assert.equal(batches.inFlight, 1, 'the batch behind the failed one is still in flight');
});

test('drain() after an error writes the batches behind it; discard() drops them unwritten', async () => {
  const c = controlled();
  const batches = new OrderedBatches({ maxInFlight: 5, infer: c.infer, write: c.write });
  for (const b of ['a', 'b', 'c', 'd']) await batches.submit(b);
  c.answer('a');
  c.fail('b', 'lost');
  c.answer('c');
  c.answer('d');
  await assert.rejects(batches.drain(), /lost/);
  await batches.drain();
  assert.deepEqual(c.written, ['a=A', 'c=C', 'd=D']);

  const d = controlled();
  const other = new OrderedBatches({ maxInFlight: 5, infer: d.infer, write: d.write });
  for (const b of ['a', 'b', 'c']) await other.submit(b);
  d.fail('a', 'gone');
  await assert.rejects(other.drain(), /gone/);
  assert.equal(other.discard(), 2);
  d.answer('b');
  d.answer('c');
  await other.drain();
  assert.deepEqual(d.written, [], 'discarded batches are never written');
});

test('a write that throws stops at that batch, as an inference error does', async () => {
  const written: number[] = [];
  const batches = new OrderedBatches<number, number>({
    maxInFlight: 2,
    infer: (n) => Promise.resolve(n),
    write: (n) => {
      if (n === 1) throw new RangeError('output closed');
      written.push(n);
    },
  });
  await batches.submit(0);
  await assert.rejects(
    batches
      .submit(1)
      .then(() => batches.submit(2))
      .then(() => batches.drain()),
    RangeError,
  );
  assert.deepEqual(written, [0]);
});

test('a rejection still waiting for its turn is not reported as unhandled', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const batches = new OrderedBatches<number, number>({ maxInFlight: 3, infer: (n) => Promise.reject(new Error(`batch ${n}`)), write: () => undefined });
    await batches.submit(0);
    await batches.submit(1);
    batches.discard();
    await settle();
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('with an aborted signal drain() discards what is left instead of writing it', async () => {
  const c = controlled();
  const batches = new OrderedBatches({ maxInFlight: 5, infer: c.infer, write: c.write });
  for (const b of ['a', 'b']) await batches.submit(b);
  const abort = new AbortController();
  abort.abort();
  await batches.drain(abort.signal);
  assert.equal(batches.inFlight, 0);
  assert.deepEqual(c.written, []);
});

test('maxInFlight must be a positive integer', () => {
  const infer = (n: number): Promise<number> => Promise.resolve(n);
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(
      () => new OrderedBatches({ maxInFlight: bad, infer, write: () => undefined }),
      (err: unknown) => err instanceof RangeError && /maxInFlight/.test(err.message),
    );
  }
});

test('batchesInFlight: 2 for the engine; over Redis, redis.inFlightFrames worth of batches, at least 2', () => {
  assert.equal(batchesInFlight(8), 2);
  assert.equal(batchesInFlight(8, 256), 32);
  assert.equal(batchesInFlight(8, 10), 2);
  assert.equal(batchesInFlight(7, 50), 7);
});
