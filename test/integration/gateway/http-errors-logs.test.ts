import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { RawClient } from './ws-helpers.ts';
import { startAssembled } from './server-harness.ts';

const TOKEN = 'SECRET-tok3n-4711';
const PASSWORD = 'hunter2-PASSWORD';

/** One request as sent (the target is not normalised, unlike fetch), answered status and body. */
function send(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('malformed percent-encoding is 400 bad_request in a path segment, a query, a dashboard path and the WebSocket upgrade; the token is in no log line', async () => {
  const g = await startAssembled({ token: TOKEN });
  try {
    const auth = { Authorization: `Bearer ${TOKEN}` };
    for (const [method, path] of [
      ['DELETE', `/api/streams/%ZZ?token=${TOKEN}`],
      ['GET', '/api/streams/%E0%A4%A/snapshot.jpg'],
      ['GET', '/api/streams/cam%C3%28'],
      ['GET', '/api/streams?x=%'],
      ['GET', '/healthz?token=%G1'],
      ['GET', '/dashboard/app%ZZ.js'],
      ['GET', '/api/search?label=%ZZ'],
    ] as const) {
      const r = await send(g.port, method, path, auth);
      assert.equal(r.status, 400, `${method} ${path}: ${r.body}`);
      assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'bad_request', path);
    }
    const ws = await RawClient.open(g.port, `/ws?token=${TOKEN}&x=%ZZ`);
    assert.equal(ws.status, 400);
    assert.equal((JSON.parse(ws.body) as { code: string }).code, 'bad_request');
    ws.client.destroy();
    assert.equal(g.gateway.clientCount, 0);
    // Well-formed escapes still decode: a stream id with a space is looked up as such.
    assert.equal((await send(g.port, 'GET', '/api/streams/cam%31')).status, 200);
    assert.equal((await send(g.port, 'GET', '/api/streams/no%20such')).status, 404);
    assert.doesNotMatch(g.logs(), /SECRET/);
    assert.doesNotMatch(g.logs(), /HTTP handler failed/);
  } finally {
    await g.close();
  }
});

test("a failing route answers 500 and logs the error without the token (query or Authorization) or a source URL's password", async () => {
  const g = await startAssembled(
    { token: TOKEN },
    {
      // A bug that puts the request's source URL in its error, as an ffmpeg failure might.
      addStream: (r) => Promise.reject(new Error(`cannot open ${r.url}`, { cause: new Error(`auth failed for ${r.url}`) })),
      removeStream: () => Promise.reject(new TypeError(`backend broke (token ${TOKEN} in its message)`)),
    },
  );
  try {
    const headers = { Authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const add = await send(
      g.port,
      'POST',
      `/api/streams?token=${TOKEN}&access_token=${TOKEN}`,
      headers,
      JSON.stringify({ id: 'door', url: `rtsp://admin:${PASSWORD}@10.0.0.5/stream1?token=${TOKEN}` }),
    );
    assert.equal(add.status, 500, add.body);
    assert.equal((JSON.parse(add.body) as { error: { code: string } }).error.code, 'internal');
    const del = await send(g.port, 'DELETE', `/api/streams/cam1?t%6Fken=${TOKEN}`, headers);
    assert.equal(del.status, 500, del.body);

    const lines = g
      .logs()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; url?: string; err?: { message: string; stack: string } });
    const failures = lines.filter((l) => l.msg === 'HTTP handler failed');
    assert.equal(failures.length, 2, g.logs());
    // Still useful: the route and the error with its stack.
    assert.equal(failures[0]!.url, '/api/streams?token=***&access_token=***');
    assert.equal(failures[1]!.url, '/api/streams/cam1?t%6Fken=***');
    assert.match(failures[0]!.err!.message, /cannot open rtsp:\/\/\*\*\*@10\.0\.0\.5\/stream1/);
    assert.match(failures[0]!.err!.stack, /at /);
    assert.doesNotMatch(g.logs(), /SECRET/);
    assert.doesNotMatch(g.logs(), new RegExp(PASSWORD));
  } finally {
    await g.close();
  }
});

test('a POST refused before its body is read (no token) is answered at once with connection: close, not after Node has read the body', async () => {
  const g = await startAssembled({ token: TOKEN });
  try {
    const answer = await new Promise<{ status: number; connection: string | undefined; sentBytes: number }>((resolve, reject) => {
      let sent = 0;
      const req = request(
        {
          host: '127.0.0.1',
          port: g.port,
          method: 'POST',
          path: '/api/streams',
          headers: { 'content-type': 'application/json', 'content-length': String(64 << 20) },
        },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, sentBytes: sent });
          req.destroy();
        },
      );
      req.on('error', (err) => (sent > 0 ? undefined : reject(err)));
      // 64 KiB now; the rest (64 MiB) would never be needed.
      req.write(Buffer.alloc(64 * 1024));
      sent += 64 * 1024;
    });
    assert.equal(answer.status, 401);
    assert.equal(answer.connection, 'close');
    assert.equal(answer.sentBytes, 64 * 1024);
  } finally {
    await g.close();
  }
});
