/**
 * The only place that spawns ffmpeg or ffprobe. Replacing the wrapper
 * means replacing this file.
 *
 * No child outlives us: every live child is in a registry, killed on the
 * process 'exit' event; signal handlers (which skip 'exit' unless they call
 * process.exit) call `killAllFfmpeg()`. Node reaps each child when it exits.
 * A SIGKILL of this process still orphans them: Linux would need
 * PR_SET_PDEATHSIG, which Node does not offer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import type { Readable } from 'node:stream';
import { FfmpegMissingError, type StreamSightError } from '../shared/errors.ts';
import { classifyFailure } from './ffmpeg-log.ts';

export interface FfmpegExit {
  /** Exit status; null when ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnFfmpegOptions {
  /** Program to run; default `ffmpeg` from PATH. */
  binary?: string;
  /** Stderr lines kept for error messages; default 50. */
  stderrLines?: number;
  /** Called with every complete stderr line (no trailing newline), in order. */
  onStderrLine?: (line: string) => void;
  /**
   * Bytes for ffmpeg's standard input (an input of `-` / `pipe:0`): piped in
   * until ffmpeg exits, then unpiped (the stream stays open for the next
   * run). Default: no stdin.
   */
  stdin?: Readable;
  /** The child's environment; default this process's. */
  env?: NodeJS.ProcessEnv | undefined;
  /** How much nicer than this process the child runs (0..19, capped at niceness 19); default 0. */
  nice?: number | undefined;
}

export interface FfmpegHandle {
  readonly pid: number | undefined;
  /** ffmpeg's stdout. Reading it slowly pauses ffmpeg (pipe backpressure). */
  readonly stdout: Readable;
  /** The last `stderrLines` lines of stderr, oldest first (a copy). */
  stderrTail(): string[];
  /**
   * Settles once the process has exited and its stderr is fully read (so
   * `onStderrLine` has seen every line). Rejects with FfmpegMissingError when
   * the program cannot be started.
   */
  readonly exited: Promise<FfmpegExit>;
  /**
   * Asks ffmpeg to quit (SIGTERM: it closes its output cleanly), then
   * SIGKILL after `graceMs` (default 2000). Idempotent; resolves when it has
   * exited, at once if it already has. Never rejects.
   */
  stop(graceMs?: number): Promise<FfmpegExit>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Kills every live ffmpeg/ffprobe child now (default SIGKILL). For signal
 * handlers and the 'exit' hook; returns how many were signalled.
 */
export function killAllFfmpeg(signal: NodeJS.Signals = 'SIGKILL'): number {
  let count = 0;
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null && child.kill(signal)) count++;
  }
  return count;
}

/** Children started here and not yet exited. */
export function liveFfmpegCount(): number {
  return live.size;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    killAllFfmpeg('SIGKILL');
  });
}

/** Splits a byte stream into lines on \n or \r (ffmpeg's progress uses \r). */
function lineReader(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let rest = '';
  return {
    push(chunk) {
      const parts = (rest + chunk.toString('utf8')).split(/\r\n|\n|\r/);
      rest = parts.pop() ?? '';
      for (const line of parts) onLine(line);
    },
    end() {
      if (rest !== '') onLine(rest);
      rest = '';
    },
  };
}

/**
 * Makes a just-started child `by` nicer than this process. Linux keeps a
 * niceness per thread and a new thread inherits its creator's: spawn()
 * returns once exec succeeded, before ffmpeg has loaded its libraries, let
 * alone started a thread, so every thread it starts inherits this; the
 * threads already there (normally none) are set too. Best effort: a child
 * that already exited, or a platform without per-process priorities, keeps
 * what it has.
 */
function renice(pid: number, by: number): void {
  let target: number;
  try {
    target = Math.min(19, getPriority() + by);
    setPriority(pid, target);
  } catch {
    return;
  }
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const tid of threads) {
    if (Number(tid) === pid) continue;
    try {
      setPriority(Number(tid), target);
    } catch {
      // The thread ended meanwhile.
    }
  }
}

