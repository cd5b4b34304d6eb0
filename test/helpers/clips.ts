/**
 * Test clips made on the spot with ffmpeg's lavfi sources, and ffprobe's
 * independent view of them. Test support only: spawns ffmpeg directly, not
 * through the modules under test.
 */
import { execFileSync } from 'node:child_process';

/** Runs ffmpeg quietly (`-nostdin -loglevel error -y`); answers its stdout. */
export function ffmpeg(args: string[]): Buffer {
  return execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args], {
    maxBuffer: 1 << 28,
  });
}

let x264: boolean | null = null;
/** Encoder arguments: H.264 (libx264 at `preset`) when ffmpeg has libx264, else MPEG-4 part 2. */
export function videoCodecArgs(gop: number, preset = 'veryfast'): string[] {
  if (x264 === null) {
    const encoders = execFileSync('ffmpeg', ['-hide_banner', '-encoders']).toString();
    x264 = /\blibx264\b/.test(encoders);
  }
  return x264
    ? ['-c:v', 'libx264', '-preset', preset, '-g', String(gop), '-pix_fmt', 'yuv420p']
    : ['-c:v', 'mpeg4', '-q:v', '3', '-g', String(gop), '-pix_fmt', 'yuv420p'];
}

export interface ClipOptions {
  /** Length, seconds. */
  seconds: number;
  /** testsrc2's size, WxH. Default 320x240. */
  size?: string;
  /** testsrc2's frame rate, frames/s. Default 25. */
  rate?: number;
  /** A key frame every `gop` frames. Default 25. */
  gop?: number;
  /** A lavfi source (graph) instead of testsrc2, e.g. `colourSpans(...)` of `colour-model.ts`. */
  source?: string;
  /** A filter chain (`-vf`) applied before encoding. */
  vf?: string;
  /** libx264's preset. Default ultrafast (no B-frames); veryfast has B-frames. */
  preset?: string;
  /** Output arguments put before the file name (`-movflags`, `-f`). */
  extra?: string[];
}

/** Makes `file`: a testsrc2 clip (or `source`), H.264 yuv420p; answers `file`. */
export function makeClip(file: string, opts: ClipOptions): string {
  const { seconds, size = '320x240', rate = 25, gop = 25, preset = 'ultrafast' } = opts;
  const source = opts.source ?? `testsrc2=size=${size}:rate=${rate}`;
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    source,
    '-t',
    String(seconds),
    ...(opts.vf ? ['-vf', opts.vf] : []),
    ...videoCodecArgs(gop, preset),
    ...(opts.extra ?? []),
    file,
  ]);
  return file;
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
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pts,key_frame:stream=time_base:format=start_time', '-of', 'json', path],
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

/** A quadrant pattern, `w`x`h`, at `rate` fps for `seconds` (a filtergraph for -filter_complex with inputs). */
export function quadInputs(w: number, h: number, rate: number, seconds: number): string[] {
  const q = `s=${w / 2}x${h / 2}:r=${rate}:d=${seconds}`;
  return [
    '-f',
    'lavfi',
    '-i',
    `color=red:${q}`,
    '-f',
    'lavfi',
    '-i',
    `color=green:${q}`,
    '-f',
    'lavfi',
    '-i',
    `color=blue:${q}`,
    '-f',
    'lavfi',
    '-i',
    `color=white:${q}`,
  ];
}
/** Stacks quadInputs' four inputs: red top left, green top right, blue bottom left, white bottom right. */
export const QUAD_GRAPH = '[0][1]hstack[t];[2][3]hstack[b];[t][b]vstack';
