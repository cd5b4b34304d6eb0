import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Frame, FrameGeometry, Sampling } from '../../../src/contracts/frame.ts';
import { decodeFrames } from '../../../src/ingest/file-decoder.ts';
import { expectedSampledFrames, probeInput } from '../../../src/ingest/probe.ts';
import { makeClip, probeFrames, ptsToMs, type ProbedFrames } from '../../helpers/clips.ts';
import { childFfmpegPids } from '../../helpers/processes.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { waitFor } from '../../helpers/wait.ts';

const geometry: FrameGeometry = { resize: { shorter: 256 }, cropWidth: 224, cropHeight: 224 };

/**
 * What each sampling mode must yield, computed from ffprobe's frame list
 * with exact integer arithmetic (no ffmpeg filter involved):
 * fps N keeps the first frame of each bucket floor(t * N) after the last kept one.
 */
function expectedPts(p: ProbedFrames, sampling: Sampling): number[] {
  const start = Math.round((p.startTime * p.tbDen) / p.tbNum);
  const frames = p.frames.map((f) => ({ ...f, pts: f.pts - start }));
  switch (sampling.mode) {
    case 'every':
      return frames.map((f) => ptsToMs(p, f.pts));
    case 'keyframes':
      return frames.filter((f) => f.keyFrame).map((f) => ptsToMs(p, f.pts));
    case 'fps': {
      const out: number[] = [];
      let lastBucket = -Infinity;
      for (const f of frames) {
        // Integer bucket index: floor(pts * num * N / den), N an integer here.
        const bucket = Math.floor((f.pts * p.tbNum * sampling.fps) / p.tbDen);
        if (bucket > lastBucket) {
          out.push(ptsToMs(p, f.pts));
          lastBucket = bucket;
        }
      }
      return out;
    }
  }
}

async function decodeAll(input: string, sampling: Sampling): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const f of decodeFrames(input, { streamId: 'cam', runId: 'run-1', sampling, geometry })) frames.push(f);
  return frames;
}

const { dir, cleanup } = makeTempDir();
const clips: Record<string, string> = {};
const probed = new Map<string, ProbedFrames>();
function probeOnce(input: string): ProbedFrames {
  let p = probed.get(input);
  if (!p) {
    p = probeFrames(input);
    probed.set(input, p);
  }
  return p;
}

before(() => {
  // 30 fps CFR, keyframe every 30 frames, B-frames (x264 default): pts order != decode order.
  clips.cfr30 = makeClip(join(dir, 'cfr30.mp4'), { rate: 30, seconds: 4, gop: 30, preset: 'veryfast' });
  // 25 fps with a keyframe every 12 frames, in Matroska (1 ms time base).
  clips.mkv25 = makeClip(join(dir, 'mkv25.mkv'), { size: '352x288', rate: 25, seconds: 3, gop: 12, preset: 'veryfast' });
  // Variable frame rate: 25 fps with per-frame jitter of 0..28 ms (pts stays increasing).
  clips.vfr = makeClip(join(dir, 'vfr.mp4'), {
    rate: 25,
    seconds: 3,
    gop: 20,
    preset: 'veryfast',
    vf: 'settb=1/90000,setpts=(N/25+0.007*mod(N*7\\,5))/TB',
    extra: ['-fps_mode', 'vfr', '-enc_time_base', '1/90000', '-video_track_timescale', '90000'],
  });
  const vfr = probeOnce(clips.vfr);
  const steps = new Set(vfr.frames.slice(1).map((f, i) => f.pts - (vfr.frames[i]?.pts ?? 0)));
  assert.ok(steps.size >= 3, 'the vfr clip really has uneven frame intervals');
  for (const name of Object.keys(clips)) {
    const keys = probeOnce(clips[name] ?? '').frames.filter((f) => f.keyFrame).length;
    assert.ok(keys > 1, `${name} has several keyframes`);
  }
});

after(cleanup);

const modes: Sampling[] = [{ mode: 'fps', fps: 1 }, { mode: 'fps', fps: 2 }, { mode: 'every' }, { mode: 'keyframes' }];

