import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchBrowser, type HeadlessBrowser } from '../helpers/browser.ts';
import { CLI, ROOT } from '../helpers/cli.ts';
import { indexColourClips } from '../helpers/colour-model.ts';
import { freePort } from '../helpers/ports.ts';

const TOKEN = 'search-test-token';
const dir = mkdtempSync(join(tmpdir(), 'ss-dashboard-search-'));
const videos = join(dir, 'videos');
const model = join(dir, 'colour.onnx');
const labels = join(dir, 'colours.txt');
const db = join(dir, 'index.db');
const config = join(dir, 'serve.yaml');

function picture(colour: string): string {
  const file = join(dir, `${colour}.png`);
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `color=c=${colour}:s=200x150`, '-frames:v', '1', file]);
  return file;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function engineStarts(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = /^streamsight_search_image_engine_starts_total (\d+)$/m.exec(text);
  assert.ok(m, 'the engine-start counter is exported');
  return Number(m[1]);
}

interface ShownHit {
  video: string;
  ms: number;
  time: string;
  score: string;
  thumbLoaded: boolean;
}

/** Waits for the answer to the search just started, then reads the hits the page shows. */
async function shownHits(page: Page, statusPattern: RegExp): Promise<ShownHit[]> {
  await page.waitForFunction((p) => new RegExp(p).test(document.querySelector('[data-testid="search-status"]')?.textContent ?? ''), statusPattern.source, {
    timeout: 20_000,
  });
  // Thumbnails load lazily: give them a moment to arrive.
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('[data-testid="search-hit"] img')].every((i) => i.complete), undefined, {
    timeout: 10_000,
  });
  return page.locator('[data-testid="search-hit"]').evaluateAll((els) =>
    els.map((e) => ({
      video: e.getAttribute('data-video') ?? '',
      ms: Number(e.getAttribute('data-ms')),
      time: e.querySelector('[data-testid="hit-time"]')?.textContent ?? '',
      score: e.querySelector('.hit-score')?.textContent ?? '',
      thumbLoaded:
        (e.querySelector('img') as HTMLImageElement | null)?.naturalWidth !== undefined && (e.querySelector('img') as HTMLImageElement).naturalWidth > 0,
    })),
  );
}

