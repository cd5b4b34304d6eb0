/**
 * `models pull` behind a proxy: downloadModel against a real forward proxy
 * (absolute-form GET for http://, CONNECT for https://) and real HTTP and
 * HTTPS servers, all on 127.0.0.1 port 0. The HTTPS server's certificate is
 * made by openssl for this run.
 */
import { describe, it, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProxySettings } from '../../../src/config/loader.ts';
import { downloadModel } from '../../../src/inference/model-download.ts';
import { createProxyFetch } from '../../../src/inference/proxy-fetch.ts';
import { DownloadError } from '../../../src/shared/errors.ts';

const DATA = randomBytes(200 * 1024 + 7);
const SHA = createHash('sha256').update(DATA).digest('hex');
const HALF = Math.floor(DATA.length / 2);

/** Serves DATA at /file (with Range), and /hop redirecting to `hopTarget`. */
function targetHandler(log: string[], hopTarget: () => string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    log.push(`${req.method} ${req.url} range=${req.headers.range ?? '-'}`);
    if (req.url === '/hop') {
      res.writeHead(302, { location: hopTarget() });
      return void res.end();
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (!m) {
      res.writeHead(200, { 'content-length': DATA.length });
      return void res.end(DATA);
    }
    const start = Number(m[1]);
    res.writeHead(206, { 'content-length': DATA.length - start, 'content-range': `bytes ${start}-${DATA.length - 1}/${DATA.length}` });
    res.end(DATA.subarray(start));
  };
}

/** A forward proxy as squid is one: forwards absolute-form requests, tunnels CONNECT; wants `user:pw` when `auth` is set. */
class ForwardProxy {
  readonly log: string[] = [];
  auth: string | undefined;
  private readonly server: Server;
  private readonly tunnels = new Set<Socket>();