describe('sampled frames and their source timestamps match ffprobe', () => {
  for (const name of ['cfr30', 'mkv25', 'vfr']) {
    for (const sampling of modes) {
      const label = sampling.mode === 'fps' ? `fps ${sampling.fps}` : sampling.mode;
      test(`${name}: ${label}`, async () => {
        const input = clips[name] ?? '';
        const want = expectedPts(probeOnce(input), sampling);
        const frames = await decodeAll(input, sampling);
        assert.deepEqual(
          frames.map((f) => f.ptsMs),
          want,
          'ptsMs of every yielded frame, in order',
        );
        assert.deepEqual(
          frames.map((f) => f.seq),
          want.map((_, i) => i),
          'seq counts from 0',
        );
        for (const f of frames) {
          assert.equal(f.streamId, 'cam');
          assert.equal(f.runId, 'run-1');
          assert.equal(f.width, 224);
          assert.equal(f.height, 224);
          assert.equal(f.data.length, 224 * 224 * 3);
        }
        for (let i = 1; i < frames.length; i++) {
          assert.ok((frames[i]?.capturedAt ?? 0) >= (frames[i - 1]?.capturedAt ?? 0), 'capturedAt never goes back');
        }
      });
    }
  }
});

test('fps sampling keeps one frame per second bucket: 4 s at 30 fps, --fps 1 and 2', async () => {
  const one = await decodeAll(clips.cfr30 ?? '', { mode: 'fps', fps: 1 });
  assert.deepEqual(
    one.map((f) => f.ptsMs),
    [0, 1000, 2000, 3000],
  );
  const two = await decodeAll(clips.cfr30 ?? '', { mode: 'fps', fps: 2 });
  assert.deepEqual(
    two.map((f) => f.ptsMs),
    [0, 500, 1000, 1500, 2000, 2500, 3000, 3500],
  );
});

test('probe reports the clip and estimates the sampled frame count', async () => {
  const probe = await probeInput(clips.cfr30 ?? '');
  assert.equal(probe.width, 320);
  assert.equal(probe.height, 240);
  assert.equal(probe.fps, 30);
  assert.equal(probe.durationMs, 4000);
  assert.equal(probe.frameCount, 120);
  assert.equal(probe.frameCountEstimated, false);
  assert.ok(probe.hasVideo);
  assert.equal(expectedSampledFrames(probe, { mode: 'fps', fps: 1 }), 4);
  assert.equal(expectedSampledFrames(probe, { mode: 'fps', fps: 2 }), 8);
  assert.equal(expectedSampledFrames(probe, { mode: 'every' }), 120);
  assert.equal(expectedSampledFrames(probe, { mode: 'fps', fps: 60 }), 120, 'never more than the frames there are');
  const mkv = await probeInput(clips.mkv25 ?? '');
  assert.equal(mkv.frameCount, 75, 'Matroska has no nb_frames: duration * fps');
  assert.equal(mkv.frameCountEstimated, true);
});

test('a slow consumer pauses ffmpeg instead of buffering the whole file', async () => {
  const decode = decodeFrames(clips.cfr30 ?? '', { streamId: 's', runId: 'r', sampling: { mode: 'every' }, geometry });
  let seen = 0;
  let aliveWhileSlow = false;
  for await (const _frame of decode) {
    seen++;
    // Unthrottled, ffmpeg decodes these 120 frames in well under a second.
    await new Promise((r) => setTimeout(r, 100));
    if (seen === 8) {
      aliveWhileSlow = childFfmpegPids().length === 1;
      break;
    }
  }
  assert.ok(aliveWhileSlow, 'ffmpeg still running after 0.8 s: it was blocked on the full pipe');
  assert.equal(decode.stats.frames, 8);
  await waitFor('breaking out to stop ffmpeg', () => childFfmpegPids().length === 0, { timeoutMs: 3000, intervalMs: 20 });
});

test('stats of a clean decode show no errors', async () => {
  const decode = decodeFrames(clips.mkv25 ?? '', { streamId: 's', runId: 'r', sampling: { mode: 'every' }, geometry });
  let n = 0;
  for await (const _f of decode) n++;
  assert.equal(n, 75);
  assert.deepEqual(
    { frames: decode.stats.frames, errorLines: decode.stats.errorLines, leftover: decode.stats.leftoverBytes, exit: decode.stats.exitCode },
    { frames: 75, errorLines: 0, leftover: 0, exit: 0 },
  );
});

test('a sampled frame leaves ffmpeg when it is decoded, not when the next one is sampled (live latency)', async () => {
  const live = makeClip(join(dir, 'live.mp4'), { size: '160x120', rate: 10, seconds: 10, gop: 10, preset: 'veryfast' });
  // Real time (-re), one frame per 4 s: frame 0 is due at once; held back
  // until the next sample it would come after ~4 s.
  const started = Date.now();
  let firstAfter = -1;
  for await (const f of decodeFrames(live, { streamId: 's', runId: 'r', sampling: { mode: 'fps', fps: 0.25 }, geometry, realtime: true })) {
    firstAfter = f.capturedAt - started;
    break;
  }
  assert.ok(firstAfter >= 0 && firstAfter < 2500, `first frame after ${firstAfter} ms`);
});
