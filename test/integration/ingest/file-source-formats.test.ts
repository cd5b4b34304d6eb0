/**
 * A file source is one video file: the formats of FILE_SOURCE_FORMATS are
 * read and open no other file; playlists and lists that name other files
 * (HLS, DASH, ffconcat, concat, image sequences) are refused by ffprobe and
 * ffmpeg before they open anything, and the outside video they name is
 * never opened (watched with strace when it is installed; the outside video
 * is magenta, and no frame at all may come out). Also the pixel limit, and
 * local names that ffmpeg must not read as options or URLs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Frame } from '../../../src/contracts/frame.ts';
import { FILE_SOURCE_FORMATS } from '../../../src/ingest/ffmpeg-args.ts';
import { decodeFrames } from '../../../src/ingest/file-decoder.ts';
import { probeInput } from '../../../src/ingest/probe.ts';
import { describeSource } from '../../../src/ingest/source-kind.ts';
import { StreamSightError } from '../../../src/shared/errors.ts';
import { hasStrace, openTracer, type OpenTracer } from '../../helpers/open-tracer.ts';
import { makeNestedOpenAttacks, type NestedOpenAttacks } from '../../helpers/nested-open-attacks.ts';
import { ffmpeg } from '../../helpers/clips.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const geometry = { resize: { shorter: 32 }, cropWidth: 32, cropHeight: 32 };
const { dir, cleanup } = makeTempDir('ss-file-formats-');
const tracer: OpenTracer | undefined = hasStrace ? openTracer() : undefined;
let set: NestedOpenAttacks;

before(() => {
  set = makeNestedOpenAttacks(dir);
});
after(() => {
  tracer?.cleanup();
  cleanup();
});

/** Decodes `path` as every command decodes a file source (describeSource's options), through the tracer when there is one. */
async function decodeAsSource(path: string, maxPixels?: number): Promise<{ frames: Frame[]; error: unknown }> {
  const frames: Frame[] = [];
  try {
    const source = describeSource(path, { maxPixels });
    for await (const f of decodeFrames(source.input, {
      streamId: 's',
      runId: 'r',
      sampling: { mode: 'every' },
      geometry,
      inputOptions: source.inputOptions,
      ...(tracer ? { ffmpegPath: tracer.ffmpeg } : {}),
    }))
      frames.push(f);
    return { frames, error: null };
  } catch (error) {
    return { frames, error };
  }
}

const probe = (path: string, maxPixels?: number): ReturnType<typeof probeInput> =>
  probeInput(path, { maxPixels, ...(tracer ? { binary: tracer.ffprobe } : {}) });

/** Files under the test folder that ffmpeg/ffprobe tried to open since the last reset (links resolved). */
function openedInTestFolder(): string[] {
  return tracer ? tracer.opened(process.cwd()).filter((p) => p.startsWith(dir)) : [];
}

const encoders = execFileSync('ffmpeg', ['-hide_banner', '-encoders']).toString();
const hasEncoder = (name: string): boolean => new RegExp(`\\s${name}\\s`).test(encoders);

