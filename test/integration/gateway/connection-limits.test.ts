import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { loadConfig } from '../../../src/config/loader.ts';
import { ConfigError } from '../../../src/shared/errors.ts';
import { checkConnectionLimits, createGatewayServer } from '../../../src/gateway/gateway-server.ts';
import { makeResult, RawClient, sleep, TestClient, until } from './ws-helpers.ts';
import { serverSettings, startAssembled } from './server-harness.ts';

/** A raw TCP connection that never sends a byte; `closedAt` is set when the server closes it. */
interface IdleSocket {
  socket: Socket;
  closedAt: number | undefined;
}

async function openIdle(port: number): Promise<IdleSocket> {
  const socket = connect({ port, host: '127.0.0.1' });
  const idle: IdleSocket = { socket, closedAt: undefined };
  socket.on('error', () => undefined); // A reset from the server is how some of them end.
  socket.on('close', () => (idle.closedAt = Date.now()));
  socket.resume();
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return idle;
}

test('50 sockets that connect and never send are all closed by the server soon after headersTimeoutMs, and the server still answers', async () => {
  const g = await startAssembled({ headersTimeoutMs: 1000, requestTimeoutMs: 2000 });
  const idle: IdleSocket[] = [];
  try {
    const started = Date.now();
    for (let i = 0; i < 50; i++) idle.push(await openIdle(g.port));
    // Node's own default sweep is every 30 s: without the server's setting this times out.
    await until(() => idle.every((s) => s.closedAt !== undefined), 5000, 'the idle sockets to be closed');
    const slowest = Math.max(...idle.map((s) => s.closedAt! - started));
    assert.ok(slowest >= 900, `closed after ${slowest} ms: before headersTimeoutMs`);
    const health = await fetch(`http://127.0.0.1:${g.port}/healthz`);
    assert.equal(health.status, 200);
  } finally {
    for (const s of idle) s.socket.destroy();
    await g.close();
  }
});

test('with maxConnections N, the (N+1)th connection is closed at once and the first N stay open', async () => {
  const g = await startAssembled({ maxConnections: 5 });
  const idle: IdleSocket[] = [];
  try {
    for (let i = 0; i < 5; i++) idle.push(await openIdle(g.port));
    const connections = (): Promise<number> => new Promise((resolve, reject) => g.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    for (let n = await connections(); n < 5; n = await connections()) await sleep(10);
    const extra = await openIdle(g.port).catch(() => ({ socket: undefined, closedAt: Date.now() }));
    await until(() => extra.closedAt !== undefined, 2000, 'the extra connection to be closed');
    await sleep(200);
    assert.ok(
      idle.every((s) => s.closedAt === undefined),
      'the first N are still open',
    );
    // One of them leaves: a new connection is served.
    idle.pop()!.socket.destroy();
    await sleep(100);
    const health = await fetch(`http://127.0.0.1:${g.port}/healthz`);
    assert.equal(health.status, 200);
    extra.socket?.destroy();
  } finally {
    for (const s of idle) s.socket.destroy();
    await g.close();
  }
});

test('with maxClients 2, the 3rd WebSocket client gets 503 before the handshake; the first two keep receiving; after one leaves a new one is accepted', async () => {
  // Short HTTP timeouts too: they must not cut off upgraded connections.
  const g = await startAssembled({ maxClients: 2, headersTimeoutMs: 1000, requestTimeoutMs: 1000, keepAliveTimeoutMs: 500 });
  const url = `ws://127.0.0.1:${g.port}/ws`;
  try {
    const a = await TestClient.open(url);
    const b = await TestClient.open(url);
    for (const c of [a, b]) c.send({ type: 'subscribe', streams: ['cam1'] });
    await Promise.all([a.barrier(), b.barrier()]);

    const third = await RawClient.open(g.port, '/ws');
    assert.equal(third.status, 503);
    assert.match(third.head, /content-type: application\/json/i);
    assert.equal((JSON.parse(third.body) as { code: string }).code, 'too_many_clients');
    third.client.destroy();
    await assert.rejects(TestClient.open(url), /Unexpected server response: 503/);
    assert.equal(g.gateway.clientCount, 2);

    // Past the header and request timeouts, the two still get what is published.
    await sleep(2500);
    g.gateway.publishFrame(makeResult('cam1'));
    await Promise.all([a.waitFor((m) => m.type === 'frame'), b.waitFor((m) => m.type === 'frame')]);

    await a.close();
    await until(() => g.gateway.clientCount === 1, 2000, 'the server to see the client leave');
    const c = await TestClient.open(url);
    c.send({ type: 'subscribe', streams: ['cam1'] });
    await c.barrier();
    const fromB = b.messages.length;
    g.gateway.publishFrame(makeResult('cam1'));
    await Promise.all([b.waitFor((m) => m.type === 'frame', 5000, fromB), c.waitFor((m) => m.type === 'frame')]);
    // The cap is reached again: one warning each time it is reached (twice now), not one per refused client (four).
    for (let i = 0; i < 2; i++) {
      const refused = await RawClient.open(g.port, '/ws');
      assert.equal(refused.status, 503);
      refused.client.destroy();
    }
    assert.equal(
      g
        .logs()
        .split('\n')
        .filter((l) => l.includes('WebSocket client limit reached')).length,
      2,
    );
    await Promise.all([b.close(), c.close()]);
  } finally {
    await g.close();
  }
});

test('the limits are set on the server from the config; a header timeout over the request timeout is a ConfigError', () => {
  const settings = serverSettings({ headersTimeoutMs: 4000, requestTimeoutMs: 8000, keepAliveTimeoutMs: 700, maxRequestsPerSocket: 9, maxConnections: 77 });
  const server = createGatewayServer(settings);
  assert.equal(server.headersTimeout, 4000);
  assert.equal(server.requestTimeout, 8000);
  assert.equal(server.keepAliveTimeout, 700);
  assert.equal(server.maxRequestsPerSocket, 9);
  assert.equal(server.maxConnections, 77);
  assert.throws(
    () => checkConnectionLimits({ headersTimeoutMs: 5000, requestTimeoutMs: 4000 }),
    (err: unknown) => err instanceof ConfigError && /server\.headersTimeoutMs/.test(err.message),
  );
  // The config refuses the pair at load, naming the key.
  assert.throws(
    () => loadConfig({ env: {}, flags: { server: { headersTimeoutMs: 5000, requestTimeoutMs: 4000 } } }),
    (err: unknown) => err instanceof ConfigError && /"server\.headersTimeoutMs": headersTimeoutMs must be <= requestTimeoutMs/.test(err.message),
  );
});
