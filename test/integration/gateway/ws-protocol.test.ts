import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../../src/shared/metrics.ts';
import { decodeEmbedding } from '../../../src/gateway/frame-message.ts';
import { makeResult, startGateway, TestClient, type Harness } from './ws-helpers.ts';

async function withGateway(fn: (h: Harness) => Promise<void>, options: Parameters<typeof startGateway>[0] = {}): Promise<void> {
  const h = await startGateway(options);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

test('a client gets hello with protocol version 1 and the streams as they are', () =>
  withGateway(async (h) => {
    const c = await TestClient.open(h.url);
    assert.deepEqual(c.messages[0], { type: 'hello', version: 1, streams: h.streams });
    assert.equal(h.gateway.clientCount, 1);
    await c.close();
  }));

test('ping is answered with pong', () =>
  withGateway(async (h) => {
    const c = await TestClient.open(h.url);
    c.send({ type: 'ping' });
    assert.deepEqual(await c.waitFor((m) => m.type === 'pong'), { type: 'pong' });
    await c.close();
  }));

test('a frame message carries exactly the fields of docs/PROTOCOL.md, in order, and only subscribed streams arrive', () =>
  withGateway(async (h) => {
    const c = await TestClient.open(h.url);
    c.send({ type: 'subscribe', streams: ['cam1'] });
    await c.barrier();
    const r = makeResult('cam1', { embedding: new Float32Array([1, 2]) });
    h.gateway.publishFrame(makeResult('cam2'));
    h.gateway.publishFrame(r);
    await c.waitFor((m) => m.type === 'frame');
    await c.barrier();
    const frames = c.ofType('frame');
    assert.equal(frames.length, 1);
    const raw = JSON.stringify(frames[0]);
    assert.deepEqual(Object.keys(frames[0]!), ['type', 'stream', 'run', 'seq', 'ptsMs', 'capturedAt', 'labels', 'latencyMs']);
    assert.deepEqual(JSON.parse(raw), {
      type: 'frame',
      stream: 'cam1',
      run: r.run,
      seq: r.seq,
      ptsMs: r.ptsMs,
      capturedAt: r.capturedAt,
      labels: r.labels,
      latencyMs: r.latencyMs,
    });
    await c.close();
  }));

test('subscribe "*" gets every stream; a client that has not subscribed gets no frames', () =>
  withGateway(async (h) => {
    const all = await TestClient.open(h.url);
    const none = await TestClient.open(h.url);
    all.send({ type: 'subscribe', streams: '*' });
    await all.barrier();
    h.gateway.publishFrame(makeResult('cam1'));
    h.gateway.publishFrame(makeResult('cam2'));
    h.gateway.publishFrame(makeResult('later-stream'));
    await all.barrier();
    await none.barrier();
    assert.deepEqual(
      all.ofType('frame').map((f) => f.stream),
      ['cam1', 'cam2', 'later-stream'],
    );
    assert.equal(none.ofType('frame').length, 0);
    await all.close();
    await none.close();
  }));

test('label filter matches any comma-separated synonym case-insensitively and sends only passing labels', () =>
  withGateway(async (h) => {
    const tabby = await TestClient.open(h.url);
    const lynx = await TestClient.open(h.url);
    const dog = await TestClient.open(h.url);
    tabby.send({ type: 'subscribe', streams: ['cam1'], labels: ['Tabby'] });
    lynx.send({ type: 'subscribe', streams: ['cam1'], labels: ['CATAMOUNT', 'missile'] });
    dog.send({ type: 'subscribe', streams: ['cam1'], labels: ['golden retriever'] });
    await Promise.all([tabby.barrier(), lynx.barrier(), dog.barrier()]);
    h.gateway.publishFrame(makeResult('cam1'));
    await Promise.all([tabby.barrier(), lynx.barrier(), dog.barrier()]);
    assert.deepEqual(
      tabby.ofType('frame')[0]!.labels.map((l) => l.label),
      ['tabby, tabby cat'],
    );
    assert.deepEqual(
      lynx.ofType('frame')[0]!.labels.map((l) => l.label),
      ['lynx, catamount', 'missile'],
    );
    assert.equal(dog.ofType('frame').length, 0, 'no label passes: no frame message at all');
    await Promise.all([tabby.close(), lynx.close(), dog.close()]);
  }));

test('minScore keeps labels at or above it; topK keeps the best K; together they apply filter then cut', () =>
  withGateway(async (h) => {
    const min = await TestClient.open(h.url);
    const top = await TestClient.open(h.url);
    const both = await TestClient.open(h.url);
    const high = await TestClient.open(h.url);
    min.send({ type: 'subscribe', streams: ['cam1'], minScore: 0.1 });
    top.send({ type: 'subscribe', streams: ['cam1'], topK: 2 });
    both.send({ type: 'subscribe', streams: ['cam1'], minScore: 0.05, labels: ['lynx', 'tiger cat', 'missile'], topK: 1 });
    high.send({ type: 'subscribe', streams: ['cam1'], minScore: 0.9 });
    await Promise.all([min.barrier(), top.barrier(), both.barrier(), high.barrier()]);
    h.gateway.publishFrame(makeResult('cam1'));
    await Promise.all([min.barrier(), top.barrier(), both.barrier(), high.barrier()]);
    assert.deepEqual(
      min.ofType('frame')[0]!.labels.map((l) => l.score),
      [0.61, 0.2, 0.1],
    );
    assert.deepEqual(
      top.ofType('frame')[0]!.labels.map((l) => l.index),
      [281, 285],
    );
    assert.deepEqual(
      both.ofType('frame')[0]!.labels.map((l) => l.label),
      ['tiger cat'],
    );
    assert.equal(high.ofType('frame').length, 0);
    await Promise.all([min.close(), top.close(), both.close(), high.close()]);
  }));

test('embeddings: true adds {dim, dtype, b64} whose bytes decode to the original float32 values', () =>
  withGateway(async (h) => {
    const withEmb = await TestClient.open(h.url);
    const without = await TestClient.open(h.url);
    withEmb.send({ type: 'subscribe', streams: ['cam1'], embeddings: true });
    without.send({ type: 'subscribe', streams: ['cam1'] });
    await Promise.all([withEmb.barrier(), without.barrier()]);
    const v = new Float32Array(512);
    for (let i = 0; i < v.length; i++) v[i] = Math.sin(i) / 7 + (i % 3 === 0 ? -1e-7 : 3.5e3);
    h.gateway.publishFrame(makeResult('cam1', { embedding: v }));
    await Promise.all([withEmb.barrier(), without.barrier()]);
    const e = withEmb.ofType('frame')[0]!.embedding!;
    assert.equal(e.dim, 512);
    assert.equal(e.dtype, 'float32');
    assert.deepEqual(decodeEmbedding(e), v);
    assert.equal(without.ofType('frame')[0]!.embedding, undefined);
    await Promise.all([withEmb.close(), without.close()]);
  }));

test('replay sends the last N stored results of each subscribed stream first, in seq order, filtered like live ones', () =>
  withGateway(
    async (h) => {
      const seqs: number[] = [];
      for (let i = 0; i < 8; i++) {
        const r = makeResult('cam1', i % 2 === 0 ? {} : { labels: [{ index: 1, label: 'goldfish', score: 0.9 }] });
        seqs.push(r.seq);
        h.gateway.publishFrame(r);
      }
      // Arrives late (out of order): replay still sorts it in.
      h.gateway.publishFrame(makeResult('cam2', { seq: 5, run: 'r2' }));
      h.gateway.publishFrame(makeResult('cam2', { seq: 3, run: 'r2' }));
      const c = await TestClient.open(h.url);
      c.send({ type: 'subscribe', streams: ['cam1', 'cam2'], replay: 4 });
      await c.barrier();
      const frames = c.ofType('frame');
      assert.deepEqual(
        frames.filter((f) => f.stream === 'cam1').map((f) => f.seq),
        seqs.slice(4),
      );
      assert.deepEqual(
        frames.filter((f) => f.stream === 'cam2').map((f) => f.seq),
        [3, 5],
      );
      const filtered = await TestClient.open(h.url);
      filtered.send({ type: 'subscribe', streams: ['cam1'], labels: ['goldfish'], replay: 100 });
      await filtered.barrier();
      // Only the last 6 (replayLimit) are stored; of those, the goldfish ones.
      assert.deepEqual(
        filtered.ofType('frame').map((f) => f.seq),
        seqs.filter((_, i) => i >= 2 && i % 2 === 1),
      );
      // Live frames follow the replay.
      const live = makeResult('cam1', { labels: [{ index: 1, label: 'goldfish', score: 0.5 }] });
      h.gateway.publishFrame(live);
      await filtered.waitFor((m) => m.type === 'frame' && m.seq === live.seq);
      await Promise.all([c.close(), filtered.close()]);
    },
    { replayLimit: 6 },
  ));

test('replay is bounded by replayLimit per stream', () =>
  withGateway(
    async (h) => {
      for (let i = 0; i < 20; i++) h.gateway.publishFrame(makeResult('cam1'));
      const c = await TestClient.open(h.url);
      c.send({ type: 'subscribe', streams: '*', replay: 1000 });
      await c.barrier();
      assert.equal(c.ofType('frame').length, 5);
      await c.close();
    },
    { replayLimit: 5 },
  ));

test('a duplicate publish of the same (stream, run, seq) is ignored', () =>
  withGateway(async (h) => {
    const c = await TestClient.open(h.url);
    c.send({ type: 'subscribe', streams: '*' });
    await c.barrier();
    const r = makeResult('cam1');
    h.gateway.publishFrame(r);
    h.gateway.publishFrame({ ...r });
    h.gateway.publishFrame({ ...r, run: 'other-run' });
    h.gateway.publishFrame({ ...r, stream: 'cam2' });
    h.gateway.publishFrame({ ...r, run: 'other-run' });
    await c.barrier();
    assert.deepEqual(
      c.ofType('frame').map((f) => `${f.stream}/${f.run}/${f.seq}`),
      [`cam1/run-a/${r.seq}`, `cam1/other-run/${r.seq}`, `cam2/run-a/${r.seq}`],
    );
    const late = await TestClient.open(h.url);
    late.send({ type: 'subscribe', streams: ['cam1'], replay: 10 });
    await late.barrier();
    assert.equal(late.ofType('frame').length, 2);
    await Promise.all([c.close(), late.close()]);
  }));

test('unsubscribe removes the named streams, and "*" removes all', () =>
  withGateway(async (h) => {
    const c = await TestClient.open(h.url);
    c.send({ type: 'subscribe', streams: '*' });
    c.send({ type: 'unsubscribe', streams: ['cam1'] });
    await c.barrier();
    h.gateway.publishFrame(makeResult('cam1'));
    h.gateway.publishFrame(makeResult('cam2'));
    await c.barrier();
    assert.deepEqual(
      c.ofType('frame').map((f) => f.stream),
      ['cam2'],
    );
    c.send({ type: 'unsubscribe', streams: '*' });
    await c.barrier();
    h.gateway.publishFrame(makeResult('cam2'));
    h.gateway.publishStatus({ stream: 'cam2', state: 'ended' });
    await c.barrier();
    assert.equal(c.ofType('frame').length, 1);
    assert.equal(c.ofType('status').length, 0);
    await c.close();
  }));

test('a new subscribe replaces the previous one', () =>
  withGateway(async (h) => {
    const c = await TestClient.open(h.url);
    c.send({ type: 'subscribe', streams: ['cam1'], labels: ['missile'] });
    c.send({ type: 'subscribe', streams: ['cam2'] });
    await c.barrier();
    h.gateway.publishFrame(makeResult('cam1'));
    h.gateway.publishFrame(makeResult('cam2'));
    await c.barrier();
    assert.deepEqual(
      c.ofType('frame').map((f) => [f.stream, f.labels.length]),
      [['cam2', 5]],
    );
    await c.close();
  }));

test('events go to clients subscribed to the stream whose label filter names the label; status to every subscriber', () =>
  withGateway(async (h) => {
    const cats = await TestClient.open(h.url);
    const all = await TestClient.open(h.url);
    const other = await TestClient.open(h.url);
    cats.send({ type: 'subscribe', streams: ['cam1'], labels: ['tabby cat'], minScore: 0.99 });
    all.send({ type: 'subscribe', streams: '*' });
    other.send({ type: 'subscribe', streams: ['cam2'] });
    await Promise.all([cats.barrier(), all.barrier(), other.barrier()]);
    const start = { stream: 'cam1', label: 'tabby, tabby cat', kind: 'start' as const, ptsMs: 1000, capturedAt: Date.now(), score: 0.8 };
    h.gateway.publishEvent(start);
    h.gateway.publishEvent({ ...start, kind: 'end', score: 0.1 });
    h.gateway.publishEvent({ ...start, label: 'missile' });
    h.gateway.publishStatus({ stream: 'cam1', state: 'reconnecting', detail: 'connection reset' });
    h.gateway.publishStatus({ stream: 'cam1', state: 'live' });
    await Promise.all([cats.barrier(), all.barrier(), other.barrier()]);
    assert.deepEqual(
      cats.ofType('event'),
      [
        { type: 'event', ...start },
        { type: 'event', ...start, kind: 'end', score: 0.1 },
      ],
      'minScore does not hide events',
    );
    assert.deepEqual(
      all.ofType('event').map((e) => e.label),
      ['tabby, tabby cat', 'tabby, tabby cat', 'missile'],
    );
    assert.equal(other.ofType('event').length, 0);
    const status = [
      { type: 'status', stream: 'cam1', state: 'reconnecting', detail: 'connection reset' },
      { type: 'status', stream: 'cam1', state: 'live' },
    ];
    assert.deepEqual(cats.ofType('status'), status);
    assert.deepEqual(all.ofType('status'), status);
    assert.equal(other.ofType('status').length, 0);
    await Promise.all([cats.close(), all.close(), other.close()]);
  }));

test('bad JSON, wrong types and binary frames get bad_message, and the connection stays open', () =>
  withGateway(async (h) => {
    const c = await TestClient.open(h.url);
    const bad: Array<string | Buffer> = [
      '{not json',
      '',
      '42',
      'null',
      '"subscribe"',
      '[{"type":"ping"}]',
      '{"streams":["cam1"]}',
      '{"type":7}',
      '{"type":"subscribe"}',
      '{"type":"subscribe","streams":"cam1"}',
      '{"type":"subscribe","streams":[1]}',
      '{"type":"subscribe","streams":["cam1"],"minScore":2}',
      '{"type":"subscribe","streams":["cam1"],"topK":1.5}',
      '{"type":"subscribe","streams":["cam1"],"embeddings":"yes"}',
      '{"type":"subscribe","streams":["cam1"],"extra":1}',
      '{"type":"unsubscribe"}',
      '{"type":"ping","id":1}',
    ];
    for (const b of bad) {
      if (typeof b === 'string') c.send(b);
      else c.ws.send(b);
    }
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    const replies = await c.barrier();
    assert.equal(replies.length, bad.length + 1);
    for (const r of replies) {
      assert.equal(r.type, 'error');
      assert.equal(r.type === 'error' && r.code, 'bad_message');
    }
    assert.equal(c.ws.readyState, c.ws.OPEN);
    await c.close();
  }));

test('an unknown message type gets unknown_type', () =>
  withGateway(async (h) => {
    const c = await TestClient.open(h.url);
    c.send({ type: 'subscribe_all' });
    c.send({ type: '' });
    const replies = await c.barrier();
    assert.deepEqual(
      replies.map((r) => r.type === 'error' && r.code),
      ['unknown_type', 'unknown_type'],
    );
    await c.close();
  }));

test('subscribing to an unknown stream gets unknown_stream and still subscribes to the known ones', () =>
  withGateway(async (h) => {
    const c = await TestClient.open(h.url);
    c.send({ type: 'subscribe', streams: ['cam1', 'nope'] });
    const replies = await c.barrier();
    assert.equal(replies.length, 1);
    assert.equal(replies[0]!.type === 'error' && replies[0]!.code, 'unknown_stream');
    assert.match(replies[0]!.type === 'error' ? replies[0]!.message : '', /nope/);
    h.gateway.publishFrame(makeResult('cam1'));
    h.gateway.publishFrame(makeResult('nope'));
    await c.barrier();
    assert.deepEqual(
      c.ofType('frame').map((f) => f.stream),
      ['cam1'],
    );
    await c.close();
  }));

test('a message over maxMessageBytes closes the connection with 1009 (too_large); one at the limit is fine', () =>
  withGateway(
    async (h) => {
      const ok = await TestClient.open(h.url);
      const atLimit = JSON.stringify({ type: 'subscribe', streams: ['cam1'], labels: ['x'.repeat(100)] });
      const pad = 1024 - atLimit.length;
      ok.send(atLimit.replace('"labels"', `${' '.repeat(pad)}"labels"`));
      assert.deepEqual(await ok.barrier(), []);
      const big = await TestClient.open(h.url);
      big.send(`{"type":"ping","x":"${'y'.repeat(1100)}"}`);
      const { code } = await big.closed;
      assert.equal(code, 1009);
      assert.equal(ok.ws.readyState, ok.ws.OPEN);
      await ok.close();
    },
    { maxMessageBytes: 1024 },
  ));

test('close() closes every client with 1001, refuses new ones, and is idempotent', async () => {
  const h = await startGateway();
  const a = await TestClient.open(h.url);
  const b = await TestClient.open(h.url);
  await Promise.all([h.gateway.close(), h.gateway.close()]);
  assert.equal((await a.closed).code, 1001);
  assert.equal((await b.closed).code, 1001);
  assert.equal(h.gateway.clientCount, 0);
  h.gateway.publishFrame(makeResult('cam1'));
  await h.close();
});

test('metrics: clients gauge, messages sent by type, dropped counter', async () => {
  const metrics = new Metrics({ processMetrics: false });
  await withGateway(
    async (h) => {
      const c = await TestClient.open(h.url);
      c.send({ type: 'subscribe', streams: '*' });
      await c.barrier();
      h.gateway.publishFrame(makeResult('cam1'));
      await c.barrier();
      const text = (await metrics.render()).body;
      assert.match(text, /streamsight_ws_clients 1/);
      assert.match(text, /streamsight_ws_messages_sent_total\{type="hello"\} 1/);
      assert.match(text, /streamsight_ws_messages_sent_total\{type="pong"\} 2/);
      assert.match(text, /streamsight_ws_messages_sent_total\{type="frame"\} 1/);
      await c.close();
      await new Promise((r) => setTimeout(r, 50));
      assert.match((await metrics.render()).body, /streamsight_ws_clients 0/);
    },
    { metrics },
  );
});
