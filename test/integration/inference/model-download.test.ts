import { describe, it, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadModel, parseContentRange } from '../../../src/inference/model-download.ts';
import { ChecksumMismatchError, DownloadError } from '../../../src/shared/errors.ts';
import { freePort } from '../../helpers/ports.ts';

const DATA = randomBytes(256 * 1024 + 123);
const SHA = createHash('sha256').update(DATA).digest('hex');
const HALF = Math.floor(DATA.length / 2);

interface RequestLog {
  path: string;
  range: string | undefined;
  /** Body bytes the server wrote for this request. */
  served: number;
}

/** A real HTTP server whose paths misbehave in the ways downloads meet in the wild. */
class TestServer {
  readonly log: RequestLog[] = [];
  private readonly server: Server;
  private readonly hanging = new Set<ServerResponse>();
  private cutOnceDone = false;

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  url(path: string): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}${path}`;
  }

  reset(): void {
    this.log.length = 0;
    this.cutOnceDone = false;
  }

  servedTotal(): number {
    return this.log.reduce((sum, r) => sum + r.served, 0);
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    const entry: RequestLog = { path, range: req.headers.range, served: 0 };
    this.log.push(entry);
    const send = (body: Buffer, status: number, headers: Record<string, string | number>): void => {
      res.writeHead(status, { 'content-length': body.length, ...headers });
      entry.served += body.length;
      res.end(body);
    };
    switch (path) {
      case '/file':
        return this.serveRange(req, entry, send);
      case '/redirect':
        res.writeHead(302, { location: '/file' });
        return void res.end();
      case '/no-range':
        return send(DATA, 200, {});
      case '/wrong':
        return send(Buffer.alloc(DATA.length, 7), 200, {});
      case '/missing':
        return send(Buffer.from('not here'), 404, {});
      case '/cut-once':
        if (this.cutOnceDone) return this.serveRange(req, entry, send);
        this.cutOnceDone = true;
        // Promise the whole file, send half, then drop the connection.
        res.writeHead(200, { 'content-length': DATA.length });
        entry.served += HALF;
        res.write(DATA.subarray(0, HALF), () => res.socket?.destroy());
        return;
      case '/stall':
        res.writeHead(200, { 'content-length': DATA.length });
        entry.served += HALF;
        res.write(DATA.subarray(0, HALF));
        this.hanging.add(res);
        return;
      default:
        return send(Buffer.from('no route'), 404, {});
    }
  }

  private serveRange(req: IncomingMessage, _entry: RequestLog, send: (body: Buffer, status: number, headers: Record<string, string | number>) => void): void {
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (!m) return send(DATA, 200, { 'accept-ranges': 'bytes' });
    const start = Number(m[1]);
    if (start >= DATA.length) return send(Buffer.alloc(0), 416, { 'content-range': `bytes */${DATA.length}` });
    send(DATA.subarray(start), 206, { 'content-range': `bytes ${start}-${DATA.length - 1}/${DATA.length}` });
  }
}

/** A URL where nothing listens: connections are refused. */
const closedPortUrl = async (): Promise<string> => `http://127.0.0.1:${await freePort()}/file`;

