import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeResult, RawClient, sleep, startGateway, TestClient } from './ws-helpers.ts';

const FRAMES = 3000;
const QUEUE_BYTES = 256 * 1024;
const QUEUE_FRAMES = 64;
const SOCKET_HIGH_WATER = 64 * 1024;
const EMBEDDING_DIM = 2048;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

test('a client that stops reading stays within its bounds, loses only old frames (announced with dropped), and does not delay another client', async (t) => {
  const h = await startGateway({ clientQueueBytes: QUEUE_BYTES, clientQueueMessages: QUEUE_FRAMES, socketHighWaterBytes: SOCKET_HIGH_WATER });
  try {
    // The slow client takes big messages (~11 KB with the embedding), so
    // that the kernel's socket buffers fill and the gateway's bounds are hit.
    const { client: slow } = await RawClient.open(h.port);
    slow.resume();
    slow.send({ type: 'subscribe', streams: '*', embeddings: true });
    slow.send({ type: 'ping' });
    await slow.waitUntil(() => slow.messages().some((m) => m.type === 'pong'));
    slow.pause();
    // Clients are listed in connection order: the slow one came first.
    const slowStats = (): ReturnType<typeof h.gateway.clientStats>[number] => h.gateway.clientStats()[0]!;

    const fast = await TestClient.open(h.url);
    fast.send({ type: 'subscribe', streams: ['cam1', 'cam2'] });
    await fast.barrier();
    const fastStart = fast.messages.length;

    const embedding = new Float32Array(EMBEDDING_DIM).map((_, i) => Math.cos(i));
    let maxQueued = 0;
    let maxSocketBuffered = 0;
    const published: Array<{ stream: string; seq: number; at: number }> = [];
    for (let i = 0; i < FRAMES; i++) {
      const r = makeResult(i % 2 === 0 ? 'cam1' : 'cam2', { embedding, capturedAt: Date.now() });
      published.push({ stream: r.stream, seq: r.seq, at: r.capturedAt });
      h.gateway.publishFrame(r);
      for (const s of h.gateway.clientStats()) {
        maxQueued = Math.max(maxQueued, s.queuedBytes);
        maxSocketBuffered = Math.max(maxSocketBuffered, s.socketBufferedBytes);
      }
      // 100 frames per 5 ms: ~20,000 frames/s, far more than a real pipeline.
      if (i % 100 === 99) await sleep(5);
    }
    await fast.waitForCount(fastStart + FRAMES, 10_000);
    await fast.barrier();

    const frames = fast.ofType('frame');
    assert.equal(frames.length, FRAMES, 'the reading client gets every frame');
    assert.equal(fast.ofType('dropped').length, 0, 'and is told of no drop');
    const delays = frames.map((f, i) => fast.receivedAt[fastStart + i]! - f.capturedAt).sort((a, b) => a - b);
    const p50 = percentile(delays, 50);
    const p99 = percentile(delays, 99);
    t.diagnostic(`reading client delay publish->receipt: p50 ${p50} ms, p99 ${p99} ms, max ${delays.at(-1)} ms`);
    assert.ok(p99 < 1000, `p99 delay ${p99} ms`);

    const stats = slowStats();
    t.diagnostic(`slow client: max queued ${maxQueued} B (bound ${QUEUE_BYTES}), max socket buffer ${maxSocketBuffered} B, dropped ${stats.droppedTotal}`);
    assert.ok(maxQueued <= QUEUE_BYTES, `queued ${maxQueued} B past the bound`);
    assert.ok(maxSocketBuffered <= SOCKET_HIGH_WATER + 16 * 1024, `socket buffer ${maxSocketBuffered} B`);
    assert.ok(stats.droppedTotal > 0, 'the slow client lost frames');
    assert.ok(stats.queuedMessages <= QUEUE_FRAMES);

    // The slow client reads again: it gets what was kept plus `dropped` announcements that add up.
    slow.resume();
    const count = (): { frames: number; dropped: number } => {
      const ms = slow.messages();
      return {
        frames: ms.filter((m) => m.type === 'frame').length,
        dropped: ms.reduce((n, m) => n + (m.type === 'dropped' ? m.count : 0), 0),
      };
    };
    await slow.waitUntil(() => {
      const c = count();
      return c.frames + c.dropped >= FRAMES;
    }, 20_000);
    const c = count();
    t.diagnostic(`slow client after resuming: ${c.frames} frames + ${c.dropped} dropped`);
    assert.equal(c.frames + c.dropped, FRAMES);
    assert.equal(c.dropped, stats.droppedTotal);
    const droppedMsgs = slow.messages().filter((m) => m.type === 'dropped');
    assert.ok(droppedMsgs.every((m) => m.type === 'dropped' && (m.stream === 'cam1' || m.stream === 'cam2')));
    // Frames it got are in publish order (drops remove, never reorder).
    const seqs = slow.messages().flatMap((m) => (m.type === 'frame' ? [m.seq] : []));
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    );
    // And the newest frame made it: drops are of the oldest.
    assert.equal(seqs.at(-1), published.at(-1)!.seq);
    slow.destroy();
    await fast.close();
  } finally {
    await h.close();
  }
});

test('events and status are never dropped for a slow client, even past the queue bound', async () => {
  const h = await startGateway({ clientQueueBytes: 64 * 1024, clientQueueMessages: 8 });
  try {
    const { client: slow } = await RawClient.open(h.port);
    slow.resume();
    slow.send({ type: 'subscribe', streams: ['cam1'], embeddings: true });
    slow.send({ type: 'ping' });
    await slow.waitUntil(() => slow.messages().some((m) => m.type === 'pong'));
    slow.pause();
    const embedding = new Float32Array(2048).fill(0.5);
    let events = 0;
    for (let i = 0; i < 1500; i++) {
      h.gateway.publishFrame(makeResult('cam1', { embedding }));
      if (i % 50 === 0) {
        h.gateway.publishEvent({ stream: 'cam1', label: 'cat', kind: i % 100 === 0 ? 'start' : 'end', ptsMs: i, capturedAt: Date.now(), score: 0.5 });
        h.gateway.publishStatus({ stream: 'cam1', state: 'live', detail: String(i) });
        events++;
      }
      if (i % 100 === 99) await sleep(2);
    }
    slow.resume();
    await slow.waitUntil(() => {
      const ms = slow.messages();
      return (
        ms.filter((m) => m.type === 'frame').length + ms.reduce((n, m) => n + (m.type === 'dropped' ? m.count : 0), 0) >= 1500 &&
        ms.filter((m) => m.type === 'status').length >= events
      );
    }, 20_000);
    const ms = slow.messages();
    assert.equal(ms.filter((m) => m.type === 'event').length, events);
    assert.deepEqual(
      ms.flatMap((m) => (m.type === 'status' ? [m.detail] : [])),
      Array.from({ length: events }, (_, k) => String(k * 50)),
    );
    assert.ok(ms.some((m) => m.type === 'dropped'));
    slow.destroy();
  } finally {
    await h.close();
  }
});