  constructor() {
    this.server = createHttpServer((req, res) => {
      this.log.push(`${req.method} ${req.url} auth=${this.authOf(req) ?? '-'}`);
      if (!this.allowed(req)) {
        res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"' });
        return void res.end();
      }
      const url = new URL(req.url ?? '');
      const headers = { ...req.headers };
      delete headers['proxy-authorization'];
      const upstream = httpRequest(url, { method: req.method, headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    this.server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      this.log.push(`CONNECT ${req.url} auth=${this.authOf(req) ?? '-'}`);
      if (!this.allowed(req)) {
        client.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n');
        return;
      }
      const [host, port] = (req.url ?? '').split(':') as [string, string];
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      for (const s of [client, upstream]) {
        this.tunnels.add(s);
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
        s.on('close', () => this.tunnels.delete(s));
      }
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  url(credentials = ''): URL {
    return new URL(`http://${credentials}127.0.0.1:${(this.server.address() as AddressInfo).port}`);
  }

  async close(): Promise<void> {
    for (const s of this.tunnels) s.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private authOf(req: IncomingMessage): string | undefined {
    const header = req.headers['proxy-authorization'];
    return header === undefined ? undefined : Buffer.from(header.replace(/^Basic /, ''), 'base64').toString('utf8');
  }

  private allowed(req: IncomingMessage): boolean {
    return this.auth === undefined || this.authOf(req) === this.auth;
  }
}

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('downloadModel through HTTP_PROXY / HTTPS_PROXY', () => {
  const work = mkdtempSync(join(tmpdir(), 'ss-proxy-'));
  const proxy = new ForwardProxy();
  const httpLog: string[] = [];
  const httpsLog: string[] = [];
  let httpServer: Server;
  let httpsServer: Server;
  let ca: Buffer;
  let dest: string;
  let httpUrl: (path: string) => string;
  let httpsUrl: (path: string) => string;

  before(async () => {
    // A certificate for localhost and 127.0.0.1, valid for a day; P-256 is quick to make.
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        join(work, 'key.pem'),
        '-out',
        join(work, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    ca = readFileSync(join(work, 'cert.pem'));
    httpServer = createHttpServer(targetHandler(httpLog, () => httpsUrl('/file')));
    httpsServer = createHttpsServer(
      { key: readFileSync(join(work, 'key.pem')), cert: ca },
      targetHandler(httpsLog, () => httpUrl('/file')),
    );
    await Promise.all([listen(httpServer), listen(httpsServer), proxy.listen()]);
    httpUrl = (path) => `http://127.0.0.1:${portOf(httpServer)}${path}`;
    httpsUrl = (path) => `https://localhost:${portOf(httpsServer)}${path}`;
  });
  after(async () => {
    await Promise.all([closeServer(httpServer), closeServer(httpsServer), proxy.close()]);
    rmSync(work, { recursive: true, force: true });
  });
  beforeEach(() => {
    for (const log of [proxy.log, httpLog, httpsLog]) log.length = 0;
    proxy.auth = undefined;
    dest = join(mkdtempSync(join(work, 'models-')), 'm.onnx');
  });
  afterEach(() => rmSync(join(dest, '..'), { recursive: true, force: true }));

  const settings = (over: Partial<ProxySettings> = {}): ProxySettings => ({ http: proxy.url(), https: proxy.url(), noProxy: [], ...over });

  it('an http:// URL goes to HTTP_PROXY as an absolute-form request, with the proxy credentials as Basic auth', async () => {
    proxy.auth = 'alice:p@ss word';
    const result = await downloadModel(httpUrl('/file'), dest, {
      sha256: SHA,
      bytes: DATA.length,
      proxy: settings({ http: proxy.url('alice:p%40ss%20word@') }),
    });
    assert.equal(result.fetched, DATA.length);
    assert.deepEqual(readFileSync(dest), DATA);
    assert.deepEqual(proxy.log, [`GET ${httpUrl('/file')} auth=alice:p@ss word`]);
    assert.deepEqual(httpLog, ['GET /file range=-'], 'the proxy fetched it, not us');
  });

  it('an https:// URL goes through a CONNECT tunnel to HTTPS_PROXY, TLS to the target inside it; a Range resume works through it', async () => {
    writeFileSync(`${dest}.part`, DATA.subarray(0, HALF));
    const result = await downloadModel(httpsUrl('/file'), dest, {
      sha256: SHA,
      bytes: DATA.length,
      proxy: settings(),
      fetchImpl: createProxyFetch(settings(), { ca }),
    });
    assert.equal(result.resumedFrom, HALF);
    assert.equal(result.fetched, DATA.length - HALF);
    assert.deepEqual(readFileSync(dest), DATA);
    assert.deepEqual(proxy.log, [`CONNECT localhost:${portOf(httpsServer)} auth=-`], 'the proxy saw the host name only');
    assert.deepEqual(httpsLog, [`GET /file range=bytes=${HALF}-`]);
  });

  it('the TLS certificate is still checked inside the tunnel', async () => {
    await assert.rejects(
      downloadModel(httpsUrl('/file'), dest, { sha256: SHA, bytes: DATA.length, proxy: settings() }),
      (err: unknown) => err instanceof DownloadError && /via proxy 127\.0\.0\.1:\d+/.test(err.message) && /certificate/i.test(err.message),
    );
    assert.equal(existsSync(dest), false);
    assert.deepEqual(httpsLog, [], 'no request reached the server over an unverified connection');
  });

  it('NO_PROXY hosts are fetched directly', async () => {
    await downloadModel(httpUrl('/file'), dest, { sha256: SHA, bytes: DATA.length, proxy: settings({ noProxy: ['127.0.0.1'] }) });
    assert.deepEqual(proxy.log, []);
    assert.deepEqual(httpLog, ['GET /file range=-']);
  });

  it('each redirect hop picks proxy or not for its own host', async () => {
    // 127.0.0.1 is direct; its redirect to https://localhost goes through the tunnel.
    const s = settings({ noProxy: ['127.0.0.1'] });
    await downloadModel(httpUrl('/hop'), dest, { sha256: SHA, bytes: DATA.length, proxy: s, fetchImpl: createProxyFetch(s, { ca }) });
    assert.deepEqual(httpLog, ['GET /hop range=-']);
    assert.deepEqual(proxy.log, [`CONNECT localhost:${portOf(httpsServer)} auth=-`]);
    assert.deepEqual(httpsLog, ['GET /file range=-']);
  });

  it('a proxy that refuses the tunnel is a DownloadError naming the proxy and its status, and the .part is kept', async () => {
    proxy.auth = 'alice:secret';
    writeFileSync(`${dest}.part`, DATA.subarray(0, HALF));
    await assert.rejects(
      downloadModel(httpsUrl('/file'), dest, { sha256: SHA, bytes: DATA.length, proxy: settings(), fetchImpl: createProxyFetch(settings(), { ca }) }),
      (err: unknown) => err instanceof DownloadError && /via proxy 127\.0\.0\.1:\d+/.test(err.message) && /407/.test(err.message),
    );
    assert.equal(readFileSync(`${dest}.part`).length, HALF);
    assert.deepEqual(httpsLog, []);
  });
});