describe('downloadModel against a real HTTP server', () => {
  const server = new TestServer();
  let dir: string;
  let dest: string;

  before(() => server.listen());
  after(() => server.close());
  beforeEach(() => {
    server.reset();
    dir = mkdtempSync(join(tmpdir(), 'streamsight-download-'));
    mkdirSync(join(dir, 'models'));
    dest = join(dir, 'models', 'm.onnx');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('downloads the whole file, reports progress up to the total and leaves no .part', async () => {
    const progress: [number, number | undefined][] = [];
    const result = await downloadModel(server.url('/file'), dest, {
      sha256: SHA,
      bytes: DATA.length,
      onProgress: (received, total) => progress.push([received, total]),
    });
    assert.deepEqual(readFileSync(dest), DATA);
    assert.equal(existsSync(`${dest}.part`), false);
    assert.deepEqual(result, { path: dest, bytes: DATA.length, fetched: DATA.length, resumedFrom: 0, alreadyPresent: false });
    assert.ok(progress.length >= 2);
    assert.deepEqual(progress.at(-1), [DATA.length, DATA.length]);
    for (let i = 1; i < progress.length; i++) assert.ok((progress[i]?.[0] ?? 0) >= (progress[i - 1]?.[0] ?? 0));
    assert.equal(server.log[0]?.range, undefined);
  });

  it('keeps the .part when the connection is cut, then resumes with a Range request for the rest only', async () => {
    const url = server.url('/cut-once');
    await assert.rejects(downloadModel(url, dest, { sha256: SHA, bytes: DATA.length }), (err: unknown) => {
      assert.ok(err instanceof DownloadError);
      assert.equal(err.code, 'E_DOWNLOAD');
      assert.equal(err.retryable, true);
      assert.match(err.message, /^download from 127\.0\.0\.1:\d+ failed after \d+ bytes: connection cut$/);
      return true;
    });
    assert.equal(existsSync(dest), false);
    // The .part holds what was read before the cut: up to HALF bytes (the
    // client may drop chunks it had buffered but not read when the socket died).
    const partSize = statSync(`${dest}.part`).size;
    assert.ok(partSize > 0 && partSize <= HALF, `part is ${partSize} bytes`);
    assert.deepEqual(readFileSync(`${dest}.part`), DATA.subarray(0, partSize));

    const result = await downloadModel(url, dest, { sha256: SHA, bytes: DATA.length });
    assert.deepEqual(readFileSync(dest), DATA);
    assert.equal(result.resumedFrom, partSize);
    assert.equal(result.fetched, DATA.length - partSize);
    assert.equal(server.log.length, 2);
    assert.equal(server.log[1]?.range, `bytes=${partSize}-`);
    assert.equal(server.log[1]?.served, DATA.length - partSize);
    assert.equal(server.servedTotal(), HALF + DATA.length - partSize);
  });

  it('starts over cleanly when the server answers a Range request with 200', async () => {
    writeFileSync(`${dest}.part`, DATA.subarray(0, HALF));
    const result = await downloadModel(server.url('/no-range'), dest, { sha256: SHA, bytes: DATA.length });
    assert.equal(server.log[0]?.range, `bytes=${HALF}-`);
    assert.equal(result.resumedFrom, 0);
    assert.equal(result.fetched, DATA.length);
    assert.deepEqual(readFileSync(dest), DATA);
  });

  it('verifies a complete .part when the server answers 416, without fetching again', async () => {
    writeFileSync(`${dest}.part`, DATA);
    const result = await downloadModel(server.url('/file'), dest, { sha256: SHA });
    assert.equal(server.log[0]?.range, `bytes=${DATA.length}-`);
    assert.equal(result.fetched, 0);
    assert.deepEqual(readFileSync(dest), DATA);
  });

  it('restarts from zero once when a resumed file fails verification (stale .part)', async () => {
    writeFileSync(`${dest}.part`, Buffer.alloc(HALF, 1));
    const result = await downloadModel(server.url('/file'), dest, { sha256: SHA, bytes: DATA.length });
    assert.deepEqual(
      server.log.map((r) => r.range),
      [`bytes=${HALF}-`, undefined],
    );
    assert.equal(result.resumedFrom, 0);
    assert.deepEqual(readFileSync(dest), DATA);
  });

  it('throws ChecksumMismatchError on wrong bytes and leaves neither dest nor .part', async () => {
    await assert.rejects(downloadModel(server.url('/wrong'), dest, { sha256: SHA, bytes: DATA.length }), (err: unknown) => {
      assert.ok(err instanceof ChecksumMismatchError);
      assert.equal(err.code, 'E_CHECKSUM');
      assert.match(err.message, new RegExp(`expected ${SHA}`));
      return true;
    });
    assert.equal(existsSync(dest), false);
    assert.equal(existsSync(`${dest}.part`), false);
  });

  it('throws DownloadError naming the host and reason when the connection is refused, dest untouched', async () => {
    const url = await closedPortUrl();
    await assert.rejects(downloadModel(url, dest, { sha256: SHA }), (err: unknown) => {
      assert.ok(err instanceof DownloadError);
      assert.match(err.message, /^download from 127\.0\.0\.1:\d+ failed: connection refused$/);
      return true;
    });
    assert.equal(existsSync(dest), false);
  });

  it('throws DownloadError for an HTTP 404', async () => {
    await assert.rejects(downloadModel(server.url('/missing'), dest, { sha256: SHA }), /failed: HTTP 404 Not Found/);
    assert.equal(existsSync(dest), false);
  });

  it('follows redirects', async () => {
    await downloadModel(server.url('/redirect'), dest, { sha256: SHA, bytes: DATA.length });
    assert.deepEqual(
      server.log.map((r) => r.path),
      ['/redirect', '/file'],
    );
    assert.deepEqual(readFileSync(dest), DATA);
  });

  it('gives up on a stalled connection and keeps what arrived', async () => {
    await assert.rejects(downloadModel(server.url('/stall'), dest, { sha256: SHA, bytes: DATA.length, stallTimeoutMs: 200 }), (err: unknown) => {
      assert.ok(err instanceof DownloadError);
      assert.match(err.message, /stalled, no data for 200 ms/);
      return true;
    });
    assert.equal(statSync(`${dest}.part`).size, HALF);
  });

  it('never clobbers an existing dest with a failed download', async () => {
    writeFileSync(dest, 'old model');
    await assert.rejects(downloadModel(server.url('/wrong'), dest, { sha256: SHA }), ChecksumMismatchError);
    assert.equal(readFileSync(dest, 'utf8'), 'old model');
    await assert.rejects(downloadModel(await closedPortUrl(), dest, { sha256: SHA }), DownloadError);
    assert.equal(readFileSync(dest, 'utf8'), 'old model');
  });

  it('returns without a request when dest already holds the right file', async () => {
    writeFileSync(dest, DATA);
    const result = await downloadModel(server.url('/file'), dest, { sha256: SHA, bytes: DATA.length });
    assert.equal(result.alreadyPresent, true);
    assert.equal(server.log.length, 0);
  });

  it('rejects with the abort reason and keeps the .part when the caller aborts', async () => {
    const controller = new AbortController();
    const reason = new Error('user pressed ctrl-c');
    const pending = downloadModel(server.url('/stall'), dest, {
      sha256: SHA,
      signal: controller.signal,
      onProgress: (received) => {
        if (received >= HALF) controller.abort(reason);
      },
    });
    await assert.rejects(pending, (err: unknown) => err === reason);
    assert.equal(statSync(`${dest}.part`).size, HALF);
  });

  it('rejects bad arguments with TypeError/RangeError naming them', async () => {
    await assert.rejects(downloadModel('ftp://x/y', dest, { sha256: SHA }), TypeError);
    await assert.rejects(downloadModel(server.url('/file'), dest, { sha256: 'abc' }), /options\.sha256/);
    await assert.rejects(downloadModel(server.url('/file'), dest, { sha256: SHA, bytes: -1 }), RangeError);
  });
});

describe('parseContentRange', () => {
  it('parses start, end and total, and * as an unknown total', () => {
    assert.deepEqual(parseContentRange('bytes 100-199/200'), { start: 100, end: 199, total: 200 });
    assert.deepEqual(parseContentRange('bytes 0-9/*'), { start: 0, end: 9, total: undefined });
    assert.equal(parseContentRange('items 0-9/10'), undefined);
    assert.equal(parseContentRange(null), undefined);
  });
});
