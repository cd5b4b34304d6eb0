/**
 * What a hostile or greedy POST /api/search (and `search --image`) costs:
 * a playlist or list body naming a local video is no picture and the video
 * is never opened; a picture over decode.maxPixels is refused from its
 * header; a burst of pictures is bounded before their bodies are read; and
 * `?token=` works there as on every route. Real server, real ffmpeg, a real
 * index made by `streamsight index` with a colour model.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authorizeUpgrade } from '../../../src/gateway/auth.ts';
import { createHttpHandler, type HttpBackend } from '../../../src/gateway/http-api.ts';
import { createSearchRoute, type SearchRouteOptions } from '../../../src/gateway/search-route.ts';
import { createImageEmbedder } from '../../../src/indexing/image-embedder.ts';
import { IndexStore } from '../../../src/indexing/index-store.ts';
import type { ImageEmbedder } from '../../../src/indexing/search-runner.ts';
import { SearchResponseSchema } from '../../../src/indexing/search-types.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { blackPng } from '../../helpers/black-png.ts';
import { CLI, ROOT, runCli } from '../../helpers/cli.ts';
import { canWatchOpens, watchOpens } from '../../helpers/open-watch.ts';
import { indexColourClips } from '../../helpers/colour-model.ts';
import { PICTURE_LIMITS, routeLimits } from '../../helpers/picture-limits.ts';
import { listenOnFreePort } from '../../helpers/ports.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-picture-limits-'));
const videos = join(dir, 'videos');
const model = join(dir, 'colour.onnx');
const labels = join(dir, 'colours.txt');
const db = join(dir, 'index.db');
/** A blue video outside the index: what a hostile playlist names. */
const secret = join(dir, 'secret', 'blue.ts');
const backend = { listStreams: () => [], hasStream: () => false, readiness: () => ({ ready: true, reasons: [] }) } as unknown as HttpBackend;
let store: IndexStore;

const hls = `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n${secret}\n#EXT-X-ENDLIST\n`;
const ffconcat = `ffconcat version 1.0\nfile '${secret}'\n`;

function picture(name: string, source: string, extra: string[] = []): Buffer {
  const file = join(dir, name);
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', source, ...extra, '-frames:v', '1', file]);
  return readFileSync(file);
}

/** A server over the index; `embeds` counts the pictures that reached the embedder (a model run). */
async function serve(options: Partial<SearchRouteOptions> = {}, token?: string): Promise<{ base: string; embeds: () => number; close: () => void }> {
  const inner = createImageEmbedder(PICTURE_LIMITS);
  let count = 0;
  const embedImage: ImageEmbedder = (p, m) => {
    count++;
    return inner(p, m);
  };
  const authorize = (req: IncomingMessage): boolean => authorizeUpgrade(req.headers, req.url, { token }).ok;
  const server: Server = createServer(
    createHttpHandler({
      backend,
      authorize,
      logger: createLogger({ level: 'silent' }),
      search: createSearchRoute(store, routeLimits({ embedImage, ...options })),
    }),
  );
  return { base: `http://127.0.0.1:${await listenOnFreePort(server)}`, embeds: () => count, close: () => server.close() };
}

const post = (base: string, body: Uint8Array, query = '?limit=3'): Promise<Response> =>
  fetch(`${base}/api/search${query}`, { method: 'POST', body: new Blob([Uint8Array.from(body)]) });

async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const { error } = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, ...error };
}

before(async () => {
  mkdirSync(join(dir, 'secret'));
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'color=blue:s=64x48:r=5:d=1', '-c:v', 'mpeg2video', secret]);
  await indexColourClips({ model, labels, videos, db }, { 'red.mp4': [['red', 2]], 'blue.mp4': [['blue', 2]] });
  store = IndexStore.open(db, { readonly: true });
});

