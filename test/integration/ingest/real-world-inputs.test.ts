/**
 * The kinds of files a real archive holds, decoded as `analyze`/`index` and
 * `search --image` decode them: containers and codecs, rotated phone video,
 * anamorphic (non-square pixel) video, odd/tiny/4K sizes, 10-bit, 4:4:4,
 * grayscale, variable frame rate, offset timestamps, B-frames, edit lists,
 * two video streams, cover pictures, and pictures of many kinds.
 *
 * Content is checked, not just survival: every clip shows a quadrant
 * pattern (top-left red, top-right green, bottom-left blue, bottom-right
 * white), and each decoded frame must show it as a player would.
 */
import { IMAGENET_PREPROCESS } from '../../../src/contracts/preprocess.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Frame, FrameGeometry } from '../../../src/contracts/frame.ts';
import { decodeFrames } from '../../../src/ingest/file-decoder.ts';
import { probeInput } from '../../../src/ingest/probe.ts';
import { decodeQueryImage } from '../../../src/indexing/image-query.ts';
import { StreamSightError } from '../../../src/shared/errors.ts';
import { ffmpeg, QUAD_GRAPH, quadInputs } from '../../helpers/clips.ts';
import { PICTURE_LIMITS } from '../../helpers/picture-limits.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

/** Small frames: the checks are about geometry and time, not about detail. */
const S = 64;
const geometry: FrameGeometry = { resize: { shorter: S }, cropWidth: S, cropHeight: S };
const preprocess = { ...IMAGENET_PREPROCESS, resize: { shorter: S }, inputWidth: S, inputHeight: S };
const { dir, cleanup } = makeTempDir('streamsight-real-world-');
const file = (name: string): string => join(dir, name);

const encoders = execFileSync('ffmpeg', ['-hide_banner', '-encoders']).toString();
const hasEncoder = (name: string): boolean => new RegExp(`\\s${name}\\s`).test(encoders);

function makeQuad(name: string, opts: { size?: [number, number]; rate?: number; seconds?: number; post?: string; out: string[] }): string {
  const [w, h] = opts.size ?? [160, 120];
  ffmpeg([
    ...quadInputs(w, h, opts.rate ?? 25, opts.seconds ?? 2),
    '-filter_complex',
    QUAD_GRAPH + (opts.post ? `,${opts.post}` : ''),
    ...opts.out,
    file(name),
  ]);
  return file(name);
}

type Colour = 'R' | 'G' | 'B' | 'W' | '?';
function colourAt(frame: Frame, x: number, y: number): Colour {
  const i = (y * frame.width + x) * 3;
  const [r, g, b] = [frame.data[i]!, frame.data[i + 1]!, frame.data[i + 2]!];
  if (r > 190 && g > 190 && b > 190) return 'W';
  if (r > 150 && g < 90 && b < 90) return 'R';
  if (g > 90 && r < 90 && b < 90) return 'G';
  if (b > 150 && r < 90 && g < 90) return 'B';
  return '?';
}
/** Top-left, top-right, bottom-left, bottom-right, sampled well inside each quadrant of the centre crop. */
const quadrants = (f: Frame): string => [colourAt(f, 16, 16), colourAt(f, 48, 16), colourAt(f, 16, 48), colourAt(f, 48, 48)].join('');
/** Luma order of the quadrants for a grayscale source: red, green, blue, white as grey levels. */
const lumaOf = (f: Frame, x: number, y: number): number => f.data[(y * f.width + x) * 3]!;

async function decode(path: string, fps = 2): Promise<{ frames: Frame[]; error: unknown }> {
  const frames: Frame[] = [];
  try {
    for await (const f of decodeFrames(path, { streamId: 's', runId: 'r', sampling: { mode: 'fps', fps }, geometry })) frames.push(f);
    return { frames, error: null };
  } catch (error) {
    return { frames, error };
  }
}

/** ptsMs of the first frame of each 1/fps s bucket of a constant `rate` clip of `seconds` starting at 0. */
function expectedPts(rate: number, seconds: number, fps: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < seconds * fps; k++) out.push(Math.round((Math.ceil((k * rate) / fps - 1e-9) / rate) * 1000) + 0); // + 0: no -0
  return out;
}

