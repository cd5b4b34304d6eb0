/**
 * Distributed mode against embedded, on this machine.
 *   node --import tsx bench/distributed.ts [--quick]
 * Prints a table and one JSON line. Starts its own redis-server on a free
 * port (nothing on disk) and kills it at the end.
 *
 * - throughput: `analyze` embedded (--threads T) against `analyze --redis` with
 *   workers whose threads add up to T; the ratio is the distributed overhead;
 * - queue cost per frame at batch 1, 8, 32: Redis CPU seconds (INFO cpu) and
 *   network bytes (INFO stats) over the run, per frame, and the frames/s one
 *   Redis core could carry at that cost;
 * - scaling: 1 worker against 2 (one inference thread each).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { SummarySchema } from '../src/contracts/analyze-output.ts';
import { CLI_PATH, DEFAULT_CACHE_DIR, REPO_ROOT, ensureClip, ensureModel } from './fixtures.ts';
import { freePort } from '../test/helpers/ports.ts';

export interface DistributedBenchOptions {
  quick: boolean;
  cacheDir?: string;
  log?: (line: string) => void;
}

export interface DistributedBenchResult {
  model: string;
  frames: number;
  embeddedFps: { threads1: number; threads2: number };
  distributedFps: { workers1x1: number; workers2x1: number };
  /** distributed / embedded at the same total inference threads. */
  ratio: { threads1: number; threads2: number };
  /** 2 workers x 1 thread against 1 x 1. */
  scaling2Workers: number;
  queueCost: Array<{ batch: number; redisCpuUsPerFrame: number; bytesPerFrame: number; framesPerSecondPerRedisCore: number }>;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, STREAMSIGHT_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: '', stderr }));
  });
}

function fpsOf(stderr: string): { fps: number; frames: number } {
  const line = stderr.split('\n').find((l) => l.includes('"type":"summary"'));
  if (!line) throw new Error(`no summary:\n${stderr.slice(-2000)}`);
  const s = SummarySchema.parse(JSON.parse(line));
  return { fps: s.framesPerSecond, frames: s.frames };
}

async function startWorkers(n: number, model: string, env: NodeJS.ProcessEnv, extra: string[]): Promise<ChildProcess[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const child = spawn(process.execPath, [CLI_PATH, 'worker', '--model', model, '--threads', '1', ...extra], {
        cwd: REPO_ROOT,
        env: { ...process.env, STREAMSIGHT_LOG_LEVEL: 'warn', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      await new Promise<void>((resolve, reject) => {
        child.stderr!.setEncoding('utf8').on('data', (d: string) => {
          err += d;
          if (err.includes('worker: ready')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`worker exited ${code}: ${err}`)));
      });
      return child;
    }),
  );
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (c) => {
      if (c.exitCode !== null) return;
      const exited = once(c, 'exit');
      c.kill('SIGTERM');
      await exited;
    }),
  );
}

async function redisCounters(client: Redis): Promise<{ cpu: number; bytes: number }> {
  const cpu = await client.info('cpu');
  const stats = await client.info('stats');
  const num = (text: string, key: string): number => Number(new RegExp(`${key}:([\\d.]+)`).exec(text)?.[1] ?? 0);
  return {
    cpu: num(cpu, 'used_cpu_sys') + num(cpu, 'used_cpu_user'),
    bytes: num(stats, 'total_net_input_bytes') + num(stats, 'total_net_output_bytes'),
  };
}

