/**
 * Which files ffmpeg and ffprobe open: wrapper scripts named `ffmpeg` and
 * `ffprobe` that run the real programs under `strace -f -e trace=open*`.
 * Put `binDir` first in a child's PATH (the CLI), or pass `ffmpeg` /
 * `ffprobe` as the binary (decodeFrames, probeInput). Test support only.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

function which(program: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** strace is installed and may trace here (some containers forbid ptrace). */
export const hasStrace: boolean = (() => {
  if (which('strace') === undefined) return false;
  try {
    execFileSync('strace', ['-qq', '-e', 'trace=none', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export interface OpenTracer {
  /** Folder holding the `ffmpeg` and `ffprobe` wrappers. */
  readonly binDir: string;
  readonly ffmpeg: string;
  readonly ffprobe: string;
  /** Every path an ffmpeg or ffprobe run so far tried to open (whatever the result), resolved against `cwd`, links followed where they resolve. */
  opened(cwd: string): string[];
  /** Forgets the runs so far. */
  reset(): void;
  cleanup(): void;
}

/** `open*("path", ...)`, also when strace splits the call (`<unfinished ...>`). */
const OPEN_RE = /\b(?:open|openat|openat2|creat)\((?:[A-Z_]+|\d+), "((?:[^"\\]|\\.)*)"/;

/** A path as strace writes it (`\\303\\251` octal bytes, `\\"`, `\\n`) back to the path. */
function unescapeStrace(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '\\') {
      bytes.push(...Buffer.from(text[i]!, 'latin1'));
      continue;
    }
    const next = text[++i] ?? '';
    const octal = /^[0-7]{1,3}/.exec(text.slice(i))?.[0];
    if (octal !== undefined) {
      bytes.push(parseInt(octal, 8));
      i += octal.length - 1;
    } else if (next === 'x') {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(({ n: 10, t: 9, r: 13, v: 11, f: 12 } as Record<string, number>)[next] ?? next.charCodeAt(0));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export function openTracer(): OpenTracer {
  if (!hasStrace) throw new Error('strace is not available');
  const binDir = mkdtempSync(join(tmpdir(), 'ss-open-tracer-'));
  const logDir = join(binDir, 'logs');
  execFileSync('mkdir', [logDir]);
  for (const program of ['ffmpeg', 'ffprobe']) {
    const real = which(program);
    if (real === undefined) throw new Error(`${program} is not on PATH`);
    // exec: strace takes the wrapper's pid, so each run writes its own log.
    writeFileSync(
      join(binDir, program),
      `#!/bin/sh\nexec strace -f -qq -s 4096 -e trace=open,openat,openat2,creat -o "${logDir}/${program}.$$" "${real}" "$@"\n`,
    );
    chmodSync(join(binDir, program), 0o755);
  }
  return {
    binDir,
    ffmpeg: join(binDir, 'ffmpeg'),
    ffprobe: join(binDir, 'ffprobe'),
    opened(cwd) {
      const paths = new Set<string>();
      for (const log of readdirSync(logDir)) {
        for (const line of readFileSync(join(logDir, log), 'utf8').split('\n')) {
          const m = OPEN_RE.exec(line);
          if (!m) continue;
          const path = resolve(cwd, unescapeStrace(m[1]!));
          paths.add(path);
          try {
            paths.add(realpathSync(path));
          } catch {
            // does not exist: the name alone is what was asked for
          }
        }
      }
      return [...paths];
    },
    reset() {
      for (const log of readdirSync(logDir)) rmSync(join(logDir, log));
    },
    cleanup() {
      rmSync(binDir, { recursive: true, force: true });
    },
  };
}
