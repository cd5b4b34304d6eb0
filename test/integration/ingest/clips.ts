/**
 * Test clips made on the spot with ffmpeg, and ffprobe's independent view of
 * them. Test support only: spawns ffmpeg directly, not through the module
 * under test.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function makeTempDir(prefix = 'streamsight-ingest-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function ffmpeg(args: string[]): Buffer {
  return execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args], {
    maxBuffer: 1 << 28,
  });
}

let x264: boolean | null = null;
/** Encoder arguments: H.264 when libx264 is built in, else MPEG-4 part 2. */
export function videoCodecArgs(gop: number): string[] {
  if (x264 === null) {
    const encoders = execFileSync('ffmpeg', ['-hide_banner', '-encoders']).toString();
    x264 = /\blibx264\b/.test(encoders);
  }
  return x264
    ? ['-c:v', 'libx264', '-preset', 'veryfast', '-g', String(gop), '-pix_fmt', 'yuv420p']
    : ['-c:v', 'mpeg4', '-q:v', '3', '-g', String(gop), '-pix_fmt', 'yuv420p'];
}

/** A testsrc2 clip: `seconds` long at `rate` fps, keyframe every `gop` frames. */
export function makeClip(
  path: string,
  opts: { size?: string; rate?: number; seconds?: number; gop?: number; vf?: string; extra?: string[] } = {},
): string {
  const { size = '320x240', rate = 30, seconds = 4, gop = 30 } = opts;
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${size}:rate=${rate}`,
    '-t',
    String(seconds),
    ...(opts.vf ? ['-vf', opts.vf] : []),
    ...videoCodecArgs(gop),
    ...(opts.extra ?? []),
    path,
  ]);
  return path;
}

export interface ProbedFrame {
  /** pts as an exact rational: pts * tbNum / tbDen seconds. */
  pts: number;
  keyFrame: boolean;
}

export interface ProbedFrames {
  tbNum: number;
  tbDen: number;
  startTime: number;
  frames: ProbedFrame[];
}

/** Every decoded frame of the first video stream, as ffprobe reports it. */
export function probeFrames(path: string): ProbedFrames {
  const json = execFileSync(
    'ffprobe',
    [
      '-v', 'error', '-select_streams', 'v:0',
      '-show_entries', 'frame=pts,key_frame:stream=time_base:format=start_time',
      '-of', 'json', path,
    ],
    { maxBuffer: 1 << 26 },
  ).toString();
  const parsed = JSON.parse(json) as {
    frames: { pts?: number; key_frame: number }[];
    streams: { time_base: string }[];
    format: { start_time?: string };
  };
  const [tbNum, tbDen] = (parsed.streams[0]?.time_base ?? '1/1').split('/').map(Number);
  return {
    tbNum: tbNum ?? 1,
    tbDen: tbDen ?? 1,
    startTime: Number(parsed.format.start_time ?? 0),
    frames: parsed.frames.map((f) => ({ pts: f.pts ?? Number.NaN, keyFrame: f.key_frame === 1 })),
  };
}

/** Milliseconds of a probed pts, rounded to the microsecond like the decoder. */
export function ptsToMs(p: ProbedFrames, pts: number): number {
  return Math.round(((pts * p.tbNum * 1000) / p.tbDen) * 1000) / 1000;
}

/** pids of this process's live ffmpeg/ffprobe children, from /proc. */
export function childFfmpegPids(): number[] {
  const pids: number[] = [];
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
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const [state, ppid] = stat.slice(close + 2).split(' ');
    if (Number(ppid) === process.pid && /^ff(mpeg|probe)$/.test(comm) && state !== 'Z') pids.push(Number(entry));
  }
  return pids;
}

/** Zombie children of this process (exited, not reaped). */
export function zombieChildren(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === process.pid && rest[0] === 'Z') pids.push(Number(entry));
    } catch {
      continue;
    }
  }
  return pids;
}

export async function waitFor(check: () => boolean, timeoutMs = 3000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}
