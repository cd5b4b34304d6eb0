import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FILE_SOURCE_FORMATS, buildDecodeArgs, maxPixelsOptions } from '../../../src/ingest/ffmpeg-args.ts';
import { classifyFailure, refusedFormat } from '../../../src/ingest/ffmpeg-log.ts';
import { parseProbeJson, pixelLimitError } from '../../../src/ingest/probe.ts';
import { describeSource } from '../../../src/ingest/source-kind.ts';
import { watchdogTuning } from '../../helpers/watchdog.ts';

const geometry = { resize: { shorter: 256 }, cropWidth: 224, cropHeight: 224 };
const valueAfter = (args: readonly string[], flag: string): string | undefined => {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
};

test('no demuxer that opens other files by name is a format a file source may be', () => {
  for (const opener of ['hls', 'dash', 'concat', 'image2', 'imf', 'vobsub', 'mlv', 'sdp', 'rtsp', 'tty', 'lavfi', 'webm_dash_manifest']) {
    assert.ok(!FILE_SOURCE_FORMATS.includes(opener), opener);
  }
  for (const container of ['mov', 'matroska', 'avi', 'mpegts', 'mpeg', 'ogg', 'flv', 'gif']) assert.ok(FILE_SOURCE_FORMATS.includes(container), container);
});

test('a file source is opened with the format whitelist; URLs, stdin and devices are not; the pixel limit goes to every kind', () => {
  const file = describeSource('/srv/videos/a.mp4', { maxPixels: 1000 });
  assert.equal(valueAfter(file.inputOptions, '-format_whitelist'), FILE_SOURCE_FORMATS.join(','));
  assert.equal(valueAfter(file.inputOptions, '-max_pixels'), '1000');
  assert.equal(valueAfter(describeSource('file:/srv/a.mp4').inputOptions, '-format_whitelist'), FILE_SOURCE_FORMATS.join(','));
  for (const other of ['rtsp://cam/x', 'https://cdn/live.m3u8', '-', '/dev/video0', 'udp://239.0.0.1:1234']) {
    const source = describeSource(other, { maxPixels: 1000 });
    assert.ok(!source.inputOptions.includes('-format_whitelist'), other);
    assert.equal(valueAfter(source.inputOptions, '-max_pixels'), '1000', other);
  }
  assert.ok(!describeSource('rtsp://cam/x').inputOptions.includes('-max_pixels'), 'no limit given: none set');
  assert.throws(() => maxPixelsOptions(0), RangeError);
  assert.throws(() => maxPixelsOptions(1.5), RangeError);
});

test('the limits go before -i; a device forced with -f keeps its name, a file gets file:', () => {
  const file = describeSource('-report', { maxPixels: 1000 });
  const args = buildDecodeArgs({ input: file.input, sampling: { mode: 'every' }, geometry, inputOptions: file.inputOptions });
  const i = args.indexOf('-i');
  assert.ok(args.indexOf('-format_whitelist') < i && args.indexOf('-max_pixels') < i);
  assert.equal(args[i + 1], 'file:-report');
  const cam = describeSource('/dev/video0');
  assert.equal(valueAfter(buildDecodeArgs({ input: cam.input, sampling: { mode: 'every' }, geometry, inputOptions: cam.inputOptions }), '-i'), '/dev/video0');
});

test('a refused format is one line naming what it is, not ffmpeg\'s "Invalid argument" wrap-up', () => {
  const refused = (format: string): string[] => [
    `[${format} @ 0x55ae1f775240] [error] Format not on whitelist '${FILE_SOURCE_FORMATS.join(',')}'`,
    '[error] file:/v/x: Invalid argument',
  ];
  assert.equal(refusedFormat(refused('hls')), 'hls');
  assert.equal(refusedFormat(["[error] Protocol 'http' not on whitelist 'file'!"]), undefined);
  const cases: [string, RegExp][] = [
    ['hls', /^\/v\/x is an HLS playlist \(format hls\): a file source must be one video file; playlists and lists that open other files are not read$/],
    ['dash', /is a DASH manifest \(format dash\)/],
    ['concat', /is a concat list \(format concat\)/],
    ['image2', /is a picture or an image sequence pattern \(format image2\)/],
    ['imf', /is an IMF composition/],
    ['vobsub', /is a VobSub index/],
    ['tty', /^\/v\/x is text, not a video/],
    ['mp3', /^\/v\/x is not a video container a file source may be \(format mp3\)/],
  ];
  for (const [format, message] of cases) {
    const err = classifyFailure('/v/x', refused(format), false);
    assert.equal(err.code, 'E_NOT_A_VIDEO', format);
    assert.equal(err.exitCode, 3);
    assert.match(err.message, message);
    assert.doesNotMatch(err.message, /\n|Invalid argument/);
  }
});

test('the decoder\'s max_pixels refusal is TooManyPixels with the size and the limit, not "Error while opening decoder"', () => {
  const err = classifyFailure(
    'cam',
    [
      '[h264 @ 0x555eb17087c0] [IMGUTILS @ 0x7ffdcc24d7a0] [error] Picture size 320x240 exceeds specified max pixel count 10000, see the documentation if you wish to increase it',
      '[error] Error while opening decoder for input stream #0:0 : Invalid argument',
    ],
    true,
  );
  assert.equal(err.code, 'E_TOO_MANY_PIXELS');
  assert.equal(err.message, 'cam is 320x240 (76800 pixels), above the limit of 10000 pixels (decode.maxPixels): not decoded');
});

test("the probe's pixel limit counts pixels as stored, not as shown", () => {
  // DVD 720x480 at SAR 32:27 is shown 853x480 (409440 px) but decoded at 720x480 (345600 px).
  const dvd = parseProbeJson(
    'dvd.mpg',
    JSON.stringify({ streams: [{ codec_type: 'video', codec_name: 'mpeg2video', width: 720, height: 480, sample_aspect_ratio: '32:27' }] }),
  );
  assert.deepEqual([dvd.width, dvd.storedWidth, dvd.storedHeight], [853, 720, 480]);
  assert.equal(pixelLimitError('dvd.mpg', dvd, 345_600), undefined);
  const err = pixelLimitError('dvd.mpg', dvd, 345_599);
  assert.equal(err?.code, 'E_TOO_MANY_PIXELS');
  assert.equal(err?.message, 'dvd.mpg is 720x480 (345600 pixels), above the limit of 345599 pixels (decode.maxPixels): not decoded');
});

test('distributed ingest plans a file source with the same limits as serve', async () => {
  const { planSource } = await import('../../../src/pipeline/source-plan.ts');
  const plan = planSource({ id: 'f', url: '/srv/list.m3u8' }, { liveFps: 5, fileFps: 1, watchdog: watchdogTuning(), maxPixels: 5000 });
  assert.equal(valueAfter(plan.inputOptions, '-format_whitelist'), FILE_SOURCE_FORMATS.join(','));
  assert.equal(valueAfter(plan.inputOptions, '-max_pixels'), '5000');
});
