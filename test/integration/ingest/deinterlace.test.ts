/**
 * Interlaced video (broadcast recordings, DV, DVD): analyze and index
 * deinterlace what the decoder flags interlaced, so a moving edge reaches
 * the model as an edge, not as a comb of alternating lines from two
 * moments 20 ms apart; progressive video is decoded as before.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Frame, FrameGeometry } from '../../../src/contracts/frame.ts';
import { buildDecodeArgs, DEINTERLACE_FILTER } from '../../../src/ingest/ffmpeg-args.ts';
import { decodeFrames } from '../../../src/ingest/file-decoder.ts';
import { probeInput } from '../../../src/ingest/probe.ts';
import { ffmpeg } from '../../helpers/clips.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const { dir, cleanup } = makeTempDir('streamsight-interlaced-');
const interlaced = join(dir, 'interlaced.mp4');
const progressive = join(dir, 'progressive.mp4');
/** No downscale (576 lines stay 576): the comb would otherwise be blurred away before it is measured. */
const geometry: FrameGeometry = { resize: { shorter: 576 }, cropWidth: 512, cropHeight: 512 };

before(() => {
  // 50 moving pictures a second woven into 25 interlaced frames (top field first), as a PAL camera records.
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=720x576:rate=50',
    '-t',
    '2',
    '-vf',
    'tinterlace=interleave_top,setfield=tff',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-flags',
    '+ilme+ildct',
    '-x264-params',
    'tff=1',
    '-r',
    '25',
    interlaced,
  ]);
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=720x576:rate=25', '-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', progressive]);
});
after(cleanup);

/** Mean distance of each line from the mean of its neighbours (red channel): high where lines alternate (a comb). */
function combing(frame: Frame): number {
  const { width, height, data } = frame;
  let sum = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 0; x < width; x++) {
      const at = (yy: number): number => data[(yy * width + x) * 3]!;
      sum += Math.abs(at(y) - (at(y - 1) + at(y + 1)) / 2);
    }
  }
  return sum / ((height - 2) * width);
}

async function decode(file: string, deinterlace: boolean): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const f of decodeFrames(file, { streamId: file, runId: 'r', sampling: { mode: 'every' }, geometry, deinterlace })) frames.push(f);
  return frames;
}

test('probe tells an interlaced stream (field order) from a progressive one', async () => {
  assert.equal((await probeInput(interlaced)).interlaced, true);
  assert.equal((await probeInput(progressive)).interlaced, false);
});

test('deinterlaced: the comb is gone, and the frames and their times are the same ones', async () => {
  const combed = await decode(interlaced, false);
  const clean = await decode(interlaced, true);
  assert.equal(combed.length, 50);
  assert.deepEqual(
    clean.map((f) => f.ptsMs),
    combed.map((f) => f.ptsMs),
    'one frame out per frame in, same times',
  );
  const mean = (fs: Frame[]): number => fs.reduce((n, f) => n + combing(f), 0) / fs.length;
  const before = mean(combed);
  const after = mean(clean);
  // The progressive clip of the same pictures, as the scale of "no comb".
  const reference = mean(await decode(progressive, false));
  assert.ok(after < before / 2, `combing ${before.toFixed(2)} -> ${after.toFixed(2)} (progressive: ${reference.toFixed(2)})`);
  assert.ok(after < reference * 1.5, `deinterlaced ${after.toFixed(2)} is near progressive ${reference.toFixed(2)}`);
});

test('progressive frames pass untouched even when asked (only frames flagged interlaced are deinterlaced)', async () => {
  const plain = await decode(progressive, false);
  const asked = await decode(progressive, true);
  assert.equal(asked.length, plain.length);
  for (const [i, f] of asked.entries()) assert.ok(f.data.equals(plain[i]!.data), `frame ${i} changed`);
});

test('the filter runs first (it needs the neighbouring frames, so before sampling), and only when asked', () => {
  const args = (deinterlace: boolean): string => {
    const a = buildDecodeArgs({ input: 'x.mp4', sampling: { mode: 'fps', fps: 2 }, geometry, deinterlace });
    return a[a.indexOf('-vf') + 1]!;
  };
  assert.ok(args(true).startsWith(`${DEINTERLACE_FILTER},select=`), args(true));
  assert.ok(!args(false).includes('bwdif'));
});