after(() => {
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a posted picture is not a playlist', () => {
  for (const [name, body, format] of [
    ['HLS playlist', hls, 'hls'],
    ['ffconcat list', ffconcat, 'concat'],
  ] as const) {
    test(`an ${name} naming a local video: 400 bad_picture (format ${format}), one line; the video is never opened and nothing is embedded`, async () => {
      const { base, embeds, close } = await serve();
      try {
        const send = async (): Promise<Response> => post(base, Buffer.from(body));
        const { result: res, opened } = canWatchOpens ? await watchOpens(send) : { result: await send(), opened: [] };
        assert.deepEqual(await errorOf(res), {
          status: 400,
          code: 'bad_picture',
          message: `the request body: not a picture (format ${format}): send a JPEG, PNG, WebP, BMP, TIFF or GIF`,
        });
        assert.deepEqual(
          opened.filter((p) => p.includes('secret')),
          [],
          'strace: the video named in the body was not opened',
        );
        assert.equal(embeds(), 0);
        // And a real picture still searches.
        assert.equal((await post(base, picture('red.png', 'color=red:s=200x150'))).status, 200);
      } finally {
        close();
      }
    });
  }

  test('search --image PLAYLIST: one error line (exit 3), the video it names never opened', async () => {
    const playlist = join(dir, 'query.m3u8');
    writeFileSync(playlist, hls);
    const args = ['search', '--index', db, '--image', playlist];
    if (!canWatchOpens) {
      const r = await runCli(args);
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stderr.trim(), `error[E_NOT_A_VIDEO]: ${playlist}: not a picture (format hls): send a JPEG, PNG, WebP, BMP, TIFF or GIF`);
      return;
    }
    const log = join(dir, 'cli.strace');
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        'strace',
        ['-f', '-qq', '-e', 'trace=open,openat,openat2', '-o', log, process.execPath, CLI, ...args],
        { cwd: ROOT },
        (err, _out, stderrText) => resolve({ code: err ? (child.exitCode ?? 1) : 0, stderr: stderrText }),
      );
    });
    assert.equal(code, 3, stderr);
    assert.equal(stderr.trim(), `error[E_NOT_A_VIDEO]: ${playlist}: not a picture (format hls): send a JPEG, PNG, WebP, BMP, TIFF or GIF`);
    const trace = readFileSync(log, 'utf8');
    assert.match(trace, /query\.m3u8/, "the trace holds the playlist's own open");
    assert.doesNotMatch(trace, /secret/, 'strace: the video it names was not opened');
  });
});

