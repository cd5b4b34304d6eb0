import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, sleep, startGateway, TestClient, until } from './ws-helpers.ts';

const INTERVAL_MS = 100;

test('a ws client that stops answering pings is terminated after about two intervals; a live one stays', async () => {
  const h = await startGateway({ heartbeatIntervalMs: INTERVAL_MS });
  try {
    const live = await TestClient.open(h.url);
    const deaf = await TestClient.open(h.url, { autoPong: false });
    const started = Date.now();
    const { code } = await deaf.closed;
    const after = Date.now() - started;
    assert.equal(code, 1006, 'terminated, not closed politely');
    assert.ok(after >= INTERVAL_MS && after < 4 * INTERVAL_MS, `terminated after ${after} ms`);
    await sleep(3 * INTERVAL_MS);
    assert.equal(live.ws.readyState, live.ws.OPEN);
    assert.equal(h.gateway.clientCount, 1);
    await live.close();
  } finally {
    await h.close();
  }
});

test('a raw TCP peer that completed the handshake and then ignores everything is terminated', async () => {
  const h = await startGateway({ heartbeatIntervalMs: INTERVAL_MS });
  try {
    const { client, status } = await RawClient.open(h.port);
    assert.equal(status, 101);
    await until(() => h.gateway.clientCount === 1, 1000, 'client registered');
    const closed = new Promise<void>((resolve) => client.socket.once('close', () => resolve()));
    client.socket.resume(); // Reads (so it sees the close) but never answers a ping.
    await closed;
    await until(() => h.gateway.clientCount === 0, 1000, 'client removed');
  } finally {
    await h.close();
  }
});

test('a raw peer that answers pings stays connected across many intervals', async () => {
  const h = await startGateway({ heartbeatIntervalMs: INTERVAL_MS });
  try {
    const { client } = await RawClient.open(h.port);
    client.resume(true);
    await sleep(5 * INTERVAL_MS);
    assert.ok(client.frames.filter((f) => f.opcode === 9).length >= 3, 'pinged');
    assert.equal(h.gateway.clientCount, 1);
    client.destroy();
  } finally {
    await h.close();
  }
});
