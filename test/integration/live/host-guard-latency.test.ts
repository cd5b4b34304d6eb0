/**
 * What the host guard adds to a live stream's delivery: a never-ending
 * response (as MJPEG) of 64 KiB parts every 20 ms, read directly and
 * through the guard; each part carries the time it was written. Prints
 * p50/p99 of write-to-read delay both ways (no time limit asserted: the
 * machine is shared); asserts every byte arrives, in order, unbuffered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request } from 'node:http';
import { HostGuardProxy } from '../../../src/ingest/host-guard-proxy.ts';
import { listenOnFreePort } from '../../helpers/ports.ts';

const PART = 64 * 1024;
const PARTS = 150;

/** When each part was read (hrtime ns), by part number. */
let arrivals: bigint[] = [];
/** When the server wrote its last part (hrtime ns). */
let lastWriteNs = 0n;

async function delays(port: number, proxy: string | undefined): Promise<number[]> {
  arrivals = [];
  const target = `http://127.0.0.1:${port}/cam.mjpg`;
  const via = proxy ? new URL(proxy) : undefined;
  const req = request(via ? { host: via.hostname, port: via.port, path: target, headers: { host: `127.0.0.1:${port}` } } : target);
  req.end();
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  const out: number[] = [];
  let pending = Buffer.alloc(0);
  for await (const chunk of res) {
    pending = Buffer.concat([pending, chunk as Buffer]);
    while (pending.length >= PART) {
      const sentNs = pending.readBigInt64BE(0);
      const now = process.hrtime.bigint();
      arrivals.push(now);
      out.push(Number(now - sentNs) / 1e6);
      assert.equal(pending.readUInt32BE(8), out.length - 1, 'parts in order');
      pending = pending.subarray(PART);
    }
  }
  return out;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

test(
  'the guard streams a never-ending response part by part (no buffering): write-to-read delay direct vs through the guard',
  { timeout: 60_000 },
  async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'multipart/x-mixed-replace; boundary=x' });
      let i = 0;
      const timer = setInterval(() => {
        const part = Buffer.alloc(PART, 0x55);
        part.writeBigInt64BE(process.hrtime.bigint(), 0);
        part.writeUInt32BE(i, 8);
        res.write(part);
        if (++i === PARTS) {
          lastWriteNs = process.hrtime.bigint();
          clearInterval(timer);
          res.end();
        }
      }, 20);
      res.once('close', () => clearInterval(timer));
    });
    const port = await listenOnFreePort(server);
    const guard = new HostGuardProxy({ rules: { exact: [{ host: '127.0.0.1', port }], patterns: [] } });
    try {
      const direct = await delays(port, undefined);
      const guarded = await delays(port, await guard.start());
      const readBeforeTheEnd = arrivals.filter((t) => t < lastWriteNs).length;
      assert.equal(direct.length, PARTS);
      assert.equal(guarded.length, PARTS);
      const line = (name: string, xs: number[]): string => `${name}: p50 ${pct(xs, 50).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms`;
      process.stderr.write(`# ${PARTS} parts of ${PART / 1024} KiB every 20 ms; ${line('direct', direct)}; ${line('through the guard', guarded)}\n`);
      // Unbuffered: parts are read while the server is still writing (a buffering proxy would hand them all over after its last one).
      assert.ok(readBeforeTheEnd >= PARTS / 2, `${readBeforeTheEnd} of ${PARTS} parts read before the server wrote its last`);
    } finally {
      await guard.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  },
);

test(
  'a pooled upstream connection carrying many requests (HLS segments over keep-alive) is tracked once: no listener pile-up, all closed on close()',
  { timeout: 30_000 },
  async () => {
    const server = createServer((_req, res) => res.end('x'));
    const port = await listenOnFreePort(server);
    const guard = new HostGuardProxy({ rules: { exact: [{ host: '127.0.0.1', port }], patterns: [] } });
    const proxy = new URL(await guard.start());
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 40; i++) {
        const req = request({ host: proxy.hostname, port: proxy.port, path: `http://127.0.0.1:${port}/seg${i}.ts`, agent });
        req.end();
        const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
        res.resume();
        await once(res, 'end');
      }
      assert.ok(guard.openSockets <= 4, `one client and one upstream connection reused: ${guard.openSockets} open`);
    } finally {
      agent.destroy();
      await guard.close();
      process.off('warning', onWarning);
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    assert.equal(guard.openSockets, 0);
    assert.deepEqual(
      warnings.map((w) => w.name),
      [],
    );
  },
);
