/**
 * The host guard against real ffmpeg and real web servers: an HLS playlist
 * on an allowed server cannot send ffmpeg to another host:port for its
 * segments, variant playlists or through a redirect, over http or https;
 * the same playlist with its segments at home plays, every request through
 * the guard. `no_proxy` lists the loopback hosts for the whole file: ffmpeg
 * would skip a proxy for them if its environment kept the variable.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { protocolWhitelistFor } from '../../../src/ingest/source-allowlist.ts';
import { hostGuardRulesFor } from '../../../src/ingest/host-guard.ts';
import { describeSource } from '../../../src/ingest/source-kind.ts';
import { ffmpegChildrenOf } from '../../helpers/processes.ts';
import { recordedRunner, type Recorded } from './live-helpers.ts';
import { freePort, listenOnFreePort } from '../../helpers/ports.ts';
import { startStaticServer, type StaticServer } from './servers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-guard-'));
const web = join(dir, 'web');
const savedNoProxy = process.env.no_proxy;
let a: StaticServer;
let b: StaticServer;
let c: StaticServer; // another loopback address, 127.0.0.2
const WATCHDOG = { stallTimeoutMs: 3000, startTimeoutMs: 15_000, stopGraceMs: 500, backoff: { initialMs: 2000, maxMs: 2000, jitter: 0 } };

before(async () => {
  process.env.no_proxy = '127.0.0.1,127.0.0.2,localhost';
  mkdirSync(web);
  execFileSync('ffmpeg', [
    '-nostdin',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=160x120:rate=10',
    '-t',
    '2',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    '10',
    '-f',
    'hls',
    '-hls_time',
    '1',
    '-hls_list_size',
    '0',
    '-hls_playlist_type',
    'vod',
    join(web, 'good.m3u8'),
  ]);
  a = await startStaticServer(web);
  b = await startStaticServer(web);
  c = await startStaticServer(web, 0, '127.0.0.2');
  const good = readFileSync(join(web, 'good.m3u8'), 'utf8');
  const segmentsAt = (base: string): string => good.replace(/^(good\d+\.ts)$/gm, `${base}/$1`);
  writeFileSync(join(web, 'absolute-home.m3u8'), segmentsAt(`http://127.0.0.1:${a.port}`));
  writeFileSync(join(web, 'segments-on-b.m3u8'), segmentsAt(`http://127.0.0.1:${b.port}`));
  writeFileSync(join(web, 'segments-on-c.m3u8'), segmentsAt(`http://127.0.0.2:${c.port}`));
  writeFileSync(join(web, 'variant-on-b.m3u8'), `#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=160x120\nhttp://127.0.0.1:${b.port}/good.m3u8\n`);
  a.redirects.set('/redirect.m3u8', `http://127.0.0.1:${b.port}/good.m3u8`);
});
after(async () => {
  await Promise.all([a.close(), b.close(), c.close()]);
  if (savedNoProxy === undefined) delete process.env.no_proxy;
  else process.env.no_proxy = savedNoProxy;
  rmSync(dir, { recursive: true, force: true });
});

function runner(url: string): Recorded {
  const source = describeSource(url);
  return recordedRunner({
    url,
    input: source.input,
    inputOptions: source.inputOptions,
    protocolWhitelist: protocolWhitelistFor(source.scheme),
    hostGuard: hostGuardRulesFor(url),
    watchdog: WATCHDOG,
    fps: 2,
  });
}

async function framesReach(r: Recorded, n: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (r.frames() < n) {
    if (Date.now() > until) throw new Error(`only ${r.frames()} frames within ${timeoutMs} ms; statuses: ${JSON.stringify(r.statuses)}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

test(
  'an HLS playlist whose segments are on its own server plays, every request through the guard (no_proxy set for loopback notwithstanding)',
  { timeout: 60_000 },
  async () => {
    for (const name of ['good', 'absolute-home']) {
      a.requests.length = 0;
      const r = runner(`http://127.0.0.1:${a.port}/${name}.m3u8`);
      r.runner.start();
      try {
        await r.waitFor('live', 20_000);
        await framesReach(r, 3, 20_000);
      } finally {
        await r.runner.stop();
      }
      assert.ok(
        a.requests.some((q) => /good\d\.ts$/.test(q.url)),
        `${name}: segments were fetched: ${JSON.stringify(a.requests)}`,
      );
      assert.deepEqual(
        a.requests.filter((q) => q.via !== '1.1 streamsight-host-guard'),
        [],
        `${name}: every request came through the guard`,
      );
    }
    assert.deepEqual(ffmpegChildrenOf(process.pid), []);
  },
);

test(
  'a playlist sending ffmpeg to another host:port (segments, a variant playlist, a redirect; another port or 127.0.0.2) is refused at once: no request reaches it, and the status names it',
  { timeout: 120_000 },
  async () => {
    const cases = [
      { name: 'segments-on-b', target: `127.0.0.1:${b.port}`, other: b },
      { name: 'segments-on-c', target: `127.0.0.2:${c.port}`, other: c },
      { name: 'variant-on-b', target: `127.0.0.1:${b.port}`, other: b },
      { name: 'redirect', target: `127.0.0.1:${b.port}`, other: b },
    ];
    for (const { name, target, other } of cases) {
      other.requests.length = 0;
      const r = runner(`http://127.0.0.1:${a.port}/${name}.m3u8`);
      r.runner.start();
      try {
        await r.waitFor('reconnecting', 20_000);
      } finally {
        await r.runner.stop();
      }
      const down = r.statuses.find((s) => s.state === 'reconnecting');
      assert.match(down?.detail ?? '', new RegExp(`^refused: ffmpeg was sent to ${target.replace(/\./g, '\\.')}, which this stream may not reach`), name);
      assert.doesNotMatch(down?.detail ?? '', /\n/, `${name}: one line`);
      assert.deepEqual(other.requests, [], `${name}: nothing reached ${target}`);
      assert.equal(r.frames(), 0, name);
      assert.ok(
        r.logs.some((l) => l.includes('host guard refused')),
        `${name}: logged`,
      );
    }
    assert.deepEqual(ffmpegChildrenOf(process.pid), []);
  },
);

test("the allowlist's hosts are reachable on any port; the guard still refuses the rest", { timeout: 60_000 }, async () => {
  b.requests.length = 0;
  const url = `http://127.0.0.1:${a.port}/segments-on-b.m3u8`;
  const source = describeSource(url);
  const r = recordedRunner({
    url,
    input: source.input,
    inputOptions: source.inputOptions,
    protocolWhitelist: protocolWhitelistFor('http'),
    hostGuard: hostGuardRulesFor(url, ['127.0.0.1']),
    watchdog: WATCHDOG,
    fps: 2,
  });
  r.runner.start();
  try {
    await framesReach(r, 3, 20_000);
  } finally {
    await r.runner.stop();
  }
  assert.ok(b.requests.length > 0 && b.requests.every((q) => q.via === '1.1 streamsight-host-guard'), JSON.stringify(b.requests));
});

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test(
  'https: the guard speaks TLS for ffmpeg (opened as http, no tls or httpproxy in its whitelist): segments at home play, relative or absolute; segments on another https port, and a httpproxy:// segment (which would connect anywhere directly), reach nothing',
  { timeout: 120_000, skip: haveOpenssl() ? false : 'openssl is not installed' },
  async () => {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    if (!existsSync(cert)) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1'], {
        stdio: 'ignore',
      });
    }
    const hits = { home: [] as string[], other: [] as string[] };
    const serve = (which: 'home' | 'other'): HttpsServer =>
      createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
        hits[which].push(req.url ?? '');
        const file = join(web, new URL(req.url ?? '/', 'https://x').pathname);
        if (!existsSync(file)) {
          res.writeHead(404).end();
          return;
        }
        const body = readFileSync(file);
        const type = file.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'video/mp2t';
        // As nginx and most web servers do: ffmpeg asks for `Range: bytes=0-` and gets a 206 of the whole file.
        if (req.headers.range === 'bytes=0-') {
          res.writeHead(206, { 'content-type': type, 'content-range': `bytes 0-${body.length - 1}/${body.length}`, 'content-length': body.length }).end(body);
          return;
        }
        res.writeHead(200, { 'content-type': type }).end(body);
      });
    const home = serve('home').listen(0, '127.0.0.1');
    const other = serve('other').listen(0, '127.0.0.1');
    // What a httpproxy:// segment would reach: any TCP service; it counts connections.
    let rawConnections = 0;
    const raw = createTcpServer((s) => {
      rawConnections++;
      s.destroy();
    }).listen(0, '127.0.0.1');
    await Promise.all([once(home, 'listening'), once(other, 'listening'), once(raw, 'listening')]);
    const otherPort = (other.address() as { port: number }).port;
    const homePort = (home.address() as { port: number }).port;
    const rawPort = (raw.address() as { port: number }).port;
    const good = readFileSync(join(web, 'good.m3u8'), 'utf8');
    writeFileSync(join(web, 'tls-absolute.m3u8'), good.replace(/^(good\d+\.ts)$/gm, `https://127.0.0.1:${homePort}/$1`));
    writeFileSync(join(web, 'tls-on-other.m3u8'), good.replace(/^(good\d+\.ts)$/gm, `https://127.0.0.1:${otherPort}/$1`));
    writeFileSync(join(web, 'tls-httpproxy.m3u8'), good.replace(/^(good\d+\.ts)$/gm, `httpproxy://127.0.0.1:${rawPort}/127.0.0.1:${otherPort}/$1`));
    try {
      for (const name of ['good', 'tls-absolute']) {
        hits.home.length = 0;
        const r = runner(`https://127.0.0.1:${homePort}/${name}.m3u8`);
        r.runner.start();
        try {
          await framesReach(r, 3, 20_000);
        } finally {
          await r.runner.stop();
        }
        assert.ok(
          hits.home.some((u) => /good\d\.ts$/.test(u)),
          `${name}: segments over TLS: ${hits.home.join(', ')}`,
        );
      }
      for (const [name, shown] of [
        ['tls-on-other', `127\\.0\\.0\\.1:${otherPort}`],
        ['tls-httpproxy', ''],
      ] as const) {
        const r = runner(`https://127.0.0.1:${homePort}/${name}.m3u8`);
        r.runner.start();
        try {
          await r.waitFor('reconnecting', 20_000);
        } finally {
          await r.runner.stop();
        }
        const detail = r.statuses.find((s) => s.state === 'reconnecting')?.detail ?? '';
        if (shown) assert.match(detail, new RegExp(`^refused: ffmpeg was sent to ${shown}`));
        assert.equal(r.frames(), 0, `${name}: ${detail}`);
      }
      assert.deepEqual(hits.other, []);
      assert.equal(rawConnections, 0, 'the httpproxy:// segment connected nowhere');
    } finally {
      home.closeAllConnections();
      other.closeAllConnections();
      await Promise.all([new Promise((r) => home.close(r)), new Promise((r) => other.close(r)), new Promise((r) => raw.close(r))]);
    }
    assert.deepEqual(ffmpegChildrenOf(process.pid), []);
  },
);

test('HostGuardProxy.close() ends tunnels and never-ending responses in flight, both sides', { timeout: 30_000 }, async () => {
  const { createServer } = await import('node:http');
  const { connect } = await import('node:net');
  const { HostGuardProxy } = await import('../../../src/ingest/host-guard-proxy.ts');
  // An upstream that never ends its body (as an MJPEG camera), and accepts tunnels.
  const upstream = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'multipart/x-mixed-replace; boundary=x' });
    res.write('--x\r\n');
  });
  const port = await listenOnFreePort(upstream);
  const proxy = new HostGuardProxy({ rules: { exact: [{ host: '127.0.0.1', port }], patterns: [] } });
  const proxyPort = Number(new URL(await proxy.start()).port);
  const talk = async (request: string, until: RegExp): Promise<{ closed: Promise<unknown>; text: () => string }> => {
    const s = connect(proxyPort, '127.0.0.1');
    let text = '';
    s.setEncoding('utf8').on('data', (d: string) => (text += d));
    s.on('error', () => undefined);
    const closed = once(s, 'close');
    s.write(request);
    const t0 = Date.now();
    while (!until.test(text)) {
      if (Date.now() - t0 > 10_000) throw new Error(`no answer matching ${until}: ${text}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return { closed, text: () => text };
  };
  const get = await talk(`GET http://127.0.0.1:${port}/cam.mjpg HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`, /--x/);
  const tunnel = await talk(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`, /200 Connection Established/);
  const refused = await talk(`CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n`, /403 Forbidden/);
  assert.match(refused.text(), /host guard: 127\.0\.0\.1:1 is not allowed/);
  assert.equal(proxy.refusedCount, 1);
  assert.ok(proxy.openSockets >= 4, `client and upstream sockets of the GET and the tunnel: ${proxy.openSockets}`);
  await proxy.close();
  await Promise.all([get.closed, tunnel.closed, refused.closed]);
  assert.equal(proxy.openSockets, 0);
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

test(
  'an http(s) source that cannot be reached: the status says why the guard could not reach it, with the URL as configured (credentials hidden)',
  { timeout: 30_000 },
  async () => {
    const closed = await freePort();
    for (const url of [`http://127.0.0.1:${closed}/cam.mjpg`, `https://viewer:s3cret@127.0.0.1:${closed}/live.m3u8`]) {
      const r = runner(url);
      r.runner.start();
      try {
        await r.waitFor('reconnecting', 15_000);
      } finally {
        await r.runner.stop();
      }
      const detail = r.statuses.find((s) => s.state === 'reconnecting')?.detail ?? '';
      const shown = url.replace('viewer:s3cret@', '***@');
      assert.ok(detail.startsWith(`${shown} cannot be reached: connect ECONNREFUSED 127.0.0.1:${closed}`), detail);
      assert.doesNotMatch(detail, /s3cret/);
    }
  },
);
