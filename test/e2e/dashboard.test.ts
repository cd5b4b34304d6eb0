import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import WebSocket from 'ws';
import type { ServerMessage } from '../../src/contracts/ws-messages.ts';
import { serveDashboardAsset } from '../../src/gateway/dashboard-assets.ts';
import { launchBrowser, type HeadlessBrowser } from '../helpers/browser.ts';
import { CLI, ROOT, runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { freePort, listenOnFreePort } from '../helpers/ports.ts';

const TOKEN = 'dashboard-test-token';
const SCREENSHOT = join(ROOT, 'test-output', 'dashboard.png');

const dir = mkdtempSync(join(tmpdir(), 'ss-dashboard-'));
const model = join(dir, 'r18.onnx');
const clip = join(dir, 'colours.mp4');
const config = join(dir, 'serve.yaml');

// ---- the real `streamsight serve`, as a child process ----------------------

interface Serve {
  child: ChildProcess;
  stderr: () => string;
}

async function startServe(port: number): Promise<Serve> {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'serve',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--config',
      config,
      '--model',
      model,
      '--token',
      TOKEN,
      '--source',
      `cam1=${clip}`,
      '--live',
      '--loop',
      '--batch',
      '1',
      '--threads',
      '1',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}:\n${stderr}`);
    if ((await httpGet(port, '/readyz').catch(() => undefined))?.status === 200) return { child, stderr: () => stderr };
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`serve not ready after 60 s:\n${stderr}`);
    }
    await sleep(200);
  }
}

async function stopServe(s: Serve | undefined): Promise<void> {
  if (s === undefined || s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = once(s.child, 'exit');
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function httpGet(port: number, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Our own client reads the same broadcast as the page; give its socket a moment to catch up. */
async function eventually(check: () => boolean, message: () => string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(message());
    await sleep(50);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A protocol client of our own beside the page: what the server really sent. */
function watchFeed(port: number): { frames: Set<string>; events: Set<string>; close: () => void } {
  const seen = { frames: new Set<string>(), events: new Set<string>() };
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', streams: '*', topK: 5, replay: 20 })));
  ws.on('message', (data: Buffer) => {
    const msg = JSON.parse(data.toString('utf8')) as ServerMessage;
    if (msg.type === 'frame') for (const l of msg.labels) seen.frames.add(l.label);
    if (msg.type === 'event') seen.events.add(`${msg.kind}|${msg.label}`);
  });
  ws.on('error', () => ws.terminate());
  return { ...seen, close: () => ws.terminate() };
}

// ---- page helpers ----------------------------------------------------------

const card = '[data-testid="stream-card"][data-stream="cam1"]';

async function count(page: Page, selector: string): Promise<number> {
  return Number((await page.locator(selector).textContent())?.replace(/[^0-9]/g, '') ?? 'NaN');
}

async function waitForCount(page: Page, selector: string, above: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await count(page, selector);
    if (n > above) return n;
    if (Date.now() > deadline) assert.fail(`${selector} stayed at ${n}, expected more than ${above}`);
    await sleep(200);
  }
}

// ---- the page in a real headless Chromium against the real server ----------

describe('dashboard in headless Chromium against `streamsight serve`', () => {
  let port = 0;
  let serve: Serve | undefined;
  let browser: HeadlessBrowser | undefined;
  let page: Page;
  let feed: ReturnType<typeof watchFeed> | undefined;
  const pageErrors: string[] = [];

  before(async () => {
    // Colours whose top labels differ under the seeded untrained model, so the
    // detector sees labels come and go as the clip loops (8 s per loop).
    makeClip(clip, {
      seconds: 8,
      source:
        'color=c=red:s=320x240:r=25:d=2[a];color=c=blue:s=320x240:r=25:d=2[b];' +
        'color=c=white:s=320x240:r=25:d=2[c];testsrc2=s=320x240:r=25:d=2[d];[a][b][c][d]concat=n=4',
    });
    // 112x112 input: the real resnet18 graph, cheap enough for 5 fps on two cores.
    const synth = await runCli(['models', 'synth', 'resnet18', '--input-size', '112', '--out', model]);
    assert.equal(synth.code, 0, synth.stderr);
    // An untrained model spreads its scores thin (top-1 around 0.03-0.1): thresholds to match.
    writeFileSync(config, ['events: { enterScore: 0.04, exitScore: 0.03, enterFrames: 2, exitFrames: 2 }', 'log: { level: warn }', ''].join('\n'));
    port = await freePort();
    serve = await startServe(port);
    feed = watchFeed(port);
    browser = await launchBrowser({ viewport: { width: 1280, height: 900 } });
    page = await browser.context.newPage();
    await page.emulateMedia({ colorScheme: 'dark' });
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    await page.goto(`http://127.0.0.1:${port}/?token=${TOKEN}`);
  });

  after(async () => {
    feed?.close();
    await browser?.close();
    await stopServe(serve);
    rmSync(dir, { recursive: true, force: true });
  });

  test('connects with the token from the page URL and shows a card for the stream', async () => {
    await page.locator('[data-testid="conn-state"][data-state="connected"]').waitFor({ timeout: 15_000 });
    await page.locator(card).waitFor({ timeout: 10_000 });
    await page.locator(`${card} [data-testid="stream-state"][data-state="live"]`).waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('[data-testid="conn-banner"]').isVisible(), false);
  });

  test('without the token, says the server refused the connection and that it may need a token', async () => {
    const bare = await browser!.context.newPage();
    try {
      await bare.goto(`http://127.0.0.1:${port}/`);
      const banner = bare.locator('[data-testid="conn-banner"]');
      await banner.waitFor({ state: 'visible', timeout: 10_000 });
      await bare.waitForFunction(() => /token/.test(document.querySelector('[data-testid="conn-banner"]')?.textContent ?? ''), undefined, { timeout: 10_000 });
      assert.equal(await bare.getAttribute('[data-testid="conn-state"]', 'data-state'), 'disconnected');
      assert.equal(await bare.locator('[data-testid="label-bar"]:visible').count(), 0);
    } finally {
      await bare.close();
    }
  });

  test('shows the live top-5 labels of the real stream as bars with falling scores', async () => {
    await page.locator(`${card} [data-testid="label-bar"]:visible`).nth(4).waitFor({ timeout: 20_000 });
    const bars = await page
      .locator(`${card} [data-testid="label-bar"]:visible`)
      .evaluateAll((els) => els.map((e) => ({ label: e.getAttribute('data-label') ?? '', score: Number(e.getAttribute('data-score')) })));
    assert.equal(bars.length, 5);
    for (const b of bars) {
      assert.ok(b.score > 0 && b.score <= 1, `score of ${b.label}: ${b.score}`);
      await eventually(
        () => feed!.frames.has(b.label),
        () => `"${b.label}" was never in a frame the server sent`,
      );
    }
    for (let i = 1; i < bars.length; i += 1) assert.ok(bars[i - 1]!.score >= bars[i]!.score, JSON.stringify(bars));
    const imagenet = new Set(readFileSync(join(ROOT, 'models', 'imagenet-classes.txt'), 'utf8').split('\n'));
    assert.ok(imagenet.has(bars[0]!.label), `top label "${bars[0]!.label}" is an ImageNet class`);

    await waitForCount(page, `${card} [data-testid="stat-frames"]`, 5, 10_000);
    await page.waitForFunction((sel) => Number(document.querySelector(sel)?.textContent) > 1, `${card} [data-testid="stat-fps"]`, { timeout: 10_000 });
    assert.match((await page.locator(`${card} [data-testid="stat-latency"]`).textContent()) ?? '', /^\d+(\.\d)? (ms|s)$/);
  });

  test('puts label events from the detector on the timeline and in the event list', async () => {
    await page.click('[data-testid="window-1m"]');
    await page.locator(`${card} [data-testid="event-item"]`).first().waitFor({ timeout: 30_000 });
    await page.locator(`${card} [data-testid="timeline-segment"]`).first().waitFor({ timeout: 5_000 });
    const items = await page
      .locator(`${card} [data-testid="event-item"]`)
      .evaluateAll((els) => els.map((e) => `${e.getAttribute('data-kind')}|${e.getAttribute('data-label')}`));
    for (const item of items) {
      await eventually(
        () => feed!.events.has(item),
        () => `${item} not among the server's events ${[...feed!.events].join(', ')}`,
      );
    }
    const rowLabels = await page.locator(`${card} [data-testid="timeline-row"]`).evaluateAll((els) => els.map((e) => e.getAttribute('data-label')));
    assert.ok(rowLabels.length > 0);
    for (const l of rowLabels) assert.ok(items.some((i) => i.endsWith(`|${l}`)) || [...feed!.events].some((e) => e.endsWith(`|${l}`)), `row ${l}`);
  });

  test('loads the snapshot thumbnail of the stream', async () => {
    const img = page.locator(`${card} img[data-testid="thumbnail"]`);
    await img.waitFor({ state: 'visible', timeout: 15_000 });
    await page.waitForFunction(
      (sel) => {
        const el = document.querySelector<HTMLImageElement>(sel);
        return el !== null && el.complete && el.naturalWidth > 0;
      },
      `${card} img[data-testid="thumbnail"]`,
      { timeout: 10_000 },
    );
    // Wait for two detector cycles' worth of timeline before the picture is taken.
    await sleep(6_000);
    mkdirSync(join(ROOT, 'test-output'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  test('shows a reconnecting banner while the gateway is down, then resubscribes by itself when it is back', async () => {
    feed!.close();
    await stopServe(serve);
    await page.locator('[data-testid="conn-banner"]').waitFor({ state: 'visible', timeout: 10_000 });
    assert.match((await page.locator('[data-testid="conn-banner"]').textContent()) ?? '', /reconnecting/i);
    assert.equal(await page.getAttribute('[data-testid="conn-state"]', 'data-state'), 'disconnected');
    await page.screenshot({ path: join(ROOT, 'test-output', 'dashboard-disconnected.png') });
    const framesBefore = await count(page, `${card} [data-testid="stat-frames"]`);

    serve = await startServe(port);
    feed = watchFeed(port);
    // Backoff tops out at 10 s; the server takes a few seconds to load the model.
    await page.locator('[data-testid="conn-state"][data-state="connected"]').waitFor({ timeout: 25_000 });
    await page.locator('[data-testid="conn-banner"]').waitFor({ state: 'hidden', timeout: 2_000 });
    await waitForCount(page, `${card} [data-testid="stat-frames"]`, framesBefore + 5, 20_000);
    const top = await page.locator(`${card} [data-testid="label-bar"]:visible`).first().getAttribute('data-label');
    assert.ok(top !== null);
    await eventually(
      () => feed!.frames.has(top),
      () => `top label ${top} not among the restarted server's frames`,
    );
    assert.deepEqual(pageErrors, []);
  });
});

// ---- the asset handler on a bare HTTP server -------------------------------

describe('serveDashboardAsset', () => {
  let server: Server;
  let port = 0;

  before(async () => {
    server = createServer((req, res) => {
      if (!serveDashboardAsset(req, res)) {
        res.writeHead(418);
        res.end('not mine');
      }
    });
    port = await listenOnFreePort(server);
  });
  after(() => server.close());

  test('serves the page at / and its files under /dashboard/ with their content types', async () => {
    const page = await httpGet(port, '/?token=x');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(page.body.toString('utf8'), /<script type="module" src="dashboard\/app\.js">/);
    assert.match(String(page.headers['content-security-policy']), /connect-src 'self'/);
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
    const types: Record<string, string> = {
      'app.js': 'text/javascript; charset=utf-8',
      'style.css': 'text/css; charset=utf-8',
      'favicon.svg': 'image/svg+xml',
    };
    for (const [file, type] of Object.entries(types)) {
      const r = await httpGet(port, `/dashboard/${file}`);
      assert.equal(r.status, 200, file);
      assert.equal(r.headers['content-type'], type, file);
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.equal(Number(r.headers['content-length']), r.body.length);
    }
  });

  test('answers a matching If-None-Match with 304 and HEAD without a body', async () => {
    const first = await httpGet(port, '/dashboard/app.js');
    assert.equal(first.headers['cache-control'], 'no-cache');
    const etag = String(first.headers.etag);
    assert.match(etag, /^"[A-Za-z0-9_-]+"$/);
    const again = await httpGet(port, '/dashboard/app.js', { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    const head = await httpGet(port, '/', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  test('reaches no file outside its folder and leaves other paths to the caller', async () => {
    for (const path of [
      '/dashboard/../dashboard-assets.ts',
      '/dashboard/..%2fdashboard-assets.ts',
      '/dashboard/%2e%2e/%2e%2e/package.json',
      '/dashboard/',
      '/dashboard/index.html',
      '/dashboard/nope.js',
      '/dashboard//etc/passwd',
    ]) {
      const r = await httpGet(port, path);
      assert.equal(r.status, 404, path);
    }
    assert.equal((await httpGet(port, '/dashboard/app.js', { method: 'POST' })).status, 405);
    for (const path of ['/api/streams', '/ws', '/index.html', '/dashboardx/app.js', '/healthz']) {
      assert.equal((await httpGet(port, path)).status, 418, path);
    }
  });
});
