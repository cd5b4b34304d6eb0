/**
 * Index and search benchmark (issue 6):
 *  1. indexing throughput against `analyze` alone on the same files and model
 *     (both through the CLI, frames/s from their own summaries, start-up excluded);
 *  2. vector search over generated L2-normalised 2048-d embeddings at 10k,
 *     100k and 1M vectors: IVF build time, p50/p95 latency, recall@10 against
 *     the exact scan, exact-scan latency, memory and file size.
 *
 *   node --import tsx bench/index-search.ts [--quick] [--sizes 10000,100000] [--skip-indexing]
 *
 * Prints a table, then one JSON line. The embeddings are synthetic: "shots"
 * (a non-negative random centre each, as pooled ResNet features are after
 * ReLU) with frames scattered around them, so neighbours exist as in video.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthResnet } from '../src/inference/resnet-synth.ts';
import { IndexStore, type FrameRecord } from '../src/indexing/index-store.ts';
import { mulberry32 } from '../src/indexing/ivf-math.ts';
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

export interface IndexingResult { model: string; frames: number; analyzeFps: number; indexFps: number; overheadPercent: number }
export interface SearchResult {
  vectors: number; dim: number; insertSeconds: number; buildSeconds: number; cells: number;
  nprobe: number; candidates: number; p50Ms: number; p95Ms: number; recallAt10: number;
  exactP50Ms: number; fileBytes: number; rssBytes: number;
  sweep: { nprobe: number; p50Ms: number; recallAt10: number }[];
}

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
}

/** Writes `n` clustered, normalised vectors into `out` (row-major), 50 frames per shot on average. */
export function clusteredVectors(n: number, dim: number, seed: number, centres?: Float32Array[]): Float32Array {
  const rand = mulberry32(seed);
  const shots = centres ?? makeCentres(Math.max(1, Math.round(n / 50)), dim, seed + 1);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = shots[Math.floor(rand() * shots.length)]!;
    let norm = 0;
    const o = i * dim;
    for (let d = 0; d < dim; d++) {
      const v = Math.max(0, c[d]! + 0.35 * gaussian(rand) * Math.sqrt(c[d]! + 0.05));
      out[o + d] = v;
      norm += v * v;
    }
    const inv = 1 / Math.sqrt(norm || 1);
    for (let d = 0; d < dim; d++) out[o + d]! *= inv;
  }
  return out;
}