/** The same sampling done on ffprobe's independent list of the frames: the first frame of each 1/fps s bucket, ms from the start. */
function sampledByFfprobe(path: string, fps: number): number[] {
  // best_effort_timestamp: some containers (MPEG-PS) leave a frame's pts unset.
  const csv = execFileSync('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'frame=best_effort_timestamp_time',
    '-of',
    'csv=p=0',
    path,
  ]).toString();
  const start = Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=start_time', '-of', 'csv=p=0', path]).toString().trim() || 0);
  const times = csv
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (Number(l.split(',')[0]) - start) * 1000)
    .sort((a, b) => a - b);
  const out: number[] = [];
  let lastBucket = -1;
  for (const t of times) {
    const bucket = Math.floor((t / 1000) * fps + 1e-9);
    if (bucket > lastBucket) out.push(Math.round(t * 1000) / 1000 + 0);
    lastBucket = Math.max(lastBucket, bucket);
  }
  return out;
}

function assertFailure(error: unknown, code: string, message: RegExp): void {
  assert.ok(error instanceof StreamSightError, `expected a StreamSightError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  assert.match(error.message, message);
  assert.doesNotMatch(error.message, /\n/, 'one line');
}

after(cleanup);

describe('containers and codecs: frame count, times and picture', () => {
  // sparse: the encoder writes no frame where nothing changed (libtheora's duplicates), so fewer than 4 come out.
  const cases: { name: string; encoder: string; out: string[]; rate?: number; sparse?: boolean }[] = [
    { name: 'h264.mp4', encoder: 'libx264', out: ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'] },
    { name: 'hevc.mp4', encoder: 'libx265', out: ['-c:v', 'libx265', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-x265-params', 'log-level=none'] },
    { name: 'h264.mkv', encoder: 'libx264', out: ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'] },
    { name: 'vp9.webm', encoder: 'libvpx-vp9', out: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-b:v', '200k'] },
    { name: 'av1.webm', encoder: 'libaom-av1', out: ['-c:v', 'libaom-av1', '-cpu-used', '8', '-b:v', '200k'] },
    { name: 'prores.mov', encoder: 'prores_ks', out: ['-c:v', 'prores_ks'] },
    { name: 'mjpeg.avi', encoder: 'mjpeg', out: ['-c:v', 'mjpeg', '-q:v', '3'] },
    { name: 'flv.flv', encoder: 'flv', out: ['-c:v', 'flv', '-q:v', '3'] },
    { name: 'h264.ts', encoder: 'libx264', out: ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'] },
    { name: 'theora.ogv', encoder: 'libtheora', out: ['-c:v', 'libtheora', '-q:v', '7'], sparse: true },
    { name: 'mpeg2.mpg', encoder: 'mpeg2video', out: ['-c:v', 'mpeg2video', '-q:v', '3'] },
    { name: 'anim.gif', encoder: 'gif', out: [], rate: 10 },
  ];
  for (const c of cases) {
    test(
      `${c.name}: --fps 2 over 2 s gives 4 frames at the first frame of each half second, upright`,
      { skip: !hasEncoder(c.encoder) && `no ${c.encoder} encoder` },
      async () => {
        const rate = c.rate ?? 25;
        const path = makeQuad(c.name, { rate, out: c.out });
        const { frames, error } = await decode(path);
        assert.equal(error, null, String(error));
        assert.deepEqual(
          frames.map((f) => f.ptsMs),
          sampledByFfprobe(path, 2),
        );
        if (!c.sparse)
          assert.deepEqual(
            frames.map((f) => f.ptsMs),
            expectedPts(rate, 2, 2),
          );
        for (const f of frames) assert.equal(quadrants(f), 'RGBW', `${c.name} at ${f.ptsMs} ms`);
      },
    );
  }
});

describe('picture geometry', () => {
  /** The display rotation ffprobe reads from the file, counter-clockwise degrees (0 when none). */
  function probedRotation(path: string): number {
    const out = execFileSync('ffprobe', [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream_side_data=rotation',
      '-of',
      'csv=p=0',
      path,
    ]).toString();
    const n = Number(out.trim().split(/\s+/)[0] ?? '0');
    return Number.isFinite(n) ? ((n % 360) + 360) % 360 : 0;
  }
  /** RGBW (TL, TR, BL, BR) turned counter-clockwise by `deg`. */
  const turnedCcw = (deg: number): string => ({ 0: 'RGBW', 90: 'GWRB', 180: 'WBGR', 270: 'BRWG' })[deg] ?? '?';

  for (const [name, rotate] of [
    ['phone-90.mp4', 90],
    ['phone-180.mp4', 180],
    ['phone-270.mov', 270],
  ] as const) {
    test(`rotation metadata (${name}, rotate=${rotate}): frames come out turned as players show them`, async () => {
      const plain = makeQuad(`plain-${name}`, { out: ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'] });
      ffmpeg(['-i', plain, '-c', 'copy', '-metadata:s:v', `rotate=${rotate}`, file(name)]);
      const deg = probedRotation(file(name));
      assert.notEqual(deg, 0, 'ffmpeg wrote no display matrix');
      const probe = await probeInput(file(name));
      assert.deepEqual([probe.width, probe.height], deg === 180 ? [160, 120] : [120, 160], 'probe: the shown size');
      const { frames, error } = await decode(file(name));
      assert.equal(error, null, String(error));
      assert.equal(frames.length, 4);
      for (const f of frames) assert.equal(quadrants(f), turnedCcw(deg));
    });
  }

  test('anamorphic video (80x120 stored, SAR 2:1, shown 160x120) is resized as shown, like its square-pixel twin', async () => {
    // Four vertical stripes, 40 px each as shown. Squeezed (SAR ignored) the crop would hold all four, 16 px each.
    const graph = (w: number, sar: string): string =>
      `color=red:s=${w}x120:r=25:d=1[a];color=green:s=${w}x120:r=25:d=1[b];color=blue:s=${w}x120:r=25:d=1[c];color=white:s=${w}x120:r=25:d=1[d];[a][b][c][d]hstack=4,setsar=${sar},format=yuv420p`;
    ffmpeg(['-f', 'lavfi', '-i', graph(20, '2/1'), '-c:v', 'libx264', '-preset', 'ultrafast', file('anamorphic.mp4')]);
    ffmpeg(['-f', 'lavfi', '-i', graph(40, '1/1'), '-c:v', 'libx264', '-preset', 'ultrafast', file('square.mp4')]);
    const [anamorphic, square] = [(await decode(file('anamorphic.mp4'))).frames[0]!, (await decode(file('square.mp4'))).frames[0]!];
    const probe = await probeInput(file('anamorphic.mp4'));
    assert.deepEqual([probe.width, probe.height], [160, 120], 'probe: the shown size');
    // Shown 160x120 -> 85x64, crop x from 10: stripes of 21.3 px, so x=14 is green and x=50 blue.
    const row = (f: Frame): string => [2, 14, 34, 50, 62].map((x) => colourAt(f, x, 32)).join('');
    assert.equal(row(square), 'RGBBW');
    assert.equal(row(anamorphic), row(square));
  });

  const sizes: { name: string; size: [number, number]; pixFmt: string; encoder: string[] }[] = [
    { name: 'odd-321x241.mkv', size: [322, 242], pixFmt: 'yuv444p', encoder: ['-vf', 'scale=321:241', '-c:v', 'libx264', '-preset', 'ultrafast'] },
    { name: 'tiny-16x16.mp4', size: [16, 16], pixFmt: 'yuv420p', encoder: ['-c:v', 'libx264', '-preset', 'ultrafast'] },
    { name: 'uhd-3840x2160.mp4', size: [3840, 2160], pixFmt: 'yuv420p', encoder: ['-c:v', 'libx264', '-preset', 'ultrafast'] },
    { name: '10bit.mp4', size: [160, 120], pixFmt: 'yuv420p10le', encoder: ['-c:v', 'libx264', '-preset', 'ultrafast'] },
    { name: 'yuv444.mp4', size: [160, 120], pixFmt: 'yuv444p', encoder: ['-c:v', 'libx264', '-preset', 'ultrafast'] },
    { name: 'interlaced.mpg', size: [160, 120], pixFmt: 'yuv420p', encoder: ['-c:v', 'mpeg2video', '-flags', '+ildct+ilme', '-top', '1', '-q:v', '3'] },
  ];
  for (const s of sizes) {
    test(`${s.name}: 4 frames, upright`, async () => {
      const [w, h] = s.size;
      const encoderArgs = [...s.encoder];
      const vf = encoderArgs.indexOf('-vf');
      const post = vf >= 0 ? encoderArgs.splice(vf, 2)[1] : undefined;
      makeQuad(s.name, { size: [w, h], post: [post, `format=${s.pixFmt}`].filter(Boolean).join(','), out: encoderArgs });
      const probe = await probeInput(file(s.name));
      if (post === 'scale=321:241') assert.deepEqual([probe.width, probe.height], [321, 241]);
      const { frames, error } = await decode(file(s.name));
      assert.equal(error, null, String(error));
      assert.equal(frames.length, 4);
      for (const f of frames) assert.equal(quadrants(f), 'RGBW');
    });
  }

  test('grayscale video: the quadrants keep their grey levels (blue darkest, red and green alike, white brightest)', async () => {
    makeQuad('gray.mkv', { post: 'format=gray', out: ['-c:v', 'libx264', '-preset', 'ultrafast'] });
    const { frames, error } = await decode(file('gray.mkv'));
    assert.equal(error, null, String(error));
    assert.equal(frames.length, 4);
    const f = frames[0]!;
    const [tl, tr, bl, br] = [lumaOf(f, 16, 16), lumaOf(f, 48, 16), lumaOf(f, 16, 48), lumaOf(f, 48, 48)];
    // Luma of red (255,0,0) and of ffmpeg's green (0,128,0) are both about 76, blue's 29.
    assert.ok(bl < tl - 30 && Math.abs(tl - tr) < 10 && br > 240, `grey levels ${tl} ${tr} ${bl} ${br}`);
    assert.equal(f.data[0], f.data[1]);
  });
});

describe('timestamps', () => {
  const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];

  test('a file whose timestamps start at 1000 s (-output_ts_offset): ptsMs counts from the file start, as players show it', async () => {
    makeQuad('offset.ts', { out: [...x264, '-output_ts_offset', '1000'] });
    const start = Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=start_time', '-of', 'csv=p=0', file('offset.ts')]).toString());
    assert.ok(start >= 1000, `start_time ${start}`);
    const { frames } = await decode(file('offset.ts'));
    assert.deepEqual(
      frames.map((f) => f.ptsMs),
      expectedPts(25, 2, 2),
    );
  });

  test('variable frame rate (frames 10-40 missing): each half second yields the first frame it holds, none where it holds none', async () => {
    ffmpeg([...quadInputs(160, 120, 25, 3), '-filter_complex', `${QUAD_GRAPH},select='lt(n\\,10)+gt(n\\,40)'`, '-fps_mode', 'vfr', ...x264, file('vfr.mp4')]);
    const { frames } = await decode(file('vfr.mp4'));
    // Frames at 0-360 ms, then from 1640 ms: buckets [0.5,1) and [1,1.5) are empty.
    assert.deepEqual(
      frames.map((f) => f.ptsMs),
      [0, 1640, 2000, 2520],
    );
  });

  test('B-frames, and an edit list from a cut without re-encoding: times rise from 0, count follows the duration', async () => {
    makeQuad('bframes.mp4', { seconds: 3, out: [...x264, '-bf', '3', '-g', '25'] });
    const b = await decode(file('bframes.mp4'));
    assert.deepEqual(
      b.frames.map((f) => f.ptsMs),
      expectedPts(25, 3, 2),
    );
    // -ss before -i with -c copy starts at the keyframe before 1.3 s and writes an edit list that hides the frames before it.
    ffmpeg(['-ss', '1.3', '-i', file('bframes.mp4'), '-c', 'copy', file('editlist.mp4')]);
    const probe = await probeInput(file('editlist.mp4'));
    const e = await decode(file('editlist.mp4'));
    assert.equal(e.error, null, String(e.error));
    assert.equal(e.frames[0]?.ptsMs, 0);
    assert.equal(e.frames.length, Math.ceil(((probe.durationMs ?? 0) / 1000) * 2 - 1e-9));
    assert.ok(e.frames.every((f, i) => i === 0 || f.ptsMs > e.frames[i - 1]!.ptsMs));
  });
});

describe('streams: which one is the video', () => {
  const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];
  let quad = '';
  let cover = '';
  before(() => {
    quad = makeQuad('quad.mp4', { out: x264 });
    cover = file('cover.jpg');
    ffmpeg(['-f', 'lavfi', '-i', 'color=yellow:s=160x120', '-frames:v', '1', cover]);
  });

  test('two video streams: the first is decoded', async () => {
    ffmpeg(['-i', quad, '-f', 'lavfi', '-i', 'color=yellow:s=160x120:r=25:d=2', '-map', '0:v', '-map', '1:v', ...x264, file('two.mkv')]);
    const { frames } = await decode(file('two.mkv'));
    assert.equal(frames.length, 4);
    assert.ok(frames.every((f) => quadrants(f) === 'RGBW'));
  });

  test('an mp4 and an mkv with a cover picture: the video is decoded, the cover never shows up as a frame', async () => {
    ffmpeg(['-i', quad, '-i', cover, '-map', '0', '-map', '1', '-c', 'copy', '-disposition:v:1', 'attached_pic', file('cover.mp4')]);
    ffmpeg(['-i', quad, '-c', 'copy', '-attach', cover, '-metadata:s:t', 'mimetype=image/jpeg', file('cover.mkv')]);
    for (const name of ['cover.mp4', 'cover.mkv']) {
      const { frames, error } = await decode(file(name));
      assert.equal(error, null, String(error));
      assert.equal(frames.length, 4, name);
      assert.ok(
        frames.every((f) => quadrants(f) === 'RGBW'),
        name,
      );
    }
  });

  test('audio with a cover picture (.m4a and .mp4): no video stream, not one frame of the cover', async () => {
    for (const name of ['song.m4a', 'song.mp4']) {
      ffmpeg([
        '-f',
        'lavfi',
        '-i',
        'sine=d=1',
        '-i',
        cover,
        '-map',
        '0',
        '-map',
        '1',
        '-c:a',
        'aac',
        '-c:v',
        'copy',
        '-disposition:v:0',
        'attached_pic',
        file(name),
      ]);
      const { frames, error } = await decode(file(name));
      assert.equal(frames.length, 0, `${name}: the cover was decoded as a frame`);
      assertFailure(error, 'E_NOT_A_VIDEO', /has no video stream/);
      await assert.rejects(probeInput(file(name)), { code: 'E_NOT_A_VIDEO' });
    }
  });
});

describe('files that are not what their name says', () => {
  test('a zero-byte .mp4: E_NOT_A_VIDEO "is empty", from probe and from decode', async () => {
    writeFileSync(file('zero.mp4'), '');
    assertFailure((await decode(file('zero.mp4'))).error, 'E_NOT_A_VIDEO', /zero\.mp4 is empty \(0 bytes\)$/);
    await assert.rejects(probeInput(file('zero.mp4')), /is empty \(0 bytes\)/);
  });

  test('an mp4 cut before its index (moov at the end) says so, from probe and from decode', async () => {
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=320x240:r=25:d=2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', file('whole.mp4')]);
    const whole = readFileSync(file('whole.mp4'));
    writeFileSync(file('cut.mp4'), whole.subarray(0, whole.length >> 1));
    assertFailure((await decode(file('cut.mp4'))).error, 'E_NOT_A_VIDEO', /moov atom not found/);
    await assert.rejects(probeInput(file('cut.mp4')), /moov atom not found/);
  });

  test('a name with spaces, unicode, a colon and a leading dash decodes', async () => {
    const path = makeQuad('-héllo wörld 日本:clip.mp4', { out: ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'] });
    const { frames, error } = await decode(path);
    assert.equal(error, null, String(error));
    assert.equal(frames.length, 4);
  });
});

describe('pictures for search --image (decodeQueryImage)', () => {
  /** An EXIF APP1 segment holding only Orientation (tag 0x0112), inserted after the JPEG's SOI marker. */
  function withExifOrientation(jpeg: Buffer, orientation: number): Buffer {
    const tiff = Buffer.alloc(8 + 2 + 12 + 4);
    tiff.write('II*\0', 0, 'latin1');
    tiff.writeUInt32LE(8, 4);
    tiff.writeUInt16LE(1, 8);
    tiff.writeUInt16LE(0x0112, 10);
    tiff.writeUInt16LE(3, 12); // SHORT
    tiff.writeUInt32LE(1, 14);
    tiff.writeUInt16LE(orientation, 18);
    const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
    const header = Buffer.from([0xff, 0xe1, 0, 0]);
    header.writeUInt16BE(body.length + 2, 2);
    return Buffer.concat([jpeg.subarray(0, 2), header, body, jpeg.subarray(2)]);
  }

  test('JPEG with EXIF orientation 6 (stored turned, shown upright): decoded upright', async () => {
    // Stored turned a quarter counter-clockwise; orientation 6 says "turn 90 clockwise to show".
    ffmpeg([...quadInputs(320, 240, 1, 1), '-filter_complex', `${QUAD_GRAPH},transpose=cclock`, '-frames:v', '1', file('stored.jpg')]);
    writeFileSync(file('exif6.jpg'), withExifOrientation(readFileSync(file('stored.jpg')), 6));
    assert.equal(quadrants((await decodeQueryImage(file('stored.jpg'), preprocess, PICTURE_LIMITS)).frame), 'GWRB', 'without EXIF: as stored');
    assert.equal(quadrants((await decodeQueryImage(file('exif6.jpg'), preprocess, PICTURE_LIMITS)).frame), 'RGBW');
  });

  const kinds: { name: string; args: string[]; skip?: string | false }[] = [
    { name: 'rgba.png', args: ['-pix_fmt', 'rgba'] },
    { name: 'pal8.png', args: ['-pix_fmt', 'pal8'] },
    { name: 'rgb48.png', args: ['-pix_fmt', 'rgb48be'] },
    { name: 'picture.webp', args: ['-c:v', 'libwebp', '-lossless', '1'], skip: !hasEncoder('libwebp') && 'no libwebp encoder' },
    { name: 'picture.bmp', args: [] },
    { name: 'picture.tiff', args: [] },
    { name: 'huge.jpg', args: ['-vf', 'scale=6000:4500:flags=neighbor'] },
  ];
  for (const k of kinds) {
    test(`${k.name}: one upright frame`, { skip: k.skip ?? false }, async () => {
      const vf = k.args.indexOf('-vf');
      const args = [...k.args];
      const post = vf >= 0 ? args.splice(vf, 2)[1] : undefined;
      ffmpeg([...quadInputs(320, 240, 1, 1), '-filter_complex', post ? `${QUAD_GRAPH},${post}` : QUAD_GRAPH, ...args, '-frames:v', '1', file(k.name)]);
      assert.equal(quadrants((await decodeQueryImage(file(k.name), preprocess, PICTURE_LIMITS)).frame), 'RGBW');
    });
  }

  test('a 1x1 picture: one frame of its colour', async () => {
    ffmpeg(['-f', 'lavfi', '-i', 'color=red', '-vf', 'scale=1:1', '-frames:v', '1', file('one.png')]);
    const { frame, damage } = await decodeQueryImage(file('one.png'), preprocess, PICTURE_LIMITS);
    assert.equal(quadrants(frame), 'RRRR');
    assert.equal(damage, undefined, 'a clean picture is not reported damaged');
  });

  test("a JPEG cut short: decoded (the missing part grey) and reported damaged with ffmpeg's reason", async () => {
    ffmpeg([...quadInputs(320, 240, 1, 1), '-filter_complex', QUAD_GRAPH, '-frames:v', '1', file('whole.jpg')]);
    const whole = readFileSync(file('whole.jpg'));
    writeFileSync(file('cut.jpg'), whole.subarray(0, Math.floor(whole.length / 2)));
    const clean = await decodeQueryImage(file('whole.jpg'), preprocess, PICTURE_LIMITS);
    assert.equal(clean.damage, undefined);
    const cut = await decodeQueryImage(file('cut.jpg'), preprocess, PICTURE_LIMITS);
    assert.match(cut.damage ?? '', /^ffmpeg reported \d+ error\(s\) decoding it \(first: .+\)$/);
  });

  test('a text file named .jpg, and an empty .png: E_NOT_A_VIDEO with the reason', async () => {
    writeFileSync(file('notes.jpg'), 'not a picture\n');
    writeFileSync(file('empty.png'), '');
    await assert.rejects(decodeQueryImage(file('notes.jpg'), preprocess, PICTURE_LIMITS), (err: unknown) => {
      // Refused from its first bytes: ffmpeg is given only what is a picture (picture-decoder.ts).
      assertFailure(err, 'E_NOT_A_VIDEO', /notes\.jpg: not a picture \(text\): send a JPEG, PNG, WebP, BMP, TIFF or GIF$/);
      return true;
    });
    await assert.rejects(decodeQueryImage(file('empty.png'), preprocess, PICTURE_LIMITS), (err: unknown) => {
      assertFailure(err, 'E_NOT_A_VIDEO', /is empty \(0 bytes\)/);
      return true;
    });
  });
});
