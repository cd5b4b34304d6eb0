import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { FrameLineSchema, type FrameLine } from '../../src/contracts/analyze-output.ts';
import { synthResnet } from '../../src/inference/resnet-synth.ts';
import { CLI, ROOT } from '../helpers/cli.ts';

/** A tiny untrained ResNet (64x64 input, 10 classes): fast enough for 2 cores. */
export function writeTinyModel(file: string): void {
  writeFileSync(file, synthResnet({ arch: 'resnet18', baseWidth: 8, inputSize: 64, numClasses: 10 }));
}

/** A YAML config with the redis section a test needs (short timeouts). */
export function writeRedisConfig(file: string, redis: Record<string, number | string>): void {
  const lines = Object.entries(redis).map(([k, v]) => `  ${k}: ${typeof v === 'string' ? JSON.stringify(v) : v}`);
  writeFileSync(file, `log:\n  level: warn\nredis:\n${lines.join('\n')}\n`);
}

export interface WorkerProcess {
  child: ChildProcess;
  stderr: () => string;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `streamsight worker`; resolves once it says it is ready. */
export async function startWorker(args: string[], env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [CLI, 'worker', ...args], {
    cwd: ROOT,
    env: { ...process.env, STREAMSIGHT_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker not ready after 30 s:\n${stderr}`)), 30_000);
    child.stderr!.on('data', (d: string) => {
      stderr += d;
      if (stderr.includes('streamsight worker: ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code}) before ready:\n${stderr}`));
    });
  });
  return {
    child,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

export function frameLines(text: string): FrameLine[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => FrameLineSchema.parse(JSON.parse(l)));
}

/**
 * Frame by frame: same count, same seq and ptsMs in order, same labels
 * (indices; scores within 1e-4), embeddings within 1e-4 per component.
 * The run id differs (each run has its own).
 */
export function assertSameFrames(got: FrameLine[], want: FrameLine[], fail: (msg: string) => never): void {
  if (got.length !== want.length) fail(`frames: got ${got.length}, want ${want.length}`);
  got.forEach((g, i) => {
    const w = want[i]!;
    if (g.seq !== i || g.seq !== w.seq || g.ptsMs !== w.ptsMs || g.stream !== w.stream) fail(`line ${i}: seq ${g.seq}/${w.seq} ptsMs ${g.ptsMs}/${w.ptsMs}`);
    if (g.labels.map((l) => l.index).join() !== w.labels.map((l) => l.index).join())
      fail(`seq ${i}: labels ${JSON.stringify(g.labels)} vs ${JSON.stringify(w.labels)}`);
    g.labels.forEach((l, j) => {
      if (Math.abs(l.score - w.labels[j]!.score) > 1e-4) fail(`seq ${i}: score ${l.score} vs ${w.labels[j]!.score}`);
    });
    if ((g.embedding === undefined) !== (w.embedding === undefined)) fail(`seq ${i}: embedding presence differs`);
    g.embedding?.forEach((x, j) => {
      if (Math.abs(x - w.embedding![j]!) > 1e-4) fail(`seq ${i}: embedding[${j}] ${x} vs ${w.embedding![j]}`);
    });
  });
}
