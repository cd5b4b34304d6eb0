/**
 * Runs one child process for a measurement: wall time from spawn to exit,
 * stdout drained and counted (a pipe that nobody reads would stall the
 * child and the clock), the tail of stderr kept, and optionally the peak
 * memory of the child and its descendants.
 */
import { spawn } from 'node:child_process';
import { RssSampler, type MemoryPeak } from './rss-sampler.ts';

export interface TimedRun {
  /** Spawn to exit, seconds. */
  wallSeconds: number;
  stdoutBytes: number;
  /** The last `stderrTailBytes` of stderr, as text. */
  stderr: string;
  memory?: MemoryPeak;
}

export interface TimedRunOptions {
  /** Sample VmRSS of the child and its descendants every `intervalMs`. */
  sampleMemory?: { intervalMs: number };
  /** How much of stderr to keep, bytes (default 256 KiB): summaries come last. */
  stderrTailBytes?: number;
}

export function runTimed(command: string, args: readonly string[], options: TimedRunOptions = {}): Promise<TimedRun> {
  const tailBytes = options.stderrTailBytes ?? 256 * 1024;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const sampler = options.sampleMemory && child.pid !== undefined ? new RssSampler(child.pid, options.sampleMemory.intervalMs) : undefined;
    let stdoutBytes = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.length > 2 * tailBytes) stderr = stderr.slice(-tailBytes);
    });
    // `exit` can come before `close`: stop the sampler at exit, the clock when all output is read.
    let memory: MemoryPeak | undefined;
    child.once('exit', () => {
      memory = sampler?.stop();
    });
    child.once('error', (err) => {
      sampler?.stop();
      reject(new Error(`cannot start ${command}: ${err.message}`, { cause: err }));
    });
    child.once('close', (code, signal) => {
      const wallSeconds = (performance.now() - started) / 1000;
      memory ??= sampler?.stop();
      const tail = stderr.slice(-tailBytes);
      if (code !== 0) {
        const lines = tail.trim().split('\n').slice(-5).join('\n  ');
        reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n  ${lines}`));
        return;
      }
      resolve({ wallSeconds, stdoutBytes, stderr: tail, ...(memory ? { memory } : {}) });
    });
  });
}