describe('dashboard search page: search by picture in headless Chromium against `streamsight serve --index`', () => {
  let serve: ChildProcess | undefined;
  let stderr = '';
  let base = '';
  let browser: HeadlessBrowser | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const postAuth: (string | undefined)[] = [];

  before(async () => {
    await indexColourClips(
      { model, labels, videos, db },
      {
        'red-blue.mp4': [
          ['red', 3],
          ['blue', 3],
        ],
        'green.mp4': [['green', 4]],
      },
    );
    writeFileSync(config, 'log: { level: warn }\n');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    serve = spawn(
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
        '--labels',
        labels,
        '--device',
        'cpu',
        '--threads',
        '1',
        '--token',
        TOKEN,
        '--index',
        db,
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    serve.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const deadline = Date.now() + 60_000;
    while ((await fetch(`${base}/readyz`).catch(() => undefined))?.status !== 200) {
      if (serve.exitCode !== null) throw new Error(`serve exited with ${serve.exitCode}:\n${stderr}`);
      if (Date.now() > deadline) throw new Error(`serve not ready after 60 s:\n${stderr}`);
      await sleep(200);
    }
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('request', (req) => {
      if (req.method() === 'POST' && new URL(req.url()).pathname === '/api/search') postAuth.push(req.headers().authorization);
    });
    await page.goto(`${base}/dashboard/search.html?token=${TOKEN}`);
  });

  after(async () => {
    await browser?.close();
    if (serve && serve.exitCode === null && serve.signalCode === null) serve.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('a picture chosen in the file input finds its frames first: video, time, similarity and thumbnail shown; the token goes with it', async () => {
    assert.equal(await engineStarts(base), 0, 'serve starts no engine for search by picture before a picture comes');
    await page.locator('[data-testid="search-picture"]').setInputFiles(picture('blue'));
    const hits = await shownHits(page, /^20 hit\(s\) for picture blue\.png in /);
    // Blue is 3-6 s of red-blue.mp4: its 6 frames (2 fps) come first, nearly identical to the picture.
    const first = hits[0]!;
    assert.ok(first.video.endsWith('/red-blue.mp4'), first.video);
    assert.ok(first.ms >= 3000 && first.ms < 6000, `first hit at ${first.ms} ms`);
    assert.match(first.time, /^0:0[3-5]\.\d$/);
    assert.ok(Number(/^similarity (\d\.\d{3})$/.exec(first.score)?.[1]) > 0.99, first.score);
    for (const h of hits.slice(0, 6)) assert.ok(h.video.endsWith('/red-blue.mp4') && h.ms >= 3000, JSON.stringify(h));
    assert.ok(
      hits.every((h) => h.thumbLoaded),
      'every thumbnail loaded',
    );
    assert.equal(await page.locator('[data-testid="picture-preview"]').isVisible(), true);
    assert.deepEqual(postAuth, [`Bearer ${TOKEN}`]);
    mkdirSync(join(ROOT, 'test-output'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-output', 'dashboard-search.png'), fullPage: true });
  });

  test("a picture dropped on the page searches with the form's video, limit and min score; the second picture reuses the engine", async () => {
    await page.fill('[data-testid="search-video"]', 'green.mp4');
    await page.fill('[data-testid="search-limit"]', '3');
    await page.fill('[data-testid="search-min-score"]', '0.5');
    const bytes = readFileSync(picture('green')).toString('base64');
    await page.evaluate((b64) => {
      const file = new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'dropped-green.png', { type: 'image/png' });
      const data = new DataTransfer();
      data.items.add(file);
      const target = document.querySelector('[data-testid="search-hits"]')!;
      for (const type of ['dragenter', 'dragover', 'drop']) target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
    }, bytes);
    const hits = await shownHits(page, /^3 hit\(s\) for picture dropped-green\.png in /);
    assert.ok(
      hits.every((h) => h.video.endsWith('/green.mp4')),
      JSON.stringify(hits),
    );
    assert.ok(Number(/(\d\.\d{3})$/.exec(hits[0]!.score)?.[1]) > 0.99);
    assert.equal(await engineStarts(base), 1, 'two pictures, one engine');
  });

  test('says in words what went wrong: not a picture (the real server), too large, busy, no index, a refused token', async () => {
    await page.fill('[data-testid="search-video"]', '');
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'not a picture\n');
    await page.locator('[data-testid="search-picture"]').setInputFiles(text);
    const status = page.locator('[data-testid="search-status"]');
    await page.locator('[data-testid="search-status"][data-error="bad_picture"]').waitFor({ timeout: 20_000 });
    assert.match((await status.textContent()) ?? '', /^error: not a picture the server can read: /);
    assert.equal(await page.locator('[data-testid="search-hit"]').count(), 0);

    // The server's other answers, as it sends them, without making the server send them.
    const answers: [number, string, string, RegExp][] = [
      [413, 'too_large', 'picture over 16777216 bytes', /too large for the server \(picture over 16777216 bytes\)/],
      [503, 'busy', '4 picture searches already waiting; retry later', /busy with other picture searches: try again/],
      [
        404,
        'no_index',
        'this server has no index open (start it with --index FILE)',
        /this server has no index: start it with `streamsight serve --index FILE`/,
      ],
      [401, 'unauthorized', 'missing or wrong token', /the server refused the token/],
    ];
    for (const [httpStatus, code, message, shown] of answers) {
      await page.route(
        (url) => url.pathname === '/api/search',
        (route) => route.fulfill({ status: httpStatus, contentType: 'application/json', body: JSON.stringify({ error: { code, message } }) }),
      );
      await page.locator('[data-testid="search-picture"]').setInputFiles(picture('red'));
      await page.locator(`[data-testid="search-status"][data-error="${code}"]`).waitFor({ timeout: 10_000 });
      assert.match((await status.textContent()) ?? '', shown);
      await page.unrouteAll();
    }
    assert.deepEqual(pageErrors, []);
  });

  test('serve closes the engine at SIGTERM and exits 0', async () => {
    const exited = once(serve!, 'exit');
    serve!.kill('SIGTERM');
    const [code, signal] = (await Promise.race([exited, sleep(15_000).then(() => ['timeout', null])])) as [number | string | null, string | null];
    assert.equal(code, 0, `serve did not exit by itself (code ${String(code)}, signal ${String(signal)}):\n${stderr}`);
  });
});
