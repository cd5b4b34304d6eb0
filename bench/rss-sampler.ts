/**
 * Samples the resident memory of a process and of all its descendants
 * (ffmpeg, ffprobe) from /proc, every `intervalMs`. Linux only.
 *
 * Besides the sampled VmRSS it keeps the largest VmHWM (the kernel's own
 * high-water mark of the process's RSS), which also catches a peak that
 * falls between two samples; it is per process, so it exists for the
 * root process and, separately, for each descendant.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface MemoryPeak {
  /** Largest sampled VmRSS of the root process, bytes. */
  rootRssBytes: number;
  /** Largest VmHWM seen for the root process, bytes (>= rootRssBytes unless sampling missed it). */
  rootHwmBytes: number;
  /** Largest sampled sum of VmRSS over the descendants at one instant, bytes. */
  childrenRssBytes: number;
  /** Largest sampled sum of VmRSS of root + descendants at one instant, bytes. */
  totalRssBytes: number;
  samples: number;
  /**
   * Largest sampled total in the first and in the second half of the run
   * (by time): memory that grows with the video's length shows as a second
   * half above the first.
   */
  firstHalfTotalBytes: number;
  secondHalfTotalBytes: number;
}

/** `VmRSS`/`VmHWM` of a process in bytes, or null when it has exited. */
export function readStatusMemory(pid: number): { rss: number; hwm: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null; // Exited between listing and reading: nothing to count.
  }
  const kib = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/** Pids of all descendants of `pid` (children of every thread, recursively). */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // Exited.
    }
    for (const tid of tasks) {
      let children: string;
      try {
        children = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue; // Thread exited.
      }
      for (const c of children.split(' ')) {
        const n = Number(c);
        if (c.trim() !== '' && Number.isInteger(n)) {
          out.push(n);
          stack.push(n);
        }
      }
    }
  }
  return out;
}

export class RssSampler {
  private readonly timer: NodeJS.Timeout;
  private readonly peak: MemoryPeak = {
    rootRssBytes: 0,
    rootHwmBytes: 0,
    childrenRssBytes: 0,
    totalRssBytes: 0,
    samples: 0,
    firstHalfTotalBytes: 0,
    secondHalfTotalBytes: 0,
  };
  /** [ms since start, total bytes]: one pair per sample, 16 bytes each (a 10-minute run at 100 ms: ~100 KB). */
  private readonly timeline: Array<[number, number]> = [];
  private readonly started = performance.now();
  private stopped = false;

  /** @param intervalMs sampling period, milliseconds (default 100). */
  constructor(
    private readonly pid: number,
    intervalMs = 100,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    const root = readStatusMemory(this.pid);
    if (!root) return;
    let children = 0;
    for (const c of descendants(this.pid)) children += readStatusMemory(c)?.rss ?? 0;
    const p = this.peak;
    p.samples++;
    p.rootRssBytes = Math.max(p.rootRssBytes, root.rss);
    p.rootHwmBytes = Math.max(p.rootHwmBytes, root.hwm);
    p.childrenRssBytes = Math.max(p.childrenRssBytes, children);
    p.totalRssBytes = Math.max(p.totalRssBytes, root.rss + children);
    this.timeline.push([performance.now() - this.started, root.rss + children]);
  }

  /** Idempotent; call it when the process has exited (or is about to). */
  stop(): MemoryPeak {
    if (!this.stopped) {
      this.stopped = true;
      clearInterval(this.timer);
      const end = this.timeline.at(-1)?.[0] ?? 0;
      for (const [t, total] of this.timeline) {
        if (t < end / 2) this.peak.firstHalfTotalBytes = Math.max(this.peak.firstHalfTotalBytes, total);
        else this.peak.secondHalfTotalBytes = Math.max(this.peak.secondHalfTotalBytes, total);
      }
    }
    return { ...this.peak };
  }
}