export function makeCentres(count: number, dim: number, seed: number): Float32Array[] {
  const rand = mulberry32(seed);
  return Array.from({ length: count }, () => Float32Array.from({ length: dim }, () => Math.max(0, gaussian(rand)) ** 2));
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
  clips.forEach((c, i) => execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=25`, '-t', String(quick ? 8 : 20),
    '-vf', `hue=h=${i * 90}`, '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', c]));
  const flags = ['--model', model, '--fps', '2', '--device', 'cpu'];
  const run = (args: string[]): { frames: number; seconds: number } => {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, STREAMSIGHT_LOG_LEVEL: 'error' }, maxBuffer: 1 << 28 });
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
  return { model: `${arch} (synth${quick ? ', 112 px, width 16' : ''})`, frames: best.frames, analyzeFps: r2(best.analyze), indexFps: r2(best.index), overheadPercent: r2((best.analyze / best.index - 1) * 100) };
}

function benchSearch(work: string, n: number, dim: number, queries: number, log: (l: string) => void): SearchResult {
  const file = join(work, `vectors-${n}.db`);
  rmSync(file, { force: true });
  const store = IndexStore.open(file);
  const centres = makeCentres(Math.max(1, Math.round(n / 50)), dim, 7);
  const modelHash = 'bench';
  const perVideo = 10_000;
  const started = performance.now();
  for (let v = 0; v * perVideo < n; v++) {
    const count = Math.min(perVideo, n - v * perVideo);
    const video = store.startVideo({ path: `/bench/video-${v}.mp4`, contentHash: String(v), sizeBytes: 0, model: 'bench', modelHash, modelPath: '', untrained: true, embeddingDim: dim, sampling: 'fps:1' },
      { durationMs: count * 1000, fps: 25, width: 640, height: 360, codec: 'h264' });
    for (let b = 0; b < count; b += 1000) {
      const m = Math.min(1000, count - b);
      const vecs = clusteredVectors(m, dim, 1000 + v * 1000 + b, centres);
      const frames: FrameRecord[] = [];
      for (let i = 0; i < m; i++) frames.push({ seq: b + i, ptsMs: (b + i) * 1000, labels: [{ index: 0, label: 'x', score: 0.5 }], embedding: vecs.subarray(i * dim, (i + 1) * dim) });
      store.appendFrames(video.id, frames);
    }
    store.finishVideo(video.id, []);
    if (n >= 100_000) log(`  ${Math.min(n, (v + 1) * perVideo)} / ${n} vectors stored`);
  }
  const insertSeconds = (performance.now() - started) / 1000;
  const t0 = performance.now();
  store.vectors.train(modelHash);
  const buildSeconds = (performance.now() - t0) / 1000;
  const cells = store.vectors.info()!.cells;
  log(`  ${n}: stored in ${r2(insertSeconds)} s, IVF (${cells} cells) built in ${r2(buildSeconds)} s`);

  const qs = clusteredVectors(queries, dim, 99, centres);
  const query = (i: number): Float32Array => qs.subarray(i * dim, (i + 1) * dim);
  const exactMs: number[] = [];
  const truth: Set<number>[] = [];
  for (let i = 0; i < queries; i++) {
    const t = performance.now();
    truth.push(new Set(store.vectors.search({ embedding: query(i), modelHash, limit: 10, exact: true }).map((h) => h.frameId)));
    exactMs.push(performance.now() - t);
  }
  const measure = (nprobe: number): { p50Ms: number; p95Ms: number; recallAt10: number } => {
    const ms: number[] = [];
    let found = 0;
    for (let i = 0; i < queries; i++) {
      const t = performance.now();
      const hits = store.vectors.search({ embedding: query(i), modelHash, limit: 10, nprobe });
      ms.push(performance.now() - t);
      found += hits.filter((h) => truth[i]!.has(h.frameId)).length;
    }
    return { p50Ms: r2(pct(ms, 50)), p95Ms: r2(pct(ms, 95)), recallAt10: Math.round((found / (10 * queries)) * 1000) / 1000 };
  };
  measure(DEFAULT_NPROBE); // warm the page cache and the JIT
  const sweep = [4, DEFAULT_NPROBE, 16, 32].map((nprobe) => ({ nprobe, ...measure(nprobe) }));
  const main = sweep.find((s) => s.nprobe === DEFAULT_NPROBE)!;
  store.close();
  const fileBytes = statSync(file).size;
  rmSync(file, { force: true });
  return {
    vectors: n, dim, insertSeconds: r2(insertSeconds), buildSeconds: r2(buildSeconds), cells, nprobe: DEFAULT_NPROBE, candidates: DEFAULT_CANDIDATES,
    p50Ms: main.p50Ms, p95Ms: main.p95Ms, recallAt10: main.recallAt10, exactP50Ms: r2(pct(exactMs, 50)), fileBytes, rssBytes: process.memoryUsage().rss,
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
    for (const n of sizes) search.push(benchSearch(work, n, opts.dim ?? 2048, opts.queries ?? (n >= 1_000_000 ? 20 : 50), log));
    return { ...(indexing ? { indexing } : {}), search };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const sizesArg = args.indexOf('--sizes');
  const result = await runIndexSearchBench({
    quick: args.includes('--quick'),
    skipIndexing: args.includes('--skip-indexing'),
    ...(sizesArg >= 0 ? { sizes: args[sizesArg + 1]!.split(',').map(Number) } : {}),
  });
  const out: string[] = [];
  if (result.indexing) {
    const i = result.indexing;
    out.push(`indexing (${i.model}, ${i.frames} frames, cpu): analyze ${i.analyzeFps} frames/s · index ${i.indexFps} frames/s · storing costs ${i.overheadPercent}%`);
  }
  out.push('vectors    dim   cells  build s  IVF p50 ms  p95 ms  recall@10  exact p50 ms  file MB  rss MB');
  for (const s of result.search) {
    out.push(`${String(s.vectors).padEnd(10)} ${String(s.dim).padEnd(5)} ${String(s.cells).padEnd(6)} ${String(s.buildSeconds).padEnd(8)} ${String(s.p50Ms).padEnd(11)} ${String(s.p95Ms).padEnd(7)} ${String(s.recallAt10).padEnd(10)} ${String(s.exactP50Ms).padEnd(13)} ${String(Math.round(s.fileBytes / 1e6)).padEnd(8)} ${Math.round(s.rssBytes / 1e6)}`);
    out.push(`  nprobe sweep: ${s.sweep.map((w) => `${w.nprobe}: ${w.p50Ms} ms / ${w.recallAt10}`).join(' · ')}`);
  }
  process.stdout.write(out.join('\n') + '\n' + JSON.stringify({ bench: 'index-search', ...result }) + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
