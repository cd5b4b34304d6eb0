/**
 * Which files a running process (this test process, a server in it, and
 * every child it starts meanwhile: ffmpeg, ffprobe) opens during a piece of
 * work: strace attached with `-f -p PID`, `open*` calls only. Test support only.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** strace is installed and may attach to this process (some containers forbid ptrace). */
export const canWatchOpens: boolean = (() => {
  try {
    execFileSync('strace', ['-qq', '-e', 'trace=none', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** `open*("path", ...)` in strace's log. */
const OPEN_RE = /\b(?:open|openat|openat2|creat)\((?:[A-Z_]+|\d+), "((?:[^"\\]|\\.)*)"/;

/**
 * Runs `work` with strace attached to process `pid` (default: this one) and
 * its new children; answers what `work` returned and the paths opened, as
 * strace writes them (plain ASCII paths come out as they are).
 */
export async function watchOpens<T>(work: () => Promise<T>, pid: number = process.pid): Promise<{ result: T; opened: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'ss-open-watch-'));
  const log = join(dir, 'strace.log');
  const strace = spawn('strace', ['-f', '-s', '4096', '-e', 'trace=open,openat,openat2,creat', '-o', log, '-p', String(pid)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => strace.once('close', () => resolve()));
  try {
    let said = '';
    // strace says "Process N attached with M threads" once every thread is traced.
    await new Promise<void>((resolve, reject) => {
      strace.stderr.setEncoding('utf8').on('data', (d: string) => {
        said += d;
        if (/attached/.test(said)) resolve();
      });
      strace.once('close', () => reject(new Error(`strace did not attach: ${said}`)));
    });
    const result = await work();
    strace.kill('SIGINT');
    await exited;
    const opened = readFileSync(log, 'utf8')
      .split('\n')
      .flatMap((line) => {
        const m = OPEN_RE.exec(line);
        return m ? [m[1]!] : [];
      });
    return { result, opened };
  } finally {
    if (strace.exitCode === null && strace.signalCode === null) strace.kill('SIGINT');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}
