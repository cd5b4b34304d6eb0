/**
 * Real frames for the preprocessing reference tests: a one-frame clip with
 * detail, its first frame decoded at full resolution the way the pipeline
 * converts it, and the per-byte difference of two pictures. Test support
 * only: spawns ffmpeg directly.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ffmpeg, videoCodecArgs } from './clips.ts';
import type { RgbImage } from './reference-transform.ts';

/** A one-frame clip in `dir` with real content: testsrc2 (edges, gradients, text) plus noise. */
export function makeSourceFrame(dir: string, width: number, height: number): string {
  const path = join(dir, `src_${width}x${height}.mkv`);
  ffmpeg(['-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=10,noise=alls=12:allf=t`, '-frames:v', '1', ...videoCodecArgs(1), path]);
  return path;
}

/** The clip's first frame at full resolution, with the pipeline's accurate YUV -> RGB conversion (chroma interpolated, exact rounding). */
export function decodeFullResolution(path: string, width: number, height: number): RgbImage {
  const data = ffmpeg([
    '-i',
    path,
    '-vf',
    'scale=flags=bicubic+accurate_rnd+full_chroma_int,format=rgb24',
    '-frames:v',
    '1',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  ]);
  assert.equal(data.length, width * height * 3);
  return { width, height, data };
}

/** |a - b| over every byte, in 0..255 units: mean, 99th percentile, max. */
export function diffStats(a: Uint8Array, b: Uint8Array): { mean: number; p99: number; max: number } {
  assert.equal(a.length, b.length);
  const histogram = new Array<number>(256).fill(0);
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    histogram[d]!++;
    sum += d;
  }
  let max = 0;
  let p99 = -1;
  let seen = 0;
  for (let d = 0; d < 256; d++) {
    const n = histogram[d]!;
    if (n > 0) max = d;
    seen += n;
    if (p99 < 0 && seen >= a.length * 0.99) p99 = d;
  }
  return { mean: sum / a.length, p99, max };
}
