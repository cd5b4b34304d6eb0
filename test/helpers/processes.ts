/**
 * The ffmpeg children a test's processes leave (or must not leave) behind,
 * read from /proc. Test support only.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Pids of ffmpeg processes whose parent is `pid` (pgrep). */
export function ffmpegChildrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid), 'ffmpeg'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch (err) {
    if ((err as { status?: number }).status === 1) return []; // pgrep: nothing matched
    throw err;
  }
}

/** `[pid, comm, state, ppid]` of every process, from /proc/PID/stat; a process that exits while listed is skipped. */
function processTable(): { pid: number; comm: string; state: string; ppid: number }[] {
  const rows: { pid: number; comm: string; state: string; ppid: number }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while listing
    }
    // "pid (comm) state ppid ..."; comm may hold spaces, so split after the last ')'.
    const close = stat.lastIndexOf(')');
    const [state = '', ppid] = stat.slice(close + 2).split(' ');
    rows.push({ pid: Number(entry), comm: stat.slice(stat.indexOf('(') + 1, close), state, ppid: Number(ppid) });
  }
  return rows;
}

/** Pids of this process's live (not zombie) ffmpeg/ffprobe children. */
export function childFfmpegPids(): number[] {
  return processTable()
    .filter((p) => p.ppid === process.pid && /^ff(mpeg|probe)$/.test(p.comm) && p.state !== 'Z')
    .map((p) => p.pid);
}

/** Zombie children of this process (exited, not reaped). */
export function zombieChildren(): number[] {
  return processTable()
    .filter((p) => p.ppid === process.pid && p.state === 'Z')
    .map((p) => p.pid);
}