describe('pixel limit (decode.maxPixels), checked from the header before decoding', () => {
  test('a 16000x16000 PNG of a few KiB: 413 too_many_pixels at the default 50 Mpx; with maxPixels 1e6 a 2000x2000 one is refused too; nothing embedded', async () => {
    const big = blackPng(16000, 16000);
    const fourMpx = blackPng(2000, 2000);
    const { base, embeds, close } = await serve();
    const low = await serve({ maxPixels: 1_000_000 });
    try {
      const res = await post(base, big);
      assert.deepEqual(await errorOf(res), {
        status: 413,
        code: 'too_many_pixels',
        message: 'the request body is a png of 16000x16000 (256000000 pixels), above the limit of 50000000 pixels (decode.maxPixels): not decoded',
      });
      assert.equal((await errorOf(await post(low.base, fourMpx))).code, 'too_many_pixels');
      assert.equal(embeds() + low.embeds(), 0, 'refused before the picture reached the model or ffmpeg');
      // Under the limit it is searched; the connection of a 413 after a body read whole stays usable.
      assert.equal((await post(base, fourMpx)).status, 200);
      assert.equal((await post(low.base, picture('blue.png', 'color=blue:s=200x150'))).status, 200);
    } finally {
      close();
      low.close();
    }
  });

  test('search --image of a 16000x16000 PNG: one error line E_TOO_MANY_PIXELS, exit 3', async () => {
    const file = join(dir, 'big.png');
    writeFileSync(file, blackPng(16000, 16000));
    const r = await runCli(['search', '--index', db, '--image', file]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(
      r.stderr.trim(),
      `error[E_TOO_MANY_PIXELS]: ${file} is a png of 16000x16000 (256000000 pixels), above the limit of 50000000 pixels (decode.maxPixels): not decoded`,
    );
  });
});

describe('the picture queue is bounded before bodies are read (search.maxPendingImages)', () => {
  test('8 large pictures streamed at once with maxPendingImages 2: 6 get 503 busy before their bodies are sent, the 2 accepted finish with 200, a later one is served', async () => {
    // About 1 MB: noise does not compress.
    const body = picture('noisy.png', 'color=red:s=640x640', ['-vf', 'noise=alls=40:allf=u', '-pix_fmt', 'rgb24']);
    assert.ok(body.length > 512 * 1024, `${body.length} bytes`);
    const head = body.subarray(0, 64 * 1024);
    const { base, close } = await serve({ maxPendingImages: 2 });
    const url = new URL(`${base}/api/search?limit=2`);
    try {
      const sent = Array.from({ length: 8 }, () => {
        const req = request({
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          method: 'POST',
          agent: false,
          headers: { 'content-length': body.length },
        });
        req.on('error', () => undefined); // a 503'd request's socket closes under it
        const answered = new Promise<{ status: number; connection: string | undefined; text: string }>((resolve) => {
          req.on('response', (res) => {
            let text = '';
            res
              .setEncoding('utf8')
              .on('data', (d: string) => (text += d))
              .on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, text }));
          });
        });
        req.write(head);
        let status: number | undefined;
        void answered.then((a) => (status = a.status));
        return { req, answered, status: () => status };
      });
      // Only the first 64 KiB of each body is sent: every answer that comes now came without reading the body.
      const deadline = Date.now() + 10_000;
      while (sent.filter((s) => s.status() !== undefined).length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200)); // room for a wrongly accepted seventh to show
      const early = sent.filter((s) => s.status() !== undefined);
      assert.equal(early.length, 6, `answered before their bodies were sent: ${early.length}`);
      for (const s of early) {
        const a = await s.answered;
        assert.equal(a.status, 503);
        assert.equal((JSON.parse(a.text) as { error: { code: string } }).error.code, 'busy');
        assert.equal(a.connection, 'close', 'the unread body is not read after the answer');
        s.req.destroy();
      }
      const accepted = sent.filter((s) => s.status() === undefined);
      for (const s of accepted) s.req.end(body.subarray(head.length));
      for (const s of accepted) {
        const a = await s.answered;
        assert.equal(a.status, 200, a.text);
        assert.equal(SearchResponseSchema.parse(JSON.parse(a.text)).hits[0]?.kind, 'frame');
      }
      assert.equal((await post(base, body)).status, 200, 'the slots are given back');
    } finally {
      close();
    }
  });
});

describe('?token= on /api/search', () => {
  test('POST /api/search?token=RIGHT searches; a wrong or missing token is 401; GET takes ?token= too', async () => {
    const { base, close } = await serve({}, 'letmein');
    try {
      const red = picture('red.png', 'color=red:s=200x150');
      const ok = await post(base, red, '?token=letmein&limit=2');
      assert.equal(ok.status, 200, await ok.clone().text());
      const hits = SearchResponseSchema.parse(await ok.json()).hits;
      assert.ok(hits.length === 2 && hits.every((h) => h.kind === 'frame' && h.video.endsWith('red.mp4')), JSON.stringify(hits));
      assert.equal((await errorOf(await post(base, red, '?token=wrong&limit=2'))).code, 'unauthorized');
      assert.equal((await post(base, red, '?limit=2')).status, 401);
      const get = await fetch(`${base}/api/search?label=red&token=letmein`);
      assert.equal(get.status, 200, await get.clone().text());
      assert.equal((await fetch(`${base}/api/search?label=red&tokn=letmein`)).status, 400, 'other unknown keys are still refused');
    } finally {
      close();
    }
  });
});
