/**
 * Index and search benchmark (issue 6):
 *  1. indexing throughput against `analyze` alone on the same files and model
 *     (both through the CLI, frames/s from their own summaries, start-up excluded);
 *  2. vector search over generated L2-normalised 2048-d embeddings at 10k,
 *     100k and 1M vectors: IVF build time, p50/p95 latency, recall@10 against
 *     the exact scan, exact-scan latency, memory and file size.
 *
 *   node --import tsx bench/index-search.ts [--quick] [--sizes 10000,100000,1000000] [--queries 50] [--skip-indexing]
 *   npm run bench -- --only index --vectors 1000000
 *
 * Prints a table, then one JSON line. The embeddings are synthetic
 * (clustered-vectors.ts: scenes, shots, frames; non-negative as pooled ResNet
 * features are after ReLU), so neighbours exist as in video. The ground truth
 * is sqlite-vec's exact scan of every stored vector, once per query (about
 * 3 s a query at 1M here: hence 50 queries, not thousands).
 * At 1M the database file holds 8 GB of float embeddings (plus the WAL while
 * writing): it lives in a temporary folder (os.tmpdir()) removed at the end.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthResnet } from '../src/inference/resnet-synth.ts';
import { IndexStore, type FrameRecord } from '../src/indexing/index-store.ts';
import { ClusteredVectors } from './clustered-vectors.ts';
import { SKETCH_DIMS } from '../src/indexing/ivf-math.ts';
import { DEFAULT_CANDIDATES, DEFAULT_NPROBE } from '../src/indexing/vector-index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'bin/streamsight.js');

export interface IndexSearchBenchOptions {
  quick?: boolean;
  /** Vector counts; default 10k, 100k, 1M (quick: 10k, 50k). */
  sizes?: number[];
  dim?: number;
  queries?: number;
  skipIndexing?: boolean;
  log?: (line: string) => void;
}

