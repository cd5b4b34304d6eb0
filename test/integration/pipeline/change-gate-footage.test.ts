/**
 * The change gate on footage made with ffmpeg and decoded as serve decodes
 * it (decodeFrames to resnet's 224x224 input, 5 frames/s): sensor noise and
 * H.264 flicker on a still scene are not change, an object walking in is.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Frame } from '../../../src/contracts/frame.ts';
import { decodeFrames } from '../../../src/ingest/file-decoder.ts';
import { ChangeGate, GATE_NOISE_FLOOR, changedFraction, lumaThumbnail } from '../../../src/pipeline/change-gate.ts';
import { ffmpeg } from '../../helpers/clips.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

let tmp: ReturnType<typeof makeTempDir>;
const clip = (name: string): string => join(tmp.dir, name);
const SCENE = 'smptehdbars=size=1280x720:rate=25';
/** A dark "person" 90x260 px that walks in from the right at 3 s. */
const WALKER = 'color=c=0x303030:size=90x260:rate=25';

before(() => {
  tmp = makeTempDir('ss-gate-');
  // Still scene, strong temporal noise (+-20 levels per pixel, new every frame), encoded at camera-like quality.
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    SCENE,
    '-t',
    '6',
    '-vf',
    'noise=alls=20:allf=t',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-crf',
    '30',
    '-g',
    '25',
    '-pix_fmt',
    'yuv420p',
    clip('noise.mp4'),
  ]);
  // Still scene starved of bitrate with a key frame every 10 frames: each GOP re-quantises the picture (flicker).
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    SCENE,
    '-t',
    '6',
    '-vf',
    'noise=alls=8:allf=t',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-b:v',
    '150k',
    '-g',
    '10',
    '-pix_fmt',
    'yuv420p',
    clip('flicker.mp4'),
  ]);
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    SCENE,
    '-f',
    'lavfi',
    '-i',
    WALKER,
    '-t',
    '6',
    '-filter_complex',
    "[0][1]overlay=x='if(lt(t,3),-200,1280-(t-3)*300)':y=300,noise=alls=20:allf=t",
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-crf',
    '30',
    '-g',
    '25',
    '-pix_fmt',
    'yuv420p',
    clip('walk-in.mp4'),
  ]);
});

after(() => tmp.cleanup());

async function frames(file: string): Promise<Frame[]> {
  const out: Frame[] = [];
  const decode = decodeFrames(file, {
    streamId: 's',
    runId: 'r',
    sampling: { mode: 'fps', fps: 5 },
    geometry: { resize: { shorter: 256 }, cropWidth: 224, cropHeight: 224 },
  });
  for await (const f of decode) out.push(f);
  return out;
}

/** Each frame's gate decision, with maxSkipMs out of the way. */
function decisions(fs: readonly Frame[], threshold = 0.01, maxSkipMs = 60_000): { infer: boolean; score: number; ptsMs: number }[] {
  const gate = new ChangeGate({ threshold, maxSkipMs });
  return fs.map((f) => ({ ...gate.decide(f, f.ptsMs), ptsMs: f.ptsMs }));
}

describe('the change gate on real footage', () => {
  test('a still scene under temporal noise: no block mean moves past the noise floor, only the first frame is inferred', async () => {
    const fs = await frames(clip('noise.mp4'));
    assert.ok(fs.length >= 25, `frames: ${fs.length}`);
    const first = lumaThumbnail(fs[0]!).means;
    // The noise does move block means, a little: the measure is not trivially blind.
    let moved = 0;
    for (const f of fs.slice(1)) {
      const t = lumaThumbnail(f).means;
      for (let i = 0; i < t.length; i++) moved = Math.max(moved, Math.abs(t[i]! - first[i]!));
    }
    assert.ok(moved > 0.5 && moved < GATE_NOISE_FLOOR, `largest block move ${moved}`);
    const d = decisions(fs);
    assert.deepEqual(d.map((x) => x.infer).filter(Boolean).length, 1);
  });

  test('H.264 flicker (a starved bitrate, a key frame every 10 frames) is not change either', async () => {
    const fs = await frames(clip('flicker.mp4'));
    const d = decisions(fs);
    assert.equal(d.filter((x) => x.infer).length, 1, d.map((x) => x.score.toFixed(3)).join(' '));
    assert.ok(Math.max(...d.slice(1).map((x) => x.score)) < 0.01);
  });

  test('a person walking in is change: every frame after the entry is inferred while it moves', async () => {
    const fs = await frames(clip('walk-in.mp4'));
    const d = decisions(fs);
    const before3s = d.filter((x) => x.ptsMs < 3000);
    assert.equal(before3s.filter((x) => x.infer).length, 1, 'the still part: only the first frame');
    // From 3.2 s the walker is in the picture (it enters the 224 crop, centred, a little later) and moves 60 px per frame.
    const entered = d.findIndex((x) => x.ptsMs >= 3000 && x.infer);
    assert.ok(entered > 0, 'the entry is inferred');
    const moving = d.slice(entered);
    assert.ok(moving.length >= 5);
    assert.ok(
      moving.every((x) => x.infer),
      moving.map((x) => `${x.ptsMs}:${x.score.toFixed(3)}`).join(' '),
    );
    // Against the first frame (not the previous one) the walker covers a few percent of the blocks.
    const last = fs[fs.length - 1]!;
    assert.ok(changedFraction(lumaThumbnail(fs[0]!).means, lumaThumbnail(last).means) > 0.02);
  });

  test('maxSkipMs: on a still scene a frame is inferred again once maxSkipMs of the stream has passed', async () => {
    const fs = await frames(clip('noise.mp4'));
    const d = decisions(fs, 0.01, 1000);
    const inferredAt = d.filter((x) => x.infer).map((x) => x.ptsMs);
    assert.ok(inferredAt.length >= 5, inferredAt.join(' '));
    for (let i = 1; i < inferredAt.length; i++) assert.equal(inferredAt[i]! - inferredAt[i - 1]!, 1000);
  });
});
