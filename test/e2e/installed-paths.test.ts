/**
 * The CLI as installed (a copy of this package's files under
 * `lib/node_modules/streamsight/`, with no `.git`) against the checkout:
 * where models are cached, which user config is read, which version is
 * reported, and `models pull` behind a proxy. The copy runs its own sources
 * through tsx (it has no dist/); HOME and the XDG folders point into the
 * test's temporary folder.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runCli, type CliResult } from '../helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 'ss-installed-'));
const installed = join(work, 'lib', 'node_modules', 'streamsight');
const xdgEnv = {
  HOME: join(work, 'home'),
  XDG_CACHE_HOME: join(work, 'xdg-cache'),
  XDG_CONFIG_HOME: join(work, 'xdg-config'),
  STREAMSIGHT_MODELS_DIR: '',
};
const COPY_VERSION = '7.8.9-installed.1';

/** The installed copy's bin, with a clean environment but for PATH (ffmpeg) and what `env` adds. */
function runInstalled(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(installed, 'bin', 'streamsight.js'), ...args], {
      cwd: work,
      env: { PATH: process.env.PATH, ...xdgEnv, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const paths = (r: CliResult): string[] =>
  r.stdout
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { path: string }).path);

before(() => {
  mkdirSync(join(installed, 'config'), { recursive: true });
  mkdirSync(join(installed, 'models'));
  for (const dir of ['bin', 'src']) cpSync(join(ROOT, dir), join(installed, dir), { recursive: true });
  cpSync(join(ROOT, 'config', 'default.yaml'), join(installed, 'config', 'default.yaml'));
  for (const file of ['manifest.json', 'imagenet-classes.txt']) cpSync(join(ROOT, 'models', file), join(installed, 'models', file));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(installed, 'package.json'), JSON.stringify({ ...pkg, version: COPY_VERSION }));
  symlinkSync(join(ROOT, 'node_modules'), join(installed, 'node_modules'), 'dir');
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('paths and version of an installed package', () => {
  test('--version is the version in package.json, read at run time (checkout and installed copy)', async () => {
    const own = await runCli(['--version']);
    assert.equal(own.code, 0, own.stderr);
    assert.equal(own.stdout.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    const copy = await runInstalled(['--version']);
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal(copy.stdout.trim(), COPY_VERSION);
  });

  test('installed: registry models are looked up in $XDG_CACHE_HOME/streamsight/models, or ~/.cache/streamsight/models', async () => {
    const xdg = await runInstalled(['models', 'list', '--json']);
    assert.equal(xdg.code, 0, xdg.stderr);
    assert.ok(paths(xdg).length > 0);
    for (const p of paths(xdg)) assert.equal(join(p, '..'), join(work, 'xdg-cache', 'streamsight', 'models'));
    const home = await runInstalled(['models', 'list', '--json'], { XDG_CACHE_HOME: '' });
    for (const p of paths(home)) assert.equal(join(p, '..'), join(work, 'home', '.cache', 'streamsight', 'models'));
    const env = await runInstalled(['models', 'list', '--json'], { STREAMSIGHT_MODELS_DIR: join(work, 'mine') });
    for (const p of paths(env)) assert.equal(join(p, '..'), join(work, 'mine'), 'STREAMSIGHT_MODELS_DIR wins');
  });

  test('installed: the user config in $XDG_CONFIG_HOME/streamsight/config.yaml is read', async () => {
    mkdirSync(join(work, 'xdg-config', 'streamsight'), { recursive: true });
    writeFileSync(join(work, 'xdg-config', 'streamsight', 'config.yaml'), `models:\n  cacheDir: ${join(work, 'from-user-config')}\n`);
    try {
      const r = await runInstalled(['models', 'list', '--json']);
      assert.equal(r.code, 0, r.stderr);
      for (const p of paths(r)) assert.equal(join(p, '..'), join(work, 'from-user-config'));
    } finally {
      rmSync(join(work, 'xdg-config'), { recursive: true, force: true });
    }
  });

  test('a checkout keeps its models/ folder whatever XDG_CACHE_HOME says', async () => {
    const r = await runCli(['models', 'list', '--json'], { env: { ...xdgEnv } });
    assert.equal(r.code, 0, r.stderr);
    for (const p of paths(r)) assert.equal(join(p, '..'), join(ROOT, 'models'));
  });
});

describe('models pull behind a proxy', () => {
  test('HTTPS_PROXY is asked to CONNECT to the model host; its refusal is one line naming the proxy', async () => {
    const seen: string[] = [];
    const proxy = createServer((_req, res) => res.writeHead(407).end());
    proxy.on('connect', (req: IncomingMessage, socket: Socket) => {
      seen.push(`CONNECT ${req.url} ${req.headers['proxy-authorization'] ?? '-'}`);
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const port = (proxy.address() as AddressInfo).port;
    try {
      const r = await runInstalled(['models', 'pull', 'resnet18', '--progress', 'none'], {
        https_proxy: `http://bob:pw@127.0.0.1:${port}`,
        NO_PROXY: 'localhost',
      });
      assert.equal(r.code !== 0, true);
      assert.match(r.stderr, new RegExp(`error\\[E_DOWNLOAD\\]: download from github\\.com via proxy 127\\.0\\.0\\.1:${port} failed: .*HTTP 403`));
      assert.doesNotMatch(r.stderr, /bob:pw/);
      assert.deepEqual(seen, [`CONNECT github.com:443 Basic ${Buffer.from('bob:pw').toString('base64')}`]);
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });

  test('a proxy of a scheme it cannot speak is a config error (exit 2), before any download', async () => {
    const r = await runInstalled(['models', 'pull', 'resnet18', '--progress', 'none'], { HTTPS_PROXY: 'socks5://127.0.0.1:1080' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /error\[E_CONFIG\]: environment variable HTTPS_PROXY: socks5 proxies are not supported/);
  });
});
