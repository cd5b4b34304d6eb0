/**
 * live.fastScale with real ffmpeg: frames of the one-pass resize + RGB
 * conversion against the default (conversion at the source resolution, then
 * the resize) on the same clip, frame by frame: same size, same timestamps,
 * pixels about two levels apart on average. Measured here on testsrc2 (hard
 * colour edges) under strong temporal noise: mean 1.9-2.1/255, p99 11-23
 * (a camera clip at 4 Mbit/s without added noise: mean 0.3-0.6, p99 5): the
 * exact path clips each full-resolution pixel to 0..255 before averaging,
 * the one pass averages first.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { FrameGeometry } from '../../../src/contracts/frame.ts';
import { decodeFrames } from '../../../src/ingest/file-decoder.ts';
import { makeClip } from '../../helpers/clips.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const { dir, cleanup } = makeTempDir('streamsight-fast-scale-');
after(cleanup);

async function frames(path: string, geometry: FrameGeometry): Promise<Array<{ ptsMs: number; data: Buffer }>> {
  const out: Array<{ ptsMs: number; data: Buffer }> = [];
  for await (const f of decodeFrames(path, { streamId: 's', runId: 'r', sampling: { mode: 'fps', fps: 5 }, geometry }))
    out.push({ ptsMs: f.ptsMs, data: f.data });
  return out;
}

for (const size of ['1280x720', '640x480']) {
  test(`${size}: the one-pass scale gives the same frames as the exact path, about two levels apart on average`, async (t) => {
    const clip = join(dir, `clip-${size}.mp4`);
    makeClip(clip, { seconds: 2, size, rate: 25, vf: 'noise=alls=10:allf=t' });
    const geometry: FrameGeometry = { resize: { shorter: 256 }, cropWidth: 224, cropHeight: 224 };
    const [exact, fast] = await Promise.all([frames(clip, geometry), frames(clip, { ...geometry, fastScale: true })]);
    assert.equal(fast.length, exact.length);
    assert.equal(exact.length, 10);
    let sum = 0;
    const diffs: number[] = [];
    fast.forEach((f, i) => {
      assert.equal(f.ptsMs, exact[i]!.ptsMs);
      assert.equal(f.data.length, 224 * 224 * 3);
      for (let j = 0; j < f.data.length; j += 7) {
        const d = Math.abs(f.data[j]! - exact[i]!.data[j]!);
        diffs.push(d);
        sum += d;
      }
    });
    diffs.sort((a, b) => a - b);
    const mean = sum / diffs.length;
    const p99 = diffs[Math.floor(diffs.length * 0.99)]!;
    t.diagnostic(`mean ${mean.toFixed(3)} p99 ${p99} max ${diffs[diffs.length - 1]}`);
    assert.ok(mean > 0, 'the two paths are different code (otherwise this compares a path with itself)');
    assert.ok(mean < 3 && p99 <= 32, `mean ${mean} p99 ${p99}`);
  });
}
