/**
 * Search by picture over HTTP (POST /api/search): time per request, first
 * and following, with one engine per picture (createImageEmbedder, what the
 * route did before serve kept one) against one engine kept between pictures
 * (ReusableImageEmbedder, what `serve --index` passes now).
 *
 *   node --import tsx bench/search-by-picture.ts [--arch resnet50] [--requests 6]
 *
 * The index is made by the real CLI (`streamsight index`, a 4 s clip at 1
 * fps) with an untrained model of the real topology (224 px); the route runs
 * in this process behind a real HTTP server, as in serve; times are from the
 * client (fetch to the parsed JSON answer). Prints one line per request and a
 * JSON summary.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../src/config/schema.ts';
import { createHttpHandler, type HttpBackend } from '../src/gateway/http-api.ts';
import { createSearchRoute } from '../src/gateway/search-route.ts';
import { ReusableImageEmbedder, createImageEmbedder } from '../src/indexing/image-embedder.ts';
import { IndexStore } from '../src/indexing/index-store.ts';
import type { ImageEmbedder } from '../src/indexing/search-runner.ts';
import { synthResnet, type ResnetArch } from '../src/inference/resnet-synth.ts';
import { createLogger } from '../src/shared/logger.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { arch: { type: 'string', default: 'resnet50' }, requests: { type: 'string', default: '6' } } });
const arch = values.arch as ResnetArch;
const requests = Number(values.requests);

const dir = mkdtempSync(join(tmpdir(), 'ss-bench-picture-'));
try {
  const model = join(dir, `${arch}.onnx`);
  writeFileSync(model, synthResnet({ arch }));
  const clip = join(dir, 'clip.mp4');
  execFileSync('ffmpeg', [
    '-nostdin',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=320x240:rate=25',
    '-t',
    '4',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    clip,
  ]);
  const picture = join(dir, 'query.jpg');
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x480', '-frames:v', '1', picture]);
  const db = join(dir, 'index.db');
  const ix = spawnSync(process.execPath, [join(ROOT, 'bin/streamsight.js'), 'index', '--model', model, '--fps', '1', '--device', 'cpu', '--index', db, clip], {
    encoding: 'utf8',
    env: { ...process.env, STREAMSIGHT_LOG_LEVEL: 'warn' },
  });
  if (ix.status !== 0) throw new Error(`index failed: ${ix.stderr}`);
  const body = readFileSync(picture);

  const store = IndexStore.open(db, { readonly: true });
  // The config's defaults, as `serve --index` has them when nothing is set.
  const pictureLimits = { maxPixels: DEFAULTS.decode.maxPixels, maxBytes: DEFAULTS.search.maxImageBytes };
  const routeLimits = {
    maxPixels: DEFAULTS.decode.maxPixels,
    maxImageBytes: DEFAULTS.search.maxImageBytes,
    maxPendingImages: DEFAULTS.search.maxPendingImages,
  };
  const time = async (label: string, embedImage: ImageEmbedder): Promise<number[]> => {
    const backend = { listStreams: () => [], hasStream: () => false, readiness: () => ({ ready: true, reasons: [] }) } as unknown as HttpBackend;
    const search = createSearchRoute(store, { embedImage, ...routeLimits });
    const server = createServer(createHttpHandler({ backend, authorize: () => true, logger: createLogger({ level: 'silent' }), search }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/search?limit=5`;
    const ms: number[] = [];
    for (let i = 0; i < requests; i++) {
      const t0 = performance.now();
      const res = await fetch(url, { method: 'POST', body });
      const answer = (await res.json()) as { hits?: unknown[] };
      if (res.status !== 200 || !answer.hits?.length) throw new Error(`${label}: HTTP ${res.status} ${JSON.stringify(answer)}`);
      ms.push(performance.now() - t0);
      process.stdout.write(`${label.padEnd(10)} request ${i + 1}: ${ms.at(-1)!.toFixed(0)} ms\n`);
    }
    server.close();
    return ms;
  };
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const perQuery = await time('per-query', createImageEmbedder(pictureLimits));
  const reusable = new ReusableImageEmbedder(pictureLimits);
  const kept = await time('kept', reusable.embed);
  await reusable.close();
  store.close();
  const summary = {
    arch,
    requests,
    enginesStarted: { perQuery: requests, kept: reusable.enginesStarted },
    perQuery: { firstMs: Math.round(perQuery[0]!), nextMedianMs: Math.round(median(perQuery.slice(1))) },
    kept: { firstMs: Math.round(kept[0]!), nextMedianMs: Math.round(median(kept.slice(1))) },
  };
  process.stdout.write(JSON.stringify(summary) + '\n');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
