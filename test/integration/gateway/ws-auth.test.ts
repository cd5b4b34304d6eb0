import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, startGateway, TestClient } from './ws-helpers.ts';

const TOKEN = 's3cret-tok3n';

test('with a token, a handshake without it or with a wrong one gets HTTP 401 before the upgrade, and the socket is closed', async () => {
  const h = await startGateway({ token: TOKEN });
  try {
    for (const headers of [
      {} as Record<string, string>,
      { Authorization: 'Bearer nope' },
      { Authorization: `Basic ${TOKEN}` },
      { Authorization: `Bearer ${TOKEN}x` },
    ]) {
      const { client, status, body } = await RawClient.open(h.port, '/ws', headers);
      assert.equal(status, 401, JSON.stringify(headers));
      assert.equal(JSON.parse(body).code, 'unauthorized');
      await new Promise<void>((resolve) => {
        client.socket.once('close', () => resolve());
        client.socket.resume();
      });
    }
    const wrongQuery = await RawClient.open(h.port, '/ws?token=wrong');
    assert.equal(wrongQuery.status, 401);
    wrongQuery.client.destroy();
    assert.equal(h.gateway.clientCount, 0);
    await assert.rejects(TestClient.open(h.url), /Unexpected server response: 401/);
  } finally {
    await h.close();
  }
});

test('with a token, both Authorization: Bearer and ?token= are accepted', async () => {
  const h = await startGateway({ token: TOKEN });
  try {
    const byHeader = await TestClient.open(h.url, { headers: { Authorization: `Bearer ${TOKEN}` } });
    const byQuery = await TestClient.open(`${h.url}?token=${encodeURIComponent(TOKEN)}`);
    assert.equal(byHeader.messages[0]!.type, 'hello');
    assert.equal(byQuery.messages[0]!.type, 'hello');
    assert.equal(h.gateway.clientCount, 2);
    await Promise.all([byHeader.close(), byQuery.close()]);
  } finally {
    await h.close();
  }
});

test('with an Origin allowlist, another Origin gets 403 before the upgrade; a listed one and a non-browser client pass', async () => {
  const h = await startGateway({ allowedOrigins: ['https://dash.example.com'] });
  try {
    const evil = await RawClient.open(h.port, '/ws', { Origin: 'https://evil.example.com' });
    assert.equal(evil.status, 403);
    assert.equal(JSON.parse(evil.body).code, 'forbidden_origin');
    evil.client.destroy();
    const good = await TestClient.open(h.url, { origin: 'https://DASH.example.com' });
    const noOrigin = await TestClient.open(h.url);
    assert.equal(h.gateway.clientCount, 2);
    await Promise.all([good.close(), noOrigin.close()]);
  } finally {
    await h.close();
  }
});

test('an upgrade on another path is refused with 404 when no other upgrade listener exists', async () => {
  const h = await startGateway();
  try {
    const other = await RawClient.open(h.port, '/not-ws');
    assert.equal(other.status, 404);
    other.client.destroy();
    const ok = await RawClient.open(h.port, '/ws?x=1');
    assert.equal(ok.status, 101);
    ok.client.destroy();
  } finally {
    await h.close();
  }
});