export async function runDistributedBench(opts: DistributedBenchOptions): Promise<DistributedBenchResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  const arch = 'resnet18';
  const model = await ensureModel(cacheDir, arch, log);
  const clip = await ensureClip(cacheDir, { width: 320, height: 240, fps: 25, seconds: opts.quick ? 8 : 24 }, log);
  const port = await freePort();
  const redisProc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { maxRetriesPerRequest: null });
  await client.ping();
  const configFile = join(cacheDir, 'bench-distributed.yaml');
  writeFileSync(configFile, 'redis:\n  batchWaitMs: 5\n');
  const analyzeArgs = ['analyze', '--model', model, '--every-frame', '--json', '--out', '/dev/null', '--config', configFile];
  const children: ChildProcess[] = [];
  try {
    const embedded = async (threads: number): Promise<{ fps: number; frames: number }> => {
      const r = await run([...analyzeArgs, '--threads', String(threads), clip], {});
      if (r.code !== 0) throw new Error(r.stderr);
      return fpsOf(r.stderr);
    };
    const distributed = async (workers: number, batch: number, prefix: string): Promise<{ fps: number; frames: number; cpu: number; bytes: number }> => {
      const env = { REDIS_URL: url, STREAMSIGHT_REDIS_PREFIX: prefix };
      const pool = await startWorkers(workers, model, env, ['--batch', String(Math.max(batch, 8)), '--config', configFile]);
      children.push(...pool);
      const before = await redisCounters(client);
      const r = await run([...analyzeArgs, '--batch', String(batch), clip], env);
      const after = await redisCounters(client);
      await stopAll(pool);
      if (r.code !== 0) throw new Error(r.stderr);
      return { ...fpsOf(r.stderr), cpu: after.cpu - before.cpu, bytes: after.bytes - before.bytes };
    };

    log('embedded, 1 thread');
    const e1 = await embedded(1);
    log('distributed, 1 worker x 1 thread');
    const d1 = await distributed(1, 8, 'b1');
    log('embedded, 2 threads');
    const e2 = await embedded(2);
    log('distributed, 2 workers x 1 thread');
    const d2 = await distributed(2, 8, 'b2');
    const queueCost: DistributedBenchResult['queueCost'] = [];
    for (const batch of [1, 8, 32]) {
      log(`queue cost at batch ${batch}`);
      const d = await distributed(1, batch, `q${batch}`);
      const cpuPerFrame = d.cpu / d.frames;
      queueCost.push({
        batch,
        redisCpuUsPerFrame: Math.round(cpuPerFrame * 1e6),
        bytesPerFrame: Math.round(d.bytes / d.frames),
        framesPerSecondPerRedisCore: cpuPerFrame > 0 ? Math.round(1 / cpuPerFrame) : 0,
      });
    }
    const r2 = (x: number): number => Math.round(x * 100) / 100;
    return {
      model: `${arch} (untrained, 224x224)`,
      frames: e1.frames,
      embeddedFps: { threads1: e1.fps, threads2: e2.fps },
      distributedFps: { workers1x1: d1.fps, workers2x1: d2.fps },
      ratio: { threads1: r2(d1.fps / e1.fps), threads2: r2(d2.fps / e2.fps) },
      scaling2Workers: r2(d2.fps / d1.fps),
      queueCost,
    };
  } finally {
    await stopAll(children);
    client.disconnect();
    redisProc.kill('SIGKILL');
  }
}

function printTable(r: DistributedBenchResult): void {
  const rows: Array<[string, string]> = [
    ['model / frames', `${r.model} / ${r.frames}`],
    ['embedded 1 thread', `${r.embeddedFps.threads1} frames/s`],
    ['distributed 1 worker x 1 thread', `${r.distributedFps.workers1x1} frames/s (x${r.ratio.threads1} of embedded)`],
    ['embedded 2 threads', `${r.embeddedFps.threads2} frames/s`],
    ['distributed 2 workers x 1 thread', `${r.distributedFps.workers2x1} frames/s (x${r.ratio.threads2} of embedded)`],
    ['scaling 1 -> 2 workers', `x${r.scaling2Workers}`],
    ...r.queueCost.map((q): [string, string] => [
      `queue cost, batch ${q.batch}`,
      `${q.redisCpuUsPerFrame} us Redis CPU/frame · ${q.bytesPerFrame} B/frame · ~${q.framesPerSecondPerRedisCore} frames/s per Redis core`,
    ]),
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' } } });
  const result = await runDistributedBench({ quick: values.quick ?? false });
  printTable(result);
  process.stdout.write(JSON.stringify({ suite: 'distributed', ...result }) + '\n');
}
