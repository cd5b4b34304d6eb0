/**
 * Inputs the benchmarks need, made once and cached under `.bench-cache/`
 * (git-ignored): synthetic clips encoded by ffmpeg and untrained models
 * written by `streamsight models synth`. Each file is written under a
 * temporary name and renamed into place, so an interrupted run never leaves
 * a half-written clip or model that a later run would trust.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(new URL('..', import.meta.url).pathname);
export const CLI_PATH = join(REPO_ROOT, 'bin', 'streamsight.js');
export const DEFAULT_CACHE_DIR = join(REPO_ROOT, '.bench-cache');

/** A synthetic H.264 clip: ffmpeg's testsrc2 pattern, encoded with libx264 `-preset ultrafast`. */
export interface ClipSpec {
  width: number;
  height: number;
  /** Frames per second of the clip. */
  fps: number;
  /** Length, seconds. */
  seconds: number;
}

export function clipFileName(spec: ClipSpec): string {
  return `testsrc2-${spec.width}x${spec.height}-${spec.fps}fps-${spec.seconds}s.mp4`;
}

/** Runs a command to completion; rejects with the tail of its stderr on a non-zero exit. */
export function runToCompletion(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      // Keep only the tail: ffmpeg can log a lot, only the end explains a failure.
      stderr = (stderr + chunk).slice(-4000);
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

export async function makeAtomically(dest: string, make: (tmp: string) => Promise<void>, tmpSuffix: string): Promise<string> {
  if (existsSync(dest)) return dest;
  mkdirSync(join(dest, '..'), { recursive: true });
  const tmp = `${dest}.partial-${process.pid}${tmpSuffix}`;
  try {
    await make(tmp);
    renameSync(tmp, dest);
  } finally {
    rmSync(tmp, { force: true });
  }
  return dest;
}

/** The clip's path in `cacheDir`, encoding it first when it is not there yet. */
export function ensureClip(cacheDir: string, spec: ClipSpec, log: (line: string) => void): Promise<string> {
  const dest = join(cacheDir, clipFileName(spec));
  if (!existsSync(dest)) log(`making ${clipFileName(spec)} (once; cached in ${cacheDir})`);
  return makeAtomically(
    dest,
    (tmp) =>
      runToCompletion('ffmpeg', [
        '-nostdin',
        '-hide_banner',
        '-loglevel',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        `testsrc2=size=${spec.width}x${spec.height}:rate=${spec.fps}:duration=${spec.seconds}`,
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-pix_fmt',
        'yuv420p',
        '-f',
        'mp4',
        tmp,
      ]),
    '.mp4',
  );
}

/** An untrained model of the real topology, written by `streamsight models synth`. */
export function ensureModel(cacheDir: string, arch: string, log: (line: string) => void): Promise<string> {
  const dest = join(cacheDir, `${arch}.onnx`);
  if (!existsSync(dest)) log(`synthesizing ${arch} (once; cached in ${cacheDir})`);
  return makeAtomically(dest, (tmp) => runToCompletion(process.execPath, [CLI_PATH, 'models', 'synth', arch, '--out', tmp]), '.onnx');
}