describe('formats a file source may be', () => {
  const src = ['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25', '-t', '1'];
  const pal = ['-f', 'lavfi', '-i', 'testsrc2=size=720x576:rate=25', '-t', '1'];
  const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];
  // name, ffmpeg's name of the format it must probe as, encoder needed, arguments
  const samples: [string, string, string, string[]][] = [
    ['a.mp4', 'mov', 'libx264', [...src, ...x264]],
    ['a.mov', 'mov', 'libx264', [...src, ...x264]],
    ['a.mkv', 'matroska', 'libx264', [...src, ...x264]],
    ['a.webm', 'matroska', 'libvpx', [...src, '-c:v', 'libvpx', '-b:v', '200k']],
    ['a.avi', 'avi', 'mpeg4', [...src, '-c:v', 'mpeg4']],
    ['a.wmv', 'asf', 'wmv2', [...src, '-c:v', 'wmv2']],
    ['a.flv', 'flv', 'flv', [...src, '-c:v', 'flv1']],
    ['a.ts', 'mpegts', 'libx264', [...src, ...x264]],
    ['a.mpg', 'mpeg', 'mpeg2video', [...src, '-c:v', 'mpeg2video']],
    ['a.m2v', 'mpegvideo', 'mpeg2video', [...src, '-c:v', 'mpeg2video', '-f', 'mpeg2video']],
    ['a.ogv', 'ogg', 'libtheora', [...src, '-c:v', 'libtheora']],
    ['a.mxf', 'mxf', 'mpeg2video', [...pal, '-c:v', 'mpeg2video', '-pix_fmt', 'yuv420p']],
    ['a.nut', 'nut', 'mpeg4', [...src, '-c:v', 'mpeg4']],
    ['a.dv', 'dv', 'dvvideo', [...pal, '-c:v', 'dvvideo', '-pix_fmt', 'yuv420p', '-f', 'dv']],
    ['a.wtv', 'wtv', 'mpeg2video', [...src, '-c:v', 'mpeg2video', '-f', 'wtv']],
    ['a.rm', 'rm', 'rv20', [...src, '-c:v', 'rv20', '-f', 'rm']],
    ['a.ivf', 'ivf', 'libvpx', [...src, '-c:v', 'libvpx', '-f', 'ivf']],
    ['a.y4m', 'yuv4mpegpipe', 'wrapped_avframe', [...src, '-pix_fmt', 'yuv420p']],
    ['a.h264', 'h264', 'libx264', [...src, ...x264, '-f', 'h264']],
    ['a.hevc', 'hevc', 'libx265', [...src, '-c:v', 'libx265', '-x265-params', 'log-level=none', '-f', 'hevc']],
    ['a.m4v', 'm4v', 'mpeg4', [...src, '-c:v', 'mpeg4', '-f', 'm4v']],
    ['a.obu', 'obu', 'libaom-av1', [...src, '-c:v', 'libaom-av1', '-cpu-used', '8', '-f', 'obu']],
    ['a.gif', 'gif', 'gif', [...src]],
  ];

  test('every format listed has a sample here', () => {
    assert.deepEqual([...new Set(samples.map(([, format]) => format))].sort(), [...FILE_SOURCE_FORMATS].sort());
  });

  for (const [name, format, encoder, args] of samples) {
    test(`${name} (${format}): probed and decoded, and no file but itself is opened`, { skip: !hasEncoder(encoder) && `no ${encoder} encoder` }, async () => {
      const path = join(dir, name);
      ffmpeg([...args, path]);
      const probed = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=format_name', '-of', 'csv=p=0', path]).toString().trim();
      assert.ok(probed.replace(/"/g, '').split(',').includes(format), `${name} probes as ${probed}`);
      tracer?.reset();
      const p = await probe(path);
      assert.ok(p.hasVideo && p.width > 0);
      const { frames, error } = await decodeAsSource(path);
      assert.equal(error, null, String(error));
      assert.ok(frames.length > 0);
      if (tracer) assert.deepEqual(openedInTestFolder(), [path]);
    });
  }
});

describe('playlists and lists in an allowed folder that name a video outside it', () => {
  test('ffprobe and ffmpeg refuse each with one line saying what it is, and never open the outside video', async () => {
    for (const attack of set.attacks) {
      tracer?.reset();
      await assert.rejects(
        probe(attack.path),
        (err: unknown) => {
          assert.ok(err instanceof StreamSightError, String(err));
          assert.equal(err.code, 'E_NOT_A_VIDEO', `${attack.name}: ${err.message}`);
          assert.match(err.message, new RegExp(`${attack.message.source}$`));
          return true;
        },
        attack.name,
      );
      const { frames, error } = await decodeAsSource(attack.path);
      assert.equal(frames.length, 0, `${attack.name}: ${frames.length} frames of the outside video came out`);
      assert.ok(error instanceof StreamSightError, `${attack.name}: ${String(error)}`);
      assert.equal(error.code, 'E_NOT_A_VIDEO', `${attack.name}: ${error.message}`);
      assert.match(error.message, new RegExp(`${attack.message.source}$`), 'one line, and only that');
      const opened = openedInTestFolder();
      for (const outside of set.outsideFiles) assert.ok(!opened.includes(outside), `${attack.name}: ${outside} was opened`);
      // image2 is chosen by the name alone (the pattern), before the file is opened: then nothing is.
      if (tracer)
        assert.ok(
          opened.every((p) => p === attack.path),
          `${attack.name}: only the list itself may be read, opened ${opened.join(', ')}`,
        );
    }
  });
});

describe('decode.maxPixels', () => {
  test("a 320x240 video (76800 px) is refused by the probe over 76799 px and by ffmpeg's -max_pixels when not probed; at 76800 both read it", async () => {
    const clip = join(dir, 'qvga.mp4');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10', '-t', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', clip]);
    const message = new RegExp(
      `^${clip.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is 320x240 \\(76800 pixels\\), above the limit of 76799 pixels \\(decode\\.maxPixels\\): not decoded$`,
    );
    await assert.rejects(probe(clip, 76_799), { code: 'E_TOO_MANY_PIXELS', message });
    const refused = await decodeAsSource(clip, 76_799);
    assert.equal(refused.frames.length, 0);
    assert.ok(refused.error instanceof StreamSightError);
    assert.equal(refused.error.code, 'E_TOO_MANY_PIXELS');
    assert.match(refused.error.message, message);
    assert.equal((await probe(clip, 76_800)).width, 320);
    const read = await decodeAsSource(clip, 76_800);
    assert.equal(read.error, null, String(read.error));
    assert.equal(read.frames.length, 10);
  });
});

describe('local names ffmpeg must take as they are', () => {
  for (const name of ['-report', '-i', '50% off #1?.mp4', 'x%d.mp4', 'été 日本 (1).mp4', 'a:b.mp4']) {
    test(`"${name}": probed and decoded as that file (a file: URL: no pattern, no protocol, no percent-decoding)`, async () => {
      const path = join(dir, 'names', name);
      execFileSync('mkdir', ['-p', join(dir, 'names')]);
      ffmpeg([
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=160x120:rate=10',
        '-t',
        '1',
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-pix_fmt',
        'yuv420p',
        '-f',
        'mp4',
        `file:${path}`,
      ]);
      assert.equal((await probe(path)).width, 160);
      const { frames, error } = await decodeAsSource(path);
      assert.equal(error, null, String(error));
      assert.equal(frames.length, 10);
    });
  }
});