/** Spawns `ffmpeg -nostdin -hide_banner ...args`. */
export function spawnFfmpeg(args: readonly string[], opts: SpawnFfmpegOptions = {}): FfmpegHandle {
  const binary = opts.binary ?? 'ffmpeg';
  const keep = opts.stderrLines ?? 50;
  installExitHook();

  // `-nostdin` only turns off ffmpeg's keyboard commands; `-i pipe:0` still reads stdin.
  const child = spawn(binary, ['-nostdin', '-hide_banner', ...args], {
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    windowsHide: true,
    ...(opts.env ? { env: opts.env } : {}),
  });
  live.add(child);
  if (opts.nice && child.pid !== undefined) renice(child.pid, opts.nice);
  const input = opts.stdin;
  const childStdin = child.stdin;
  if (input && childStdin) {
    // ffmpeg quitting closes its end: EPIPE here is expected, not an error of ours.
    childStdin.on('error', () => undefined);
    input.pipe(childStdin);
    child.once('exit', () => input.unpipe(childStdin));
  }

  const tail: string[] = [];
  const reader = lineReader((line) => {
    tail.push(line);
    if (tail.length > keep) tail.shift();
    opts.onStderrLine?.(line);
  });

  const stdout = child.stdout;
  const stderr = child.stderr;
  if (stdout === null || stderr === null) throw new Error('spawn did not create stdio pipes');

  const stderrDone = new Promise<void>((resolve) => {
    stderr.on('data', (chunk: Buffer) => reader.push(chunk));
    stderr.on('close', () => {
      reader.end();
      resolve();
    });
  });

  const exited = new Promise<FfmpegExit>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      live.delete(child);
      reject(spawnFailure(binary, err));
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      void stderrDone.then(() => resolve({ code, signal }));
    });
  });
  // The caller learns of a spawn failure through `exited` (or stop());
  // this only keeps an unawaited rejection from crashing the process.
  exited.catch(() => undefined);

  let stopping: Promise<FfmpegExit> | null = null;
  const stop = (graceMs = 2000): Promise<FfmpegExit> => {
    if (stopping) return stopping;
    const settled = exited.catch((): FfmpegExit => ({ code: null, signal: null }));
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      stopping = settled;
      return stopping;
    }
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, graceMs);
    // Nobody will read the rest: let a blocked write fail instead of waiting.
    stdout.destroy();
    stopping = settled.finally(() => clearTimeout(timer));
    return stopping;
  };

  return {
    pid: child.pid,
    stdout,
    stderrTail: () => tail.slice(),
    exited,
    stop,
  };
}

export interface RunFfprobeOptions {
  /** Program to run; default `ffprobe` from PATH. */
  binary?: string;
  /** The input probed, for error messages and classification. */
  input?: string;
  /** Whether the input is a network URL (changes how failures read). */
  isUrl?: boolean;
  /** Kill ffprobe after this long, ms; default 30000. */
  timeoutMs?: number;
  /** Most stdout bytes accepted, default 64 MiB; more is an error. */
  maxBytes?: number;
}

/**
 * Runs `ffprobe -hide_banner ...args` and returns its stdout (JSON text when
 * args ask for `-print_format json`). A non-zero exit throws the error
 * `classifyFailure` picks from stderr; a missing binary FfmpegMissingError.
 */
export async function runFfprobe(args: readonly string[], opts: RunFfprobeOptions = {}): Promise<string> {
  const binary = opts.binary ?? 'ffprobe';
  const maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
  const input = opts.input ?? args[args.length - 1] ?? '';
  installExitHook();

  const child = spawn(binary, ['-hide_banner', ...args], { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
  live.add(child);
  const out: Buffer[] = [];
  let outBytes = 0;
  let overflow = false;
  const tail: string[] = [];
  const reader = lineReader((line) => {
    tail.push(line);
    if (tail.length > 50) tail.shift();
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    outBytes += chunk.length;
    if (outBytes > maxBytes) {
      overflow = true;
      child.kill('SIGKILL');
      return;
    }
    out.push(chunk);
  });
  child.stderr?.on('data', (chunk: Buffer) => reader.push(chunk));

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? 30_000);

  const exit = await new Promise<FfmpegExit>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      live.delete(child);
      clearTimeout(timer);
      reject(spawnFailure(binary, err));
    });
    // 'close': stdout and stderr are fully read.
    child.once('close', (code, signal) => {
      live.delete(child);
      clearTimeout(timer);
      reader.end();
      resolve({ code, signal });
    });
  });

  if (exit.code === 0) return Buffer.concat(out).toString('utf8');
  let err: StreamSightError | Error;
  if (timedOut) {
    err = classifyFailure(input, [...tail, `[error] ffprobe timed out after ${opts.timeoutMs ?? 30_000} ms`], opts.isUrl ?? false);
  } else if (overflow) {
    err = new Error(`ffprobe printed more than ${maxBytes} bytes`);
  } else {
    err = classifyFailure(input, tail, opts.isUrl ?? false);
  }
  throw err;
}

/** A spawn error: a missing or non-executable binary is the user's to fix, anything else is passed on. */
function spawnFailure(binary: string, err: NodeJS.ErrnoException): Error {
  if (err.code === 'ENOENT' || err.code === 'EACCES') {
    return new FfmpegMissingError(`${binary} cannot be run (${err.code}): is ffmpeg installed and on PATH?`, {
      cause: err,
      hint: 'install ffmpeg, e.g. apt-get install ffmpeg',
    });
  }
  return err;
}
