import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeResult, startGateway, TestClient } from './ws-helpers.ts';
import { mulberry32 } from '../../../src/shared/mulberry32.ts';

const CLIENTS = 4;
const MESSAGES_PER_CLIENT = 1500;
const MAX_MESSAGE_BYTES = 64 * 1024;

/** What the server must answer to a message: an error code, a pong, or nothing. */
type Expected = 'bad_message' | 'unknown_type' | 'unknown_stream' | 'pong' | 'none';

// Seeded (mulberry32), so a failure can be replayed from the seed in the test output.
const rng = mulberry32;

function generator(seed: number): () => { payload: string | Buffer; expected: Expected } {
  const r = rng(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const unicode = (): string => {
    const pool = ['é', 'ß', '中文', '🎥', '\u0000', '\u200b', '\ud83d\ude00', 'Ω', '\n', '"', '\\', 'a'];
    return Array.from({ length: 1 + int(12) }, () => pick(pool)).join('');
  };
  const randomValue = (depth = 0): unknown => {
    switch (int(depth > 3 ? 5 : 8)) {
      case 0:
        return null;
      case 1:
        return r() * 1e6 - 5e5;
      case 2:
        return unicode();
      case 3:
        return r() < 0.5;
      case 4:
        return '';
      case 5:
        return Array.from({ length: int(4) }, () => randomValue(depth + 1));
      case 6:
        return { [unicode()]: randomValue(depth + 1) };
      default:
        return [-0, 1e308, -1e-308, Number.MAX_SAFE_INTEGER][int(4)];
    }
  };
  const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
  return () => {
    switch (int(16)) {
      case 0: {
        // Broken JSON.
        const valid = JSON.stringify({ type: 'subscribe', streams: ['cam1'] });
        return { payload: valid.slice(0, int(valid.length - 1)) + pick(['', '{', ',', '}}', '\u0000']), expected: 'bad_message' };
      }
      case 1:
        return { payload: pick(['', ' ', 'undefined', 'NaN', "{'type':'ping'}", '{"type":"ping",}', '\ufeff{}', unicode()]), expected: 'bad_message' };
      case 2:
        return { payload: JSON.stringify(pick([null, 0, -1, 3.14, true, 'ping', [], [{ type: 'ping' }]])), expected: 'bad_message' };
      case 3:
        return { payload: JSON.stringify({ type: randomValue(4) === null ? null : pick([1, true, null, [], {}]) }), expected: 'bad_message' };
      case 4:
        return { payload: JSON.stringify({ type: unicode() + String(int(1e6)) }), expected: 'unknown_type' };
      case 5:
        return { payload: JSON.stringify({ type: pick(['SUBSCRIBE', 'Ping', 'pong', 'hello', 'frame', 'subscribe ', '']) }), expected: 'unknown_type' };
      case 6: // Wrong field types in a known message.
        return {
          payload: JSON.stringify(
            pick([
              { type: 'subscribe', streams: randomValue(4) === null ? 42 : { a: 1 } },
              { type: 'subscribe', streams: ['cam1'], minScore: pick([-0.1, 1.5, '0.3', null]) },
              { type: 'subscribe', streams: ['cam1'], topK: pick([0, 101, 2.5, '5']) },
              { type: 'subscribe', streams: ['cam1'], replay: pick([-1, 1001, 'all', 0.5]) },
              { type: 'subscribe', streams: ['cam1'], labels: pick(['person', [1], [''], [null]]) },
              { type: 'subscribe', streams: [''] },
              { type: 'unsubscribe', streams: pick([null, 7, [3], ['x'.repeat(201)]]) },
              { type: 'ping', extra: randomValue() },
            ]),
          ),
          expected: 'bad_message',
        };
      case 7: // Huge arrays (past the schema's 1000 items), under the size limit.
        return {
          payload: JSON.stringify({ type: 'subscribe', streams: Array.from({ length: 1001 + int(3000) }, (_, i) => `s${i}`) }),
          expected: 'bad_message',
        };
      case 8: // Deep nesting, inside and outside a known message.
        return pick([
          { payload: deep(1000 + int(20_000)), expected: 'bad_message' as const },
          { payload: `{"type":"subscribe","streams":${deep(1000 + int(10_000))}}`, expected: 'bad_message' as const },
          { payload: `{"type":"ping","x":${deep(5000)}}`, expected: 'bad_message' as const },
        ]);
      case 9: // Very long strings, under the limit.
        return pick([
          { payload: JSON.stringify({ type: 'x'.repeat(10_000 + int(40_000)) }), expected: 'unknown_type' as const },
          { payload: JSON.stringify({ type: 'subscribe', streams: ['cam1'], labels: ['y'.repeat(30_000)] }), expected: 'bad_message' as const },
          { payload: '"' + 'z'.repeat(60_000) + '"', expected: 'bad_message' as const },
        ]);
      case 10:
        return { payload: Buffer.from(Array.from({ length: int(64) }, () => int(256))), expected: 'bad_message' };
      case 11:
        return { payload: JSON.stringify({ type: 'ping' }), expected: 'pong' };
      case 12:
        return {
          payload: JSON.stringify({ type: 'subscribe', streams: ['cam1', 'cam2'], labels: [unicode()], topK: 1 + int(100), replay: int(5) }),
          expected: 'none',
        };
      case 13:
        return { payload: JSON.stringify({ type: 'subscribe', streams: ['cam1', unicode() + 'x'] }), expected: 'unknown_stream' };
      case 14:
        return { payload: JSON.stringify({ type: 'unsubscribe', streams: pick([['cam1'], '*', [unicode()]]) }), expected: 'none' };
      default:
        return { payload: JSON.stringify({ type: 'subscribe', streams: '*', minScore: r(), embeddings: r() < 0.5 }), expected: 'none' };
    }
  };
}

test('several clients sending thousands of random and malformed messages each get the right answer; the server keeps serving a healthy client', async (t) => {
  const h = await startGateway({ maxMessageBytes: MAX_MESSAGE_BYTES, replayLimit: 3 });
  try {
    const healthy = await TestClient.open(h.url);
    healthy.send({ type: 'subscribe', streams: ['cam1'] });
    await healthy.barrier();
    const seed0 = Date.now() % 1_000_000;
    t.diagnostic(`seed ${seed0}`);

    const fuzzers = await Promise.all(Array.from({ length: CLIENTS }, () => TestClient.open(h.url)));
    let published = 0;
    await Promise.all(
      fuzzers.map(async (c, k) => {
        const next = generator(seed0 + k);
        const expected: Expected[] = [];
        for (let i = 0; i < MESSAGES_PER_CLIENT; i++) {
          const { payload, expected: e } = next();
          assert.ok(payload.length <= MAX_MESSAGE_BYTES);
          if (typeof payload === 'string') c.ws.send(payload);
          else c.ws.send(payload, { binary: true });
          expected.push(e);
          if (i % 100 === 99) {
            // Results keep flowing meanwhile, to the healthy client and to fuzzers that subscribed by chance.
            h.gateway.publishFrame(makeResult('cam1'));
            published++;
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
        // A final ping: its pong is the last answer. (Waiting for "a" pong would
        // stop at the answer to a fuzz ping still on its way.)
        const want = expected.filter((e) => e !== 'none');
        c.send({ type: 'ping' });
        const answers = (): Array<string> => c.messages.flatMap((m) => (m.type === 'pong' ? ['pong'] : m.type === 'error' ? [m.code] : []));
        await c.waitFor(() => answers().length >= want.length + 1, 20_000);
        await new Promise((resolve) => setTimeout(resolve, 50)); // Anything extra would show up here.
        assert.deepEqual(answers(), [...want, 'pong'], `client ${k} (seed ${seed0 + k})`);
        assert.equal(c.ws.readyState, c.ws.OPEN);
      }),
    );

    await healthy.barrier();
    assert.equal(healthy.ofType('frame').length, published);
    h.gateway.publishFrame(makeResult('cam1'));
    await healthy.waitFor((m) => m.type === 'frame' && healthy.ofType('frame').length === published + 1);
    assert.equal(h.gateway.clientCount, CLIENTS + 1);
    await Promise.all([healthy.close(), ...fuzzers.map((c) => c.close())]);
  } finally {
    await h.close();
  }
});