export interface IndexingResult {
  model: string;
  frames: number;
  analyzeFps: number;
  indexFps: number;
  overheadPercent: number;
}
export interface SearchResult {
  vectors: number;
  dim: number;
  insertSeconds: number;
  buildSeconds: number;
  cells: number;
  nprobe: number;
  candidates: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  recallAt10: number;
  exactP50Ms: number;
  fileBytes: number;
  rssBytes: number;
  peakRssBytes: number;
  /** The IVF's cells as held in memory (sketches and full-D centroids). */
  ivfMemoryBytes: number;
  /** The IVF's codes and cells in the file (sqlite dbstat); null when SQLite lacks dbstat. */
  ivfDiskBytes: number | null;
  /** Queries measured (recall and latency), each also searched exactly for the ground truth. */
  queries: number;
  sweep: { nprobe: number; p50Ms: number; recallAt10: number }[];
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const r2 = (x: number): number => Math.round(x * 100) / 100;

function benchIndexing(work: string, quick: boolean, log: (l: string) => void): IndexingResult {
  const model = join(work, 'model.onnx');
  const arch = quick ? 'resnet18' : 'resnet50';
  writeFileSync(model, synthResnet({ arch, ...(quick ? { baseWidth: 16, inputSize: 112 } : {}) }));
  const clips = [0, 1, 2].map((i) => join(work, `clip${i}.mp4`));
  clips.forEach((c, i) =>
    execFileSync('ffmpeg', [
      '-nostdin',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=640x360:rate=25`,
      '-t',
      String(quick ? 8 : 20),
      '-vf',
      `hue=h=${i * 90}`,
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv420p',
      c,
    ]),
  );
  const flags = ['--model', model, '--fps', '2', '--device', 'cpu'];
  const run = (args: string[]): { frames: number; seconds: number } => {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, STREAMSIGHT_LOG_LEVEL: 'error' },
      maxBuffer: 1 << 28,
    });
    const lines = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.startsWith('{') && l.includes('summary"'));
    const s = JSON.parse(lines.at(-1)!) as { frames: number; seconds: number };
    return s;
  };
  let best = { analyze: 0, index: 0, frames: 0 };
  for (let round = 0; round < 2; round++) {
    const a = run(['analyze', ...flags, '--embeddings', '--json', '--out', '/dev/null', ...clips]);
    const db = join(work, `bench-${round}.db`);
    const i = run(['index', ...flags, '--json', '--index', db, ...clips]);
    rmSync(db, { force: true });
    best = { analyze: Math.max(best.analyze, a.frames / a.seconds), index: Math.max(best.index, i.frames / i.seconds), frames: i.frames };
    log(`  round ${round + 1}: analyze ${r2(a.frames / a.seconds)} frames/s, index ${r2(i.frames / i.seconds)} frames/s (${i.frames} frames)`);
  }
  return {
    model: `${arch} (synth${quick ? ', 112 px, width 16' : ''})`,
    frames: best.frames,
    analyzeFps: r2(best.analyze),
    indexFps: r2(best.index),
    overheadPercent: r2((best.analyze / best.index - 1) * 100),
  };
}

function benchSearch(work: string, n: number, dim: number, queries: number, log: (l: string) => void): SearchResult {
  const file = join(work, `vectors-${n}.db`);
  rmSync(file, { force: true });
  const store = IndexStore.open(file);
  const gen = new ClusteredVectors({ dim, seed: 7 });
  const modelHash = 'bench';
  const perVideo = 10_000;
  const batch = 5_000;
  const vecs = new Float32Array(batch * dim);
  const started = performance.now();
  let generateMs = 0;
  for (let v = 0; v * perVideo < n; v++) {
    const count = Math.min(perVideo, n - v * perVideo);
    const video = store.startVideo(
      {
        path: `/bench/video-${v}.mp4`,
        contentHash: String(v),
        sizeBytes: 0,
        model: 'bench',
        modelHash,
        modelPath: '',
        untrained: true,
        embeddingDim: dim,
        sampling: 'fps:1',
      },
      { durationMs: count * 1000, fps: 25, width: 640, height: 360, codec: 'h264' },
    );
    for (let b = 0; b < count; b += batch) {
      const m = Math.min(batch, count - b);
      const g0 = performance.now();
      gen.fill(vecs, m);
      generateMs += performance.now() - g0;
      const frames: FrameRecord[] = [];
      for (let i = 0; i < m; i++)
        frames.push({ seq: b + i, ptsMs: (b + i) * 1000, labels: [{ index: 0, label: 'x', score: 0.5 }], embedding: vecs.subarray(i * dim, (i + 1) * dim) });
      // One transaction per 5,000 frames (40 MB of embeddings).
      store.appendFrames(video.id, frames);
    }
    store.finishVideo(video.id, []);
    if (n >= 100_000 && ((v + 1) * perVideo) % 100_000 === 0)
      log(`  ${Math.min(n, (v + 1) * perVideo)} / ${n} vectors stored (${r2((performance.now() - started) / 1000)} s)`);
  }
  const insertSeconds = (performance.now() - started) / 1000;
  const t0 = performance.now();
  store.vectors.train(modelHash);
  const buildSeconds = (performance.now() - t0) / 1000;
  const cells = store.vectors.info()!.cells;
  log(
    `  ${n}: generated in ${r2(generateMs / 1000)} s, stored in ${r2(insertSeconds)} s (generation included), IVF (${cells} cells) built in ${r2(buildSeconds)} s`,
  );

  const qs = gen.queries(queries, 99);
  const query = (i: number): Float32Array => qs.subarray(i * dim, (i + 1) * dim);
  const exactMs: number[] = [];
  const truth: Set<number>[] = [];
  for (let i = 0; i < queries; i++) {
    const t = performance.now();
    truth.push(new Set(store.vectors.search({ embedding: query(i), modelHash, limit: 10, exact: true }).map((h) => h.frameId)));
    exactMs.push(performance.now() - t);
  }
  const measure = (nprobe: number): { p50Ms: number; p95Ms: number; p99Ms: number; recallAt10: number } => {
    const ms: number[] = [];
    let found = 0;
    for (let i = 0; i < queries; i++) {
      const t = performance.now();
      const hits = store.vectors.search({ embedding: query(i), modelHash, limit: 10, nprobe });
      ms.push(performance.now() - t);
      found += hits.filter((h) => truth[i]!.has(h.frameId)).length;
    }
    return { p50Ms: r2(pct(ms, 50)), p95Ms: r2(pct(ms, 95)), p99Ms: r2(pct(ms, 99)), recallAt10: Math.round((found / (10 * queries)) * 1000) / 1000 };
  };
  measure(DEFAULT_NPROBE); // warm the page cache and the JIT
  const sweep = [4, DEFAULT_NPROBE, 16, 32].map((nprobe) => ({ nprobe, ...measure(nprobe) }));
  const main = sweep.find((s) => s.nprobe === DEFAULT_NPROBE)!;
  const ivfDiskBytes = store.vectors.diskBytes();
  const rssBytes = process.memoryUsage().rss;
  store.close();
  const fileBytes = statSync(file).size;
  rmSync(file, { force: true });
  return {
    vectors: n,
    dim,
    insertSeconds: r2(insertSeconds),
    buildSeconds: r2(buildSeconds),
    cells,
    nprobe: DEFAULT_NPROBE,
    candidates: DEFAULT_CANDIDATES,
    p50Ms: main.p50Ms,
    p95Ms: main.p95Ms,
    p99Ms: main.p99Ms,
    recallAt10: main.recallAt10,
    exactP50Ms: r2(pct(exactMs, 50)),
    fileBytes,
    rssBytes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    ivfMemoryBytes: cells * (SKETCH_DIMS + dim) * 4,
    ivfDiskBytes,
    queries,
    sweep: sweep.map((s) => ({ nprobe: s.nprobe, p50Ms: s.p50Ms, recallAt10: s.recallAt10 })),
  };
}

export async function runIndexSearchBench(opts: IndexSearchBenchOptions = {}): Promise<{ indexing?: IndexingResult; search: SearchResult[] }> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const quick = opts.quick ?? false;
  const work = mkdtempSync(join(tmpdir(), 'ss-bench-index-'));
  try {
    const indexing = opts.skipIndexing ? undefined : benchIndexing(work, quick, log);
    const sizes = opts.sizes ?? (quick ? [10_000, 50_000] : [10_000, 100_000, 1_000_000]);
    const search: SearchResult[] = [];
    for (const n of sizes) search.push(benchSearch(work, n, opts.dim ?? 2048, opts.queries ?? 50, log));
    return { ...(indexing ? { indexing } : {}), search };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const sizesArg = args.indexOf('--sizes');
  const queriesArg = args.indexOf('--queries');
  const result = await runIndexSearchBench({
    quick: args.includes('--quick'),
    skipIndexing: args.includes('--skip-indexing'),
    ...(sizesArg >= 0 ? { sizes: args[sizesArg + 1]!.split(',').map(Number) } : {}),
    ...(queriesArg >= 0 ? { queries: Number(args[queriesArg + 1]) } : {}),
  });
  const out: string[] = [];
  if (result.indexing) {
    const i = result.indexing;
    out.push(
      `indexing (${i.model}, ${i.frames} frames, cpu): analyze ${i.analyzeFps} frames/s · index ${i.indexFps} frames/s · storing costs ${i.overheadPercent}%`,
    );
  }
  out.push('vectors    dim   cells  build s  IVF p50 ms  p95 ms  p99 ms  recall@10  exact p50 ms  file MB  rss MB  peak rss MB');
  for (const s of result.search) {
    out.push(
      `${String(s.vectors).padEnd(10)} ${String(s.dim).padEnd(5)} ${String(s.cells).padEnd(6)} ${String(s.buildSeconds).padEnd(8)} ${String(s.p50Ms).padEnd(11)} ${String(s.p95Ms).padEnd(7)} ${String(s.p99Ms).padEnd(7)} ${String(s.recallAt10).padEnd(10)} ${String(s.exactP50Ms).padEnd(13)} ${String(Math.round(s.fileBytes / 1e6)).padEnd(8)} ${String(Math.round(s.rssBytes / 1e6)).padEnd(7)} ${Math.round(s.peakRssBytes / 1e6)}`,
    );
    out.push(`  nprobe sweep: ${s.sweep.map((w) => `${w.nprobe}: ${w.p50Ms} ms / ${w.recallAt10}`).join(' · ')}`);
  }
  process.stdout.write(out.join('\n') + '\n' + JSON.stringify({ bench: 'index-search', ...result }) + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
