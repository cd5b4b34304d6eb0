import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { CLI, ROOT, runCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/ports.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-serve-limits-'));
const model = join(dir, 'r18.onnx');
const TOKEN = 'limits-SECRET-123';
let port = 0;
let child: ChildProcess;
let stderr = '';

/** Status of a WebSocket handshake: 101 when it opened (the socket is then closed), else the HTTP status. */
function handshake(open: WebSocket[]): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${TOKEN}`);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => {
      open.push(ws);
      resolve(101);
    });
    ws.on('error', () => undefined);
  });
}

before(async () => {
  assert.equal((await runCli(['models', 'synth', 'resnet18', '--out', model])).code, 0);
  const config = join(dir, 'serve.yaml');
  writeFileSync(config, 'server:\n  maxClients: 2\n  headersTimeoutMs: 1000\n  requestTimeoutMs: 2000\n');
  port = await freePort();
  child = spawn(process.execPath, [CLI, 'serve', '--config', config, '--port', String(port), '--model', model, '--token', TOKEN, '--log-level', 'debug'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const until = Date.now() + 60_000;
  for (;;) {
    if (
      await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (Date.now() > until || child.exitCode !== null) throw new Error(`serve did not start:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  if (child.exitCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  rmSync(dir, { recursive: true, force: true });
});

test("serve applies the config's connection limits (idle socket closed after headersTimeoutMs, 3rd WebSocket client 503 with maxClients 2) and logs no token", async () => {
  const idle = connect({ port, host: '127.0.0.1' });
  idle.on('error', () => undefined);
  idle.resume();
  const closedIn = await new Promise<number | undefined>((resolve) => {
    const t0 = Date.now();
    const t = setTimeout(() => resolve(undefined), 4000);
    idle.on('close', () => {
      clearTimeout(t);
      resolve(Date.now() - t0);
    });
  });
  idle.destroy();
  assert.ok(closedIn !== undefined && closedIn >= 900, `idle socket closed after ${closedIn ?? 'over 4000'} ms (headersTimeoutMs 1000)`);

  const open: WebSocket[] = [];
  assert.equal(await handshake(open), 101);
  assert.equal(await handshake(open), 101);
  assert.equal(await handshake(open), 503);
  open.pop()!.close();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await handshake(open), 101);
  for (const ws of open) ws.close();

  const bad = await fetch(`http://127.0.0.1:${port}/api/streams/%ZZ?token=${TOKEN}`, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(bad.status, 400);
  assert.match(stderr, /"level":20/, 'debug lines are written');
  assert.doesNotMatch(stderr, /SECRET/);
});
