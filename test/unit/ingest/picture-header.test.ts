import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS } from '../../../src/config/schema.ts';
import { inspectPicture, pictureInputOptions } from '../../../src/ingest/picture-decoder.ts';
import { readPictureHeader, whatIsIt } from '../../../src/ingest/picture-header.ts';

const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const u16be = (n: number): number[] => [n >> 8, n & 0xff];
const u16le = (n: number): number[] => [n & 0xff, n >> 8];
const u32be = (n: number): number[] => [n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const u32le = (n: number): number[] => u32be(n).reverse();

function sizeOf(b: Buffer): string {
  const r = readPictureHeader(b);
  if (!r.ok) return `not: ${r.reason}`;
  return `${r.header.format} ${r.header.size ? `${r.header.size.width}x${r.header.size.height}` : '?'}`;
}

describe('readPictureHeader', () => {
  test('reads width x height from the header of each picture format', () => {
    // JPEG: APP0 and a fill byte before SOF0 (precision, height, width).
    assert.equal(
      sizeOf(bytes([0xff, 0xd8, 0xff, 0xe0], u16be(4), [0, 0], [0xff, 0xff, 0xc0], u16be(11), [8], u16be(480), u16be(640), [3, 0, 0, 0])),
      'jpeg 640x480',
    );
    assert.equal(sizeOf(bytes([0xff, 0xd8, 0xff, 0xc2], u16be(11), [8], u16be(9), u16be(7))), 'jpeg 7x9', 'progressive');
    assert.equal(
      sizeOf(bytes([0xff, 0xd8, 0xff, 0xc4], u16be(2), [0xff, 0xc0], u16be(11), [8], u16be(2), u16be(3))),
      'jpeg 3x2',
      'DHT (C4) is no frame header',
    );
    assert.equal(sizeOf(bytes('\x89PNG\r\n\x1a\n', u32be(13), 'IHDR', u32be(16000), u32be(12000))), 'png 16000x12000');
    assert.equal(sizeOf(bytes('GIF89a', u16le(320), u16le(200))), 'gif 320x200');
    assert.equal(sizeOf(bytes('BM', new Array(12).fill(0), u32le(40), u32le(300), u32le(-200 >>> 0))), 'bmp 300x200', 'top-down: negative height');
    assert.equal(sizeOf(bytes('BM', new Array(12).fill(0), u32le(12), u16le(30), u16le(20))), 'bmp 30x20', 'OS/2 core header');
    assert.equal(sizeOf(bytes('RIFF', u32le(30), 'WEBP', 'VP8X', u32le(10), [0, 0, 0, 0], [0x7f, 0x07, 0], [0x37, 0x04, 0], [0])), 'webp 1920x1080');
    const vp8l = (1919 & 0x3fff) | ((1079 & 0x3fff) << 14);
    assert.equal(sizeOf(bytes('RIFF', u32le(30), 'WEBP', 'VP8L', u32le(10), [0x2f], u32le(vp8l))), 'webp 1920x1080');
    assert.equal(sizeOf(bytes('RIFF', u32le(30), 'WEBP', 'VP8 ', u32le(10), [0, 0, 0, 0x9d, 0x01, 0x2a], u16le(640), u16le(360))), 'webp 640x360');
    // TIFF, big-endian: one IFD with ImageWidth (SHORT) and ImageLength (LONG).
    assert.equal(
      sizeOf(bytes('MM\0*', u32be(8), u16be(2), u16be(256), u16be(3), u32be(1), u16be(500), [0, 0], u16be(257), u16be(4), u32be(1), u32be(70000))),
      'tiff 500x70000',
    );
    assert.equal(sizeOf(bytes('qoif', u32be(10), u32be(20), [4, 0])), 'qoi 10x20');
    assert.equal(sizeOf(bytes('P6\n# a comment\n 64\t48\n255\n')), 'ppm 64x48');
    assert.equal(sizeOf(bytes('P4 8 2\n')), 'pbm 8x2');
  });

  test('a picture cut before its size: the format, the size unknown', () => {
    assert.equal(sizeOf(bytes('\x89PNG\r\n\x1a\n', u32be(13), 'IHD')), 'png ?');
    assert.equal(sizeOf(bytes([0xff, 0xd8, 0xff, 0xe0], u16be(200), [1, 2, 3])), 'jpeg ?');
    assert.equal(sizeOf(bytes('GIF89a', [0, 0, 0, 0])), 'gif ?', 'a 0x0 screen has no size');
  });

  test('what is not a picture says what it looks like', () => {
    assert.equal(sizeOf(Buffer.alloc(0)), 'not: empty');
    assert.equal(whatIsIt(bytes('#EXTM3U\n#EXTINF:1,\n/etc/video.mp4\n')), 'format hls');
    assert.equal(whatIsIt(bytes('\xef\xbb\xbf#EXTM3U\n')), 'format hls', 'after a BOM');
    assert.equal(whatIsIt(bytes("ffconcat version 1.0\nfile '/x.mp4'\n")), 'format concat');
    assert.equal(whatIsIt(bytes('<?xml version="1.0"?>\n<MPD type="static">')), 'format dash');
    assert.equal(whatIsIt(bytes([0, 0, 0, 0x20], 'ftypisom')), 'format mp4/mov');
    assert.equal(whatIsIt(bytes('hello\n')), 'text');
    assert.equal(whatIsIt(bytes([0, 1, 2, 3])), 'unknown format');
  });
});

describe('inspectPicture and pictureInputOptions', () => {
  const png = (w: number, h: number): Buffer => bytes('\x89PNG\r\n\x1a\n', u32be(13), 'IHDR', u32be(w), u32be(h));

  test('refuses more than maxPixels (width x height), and what is not a picture, as one-line user errors', () => {
    assert.deepEqual(inspectPicture(png(100, 100), 10_000), { format: 'png', size: { width: 100, height: 100 } });
    assert.throws(() => inspectPicture(png(101, 100), 10_000, 'q.png'), {
      code: 'E_TOO_MANY_PIXELS',
      message: 'q.png is a png of 101x100 (10100 pixels), above the limit of 10000 pixels (decode.maxPixels): not decoded',
    });
    assert.throws(() => inspectPicture(bytes('#EXTM3U\n'), DEFAULTS.decode.maxPixels), {
      code: 'E_NOT_A_VIDEO',
      message: 'the picture: not a picture (format hls): send a JPEG, PNG, WebP, BMP, TIFF or GIF',
    });
    assert.throws(() => inspectPicture(Buffer.alloc(0), DEFAULTS.decode.maxPixels), { code: 'E_NOT_A_VIDEO', message: 'the picture is empty (0 bytes)' });
    assert.throws(() => inspectPicture(png(1, 1), 0), RangeError);
  });

  test('ffmpeg reads one picture demuxer, forced, among picture demuxers only, sized to the bytes, with -max_pixels', () => {
    const args = pictureInputOptions({ format: 'tiff', size: { width: 100, height: 10 } }, 1234, 50_000_000);
    const list = args[args.indexOf('-format_whitelist') + 1]!.split(',');
    for (const opener of ['hls', 'dash', 'concat', 'image2', 'image2pipe', 'svg_pipe', 'mov', 'tty']) assert.ok(!list.includes(opener), opener);
    assert.ok(
      list.every((d) => d.endsWith('_pipe') || d === 'gif'),
      list.join(),
    );
    assert.equal(args[args.indexOf('-f') + 1], 'tiff_pipe');
    assert.equal(args[args.indexOf('-frame_size') + 1], '1234');
    assert.equal(args[args.indexOf('-max_pixels') + 1], '50000000');
    // The gif demuxer has no -frame_size; a size just under the limit gets ffmpeg's stride rounding (64 px) as room.
    const gif = pictureInputOptions({ format: 'gif', size: { width: 100, height: 100 } }, 10, 10_000);
    assert.ok(!gif.includes('-frame_size'));
    assert.equal(gif[gif.indexOf('-max_pixels') + 1], String(128 * 100));
  });
});
