/**
 * Pictures decoded as pictures only (picture-decoder.ts), with the real
 * ffmpeg: every picture format gives the very frame a file decode gives;
 * playlists and lists that name a local video are refused and the video is
 * never opened (watched with strace); a picture over the pixel limit is
 * refused from its header, and ffmpeg's -max_pixels backs that up.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Frame, FrameGeometry } from '../../../src/contracts/frame.ts';
import { DEFAULTS } from '../../../src/config/schema.ts';
import { decodeFrames } from '../../../src/ingest/file-decoder.ts';
import { decodePicture, pictureInputOptions, readPictureFile } from '../../../src/ingest/picture-decoder.ts';
import { readPictureHeader } from '../../../src/ingest/picture-header.ts';
import { StreamSightError } from '../../../src/shared/errors.ts';
import { blackPng } from '../../helpers/black-png.ts';
import { canWatchOpens, watchOpens } from '../../helpers/open-watch.ts';
import { ffmpeg, QUAD_GRAPH, quadInputs } from '../../helpers/clips.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const geometry: FrameGeometry = { resize: { shorter: 64 }, cropWidth: 64, cropHeight: 64 };
const { dir, cleanup } = makeTempDir('streamsight-picture-decoder-');
const file = (name: string): string => join(dir, name);
after(cleanup);

const encoders = execFileSync('ffmpeg', ['-hide_banner', '-encoders']).toString();

async function firstFrame(decode: AsyncIterable<Frame>): Promise<Frame> {
  for await (const frame of decode) return frame;
  throw new Error('no frame');
}

function assertCode(err: unknown, code: string, message?: RegExp): true {
  assert.ok(err instanceof StreamSightError, `expected a StreamSightError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (message) assert.match(err.message, message);
  assert.doesNotMatch(err.message, /\n/, 'one line');
  return true;
}

describe('every picture format: the frame a file decode gives, and the size ffprobe reads', () => {
  // An odd size, a quadrant pattern: resize and crop offsets matter.
  const source = [...quadInputs(162, 98, 25, 1), '-filter_complex', QUAD_GRAPH];
  const kinds: { name: string; args: string[]; skip?: string | false }[] = [
    { name: 'p.jpg', args: [] },
    { name: 'rgba.png', args: ['-pix_fmt', 'rgba'] },
    { name: 'pal8.png', args: ['-pix_fmt', 'pal8'] },
    { name: 'rgb48.png', args: ['-pix_fmt', 'rgb48be'] },
    { name: 'p.webp', args: ['-c:v', 'libwebp', '-lossless', '1'], skip: !/\slibwebp\s/.test(encoders) && 'no libwebp encoder' },
    { name: 'lossy.webp', args: ['-c:v', 'libwebp'], skip: !/\slibwebp\s/.test(encoders) && 'no libwebp encoder' },
    { name: 'p.bmp', args: [] },
    { name: 'p.tiff', args: [] },
    { name: 'p.gif', args: [] },
    { name: 'p.qoi', args: [], skip: !/\sqoi\s/.test(encoders) && 'no qoi encoder' },
    { name: 'p.ppm', args: [] },
    { name: 'p.pgm', args: [] },
    { name: 'p.pbm', args: [] },
  ];
  for (const k of kinds) {
    test(k.name, { skip: k.skip ?? false }, async () => {
      ffmpeg([...source, ...k.args, '-frames:v', '1', file(k.name)]);
      const bytes = readFileSync(file(k.name));
      const probed = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', file(k.name)])
        .toString()
        .trim();
      const header = readPictureHeader(bytes);
      assert.ok(header.ok, JSON.stringify(header));
      assert.equal(`${header.header.size?.width},${header.header.size?.height}`, probed);
      const fromFile = await firstFrame(decodeFrames(file(k.name), { streamId: 's', runId: 'r', sampling: { mode: 'every' }, geometry }));
      const { frame, damage } = await decodePicture(bytes, { geometry, maxPixels: DEFAULTS.decode.maxPixels });
      assert.equal(damage, undefined);
      assert.ok(frame.data.equals(fromFile.data), 'byte for byte the frame of a file decode');
    });
  }
});

describe('playlists and lists are not pictures: refused, and what they name is never opened', () => {
  mkdirSync(file('secret'));
  const secret = file('secret/outside.ts');
  ffmpeg(['-f', 'lavfi', '-i', 'color=red:s=64x48:r=5:d=1', '-c:v', 'mpeg2video', secret]);
  const hostile: { name: string; body: string; format: string }[] = [
    { name: 'hls', body: `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n${secret}\n#EXT-X-ENDLIST\n`, format: 'hls' },
    { name: 'ffconcat', body: `ffconcat version 1.0\nfile '${secret}'\n`, format: 'concat' },
    {
      name: 'dash',
      body: `<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"><Period><AdaptationSet><Representation id="1" bandwidth="1"><BaseURL>file:${secret}</BaseURL></Representation></AdaptationSet></Period></MPD>\n`,
      format: 'dash',
    },
  ];

  test(
    'the hostile lists are real: ffmpeg given one as a file (as before) opens the video',
    { skip: !canWatchOpens && 'strace cannot attach here' },
    async () => {
      writeFileSync(file('list.m3u8'), hostile[0]!.body);
      const { result, opened } = await watchOpens(() =>
        firstFrame(decodeFrames(file('list.m3u8'), { streamId: 's', runId: 'r', sampling: { mode: 'every' }, geometry })),
      );
      assert.equal(result.width, 64);
      assert.ok(opened.includes(secret), 'the check below can see an open');
    },
  );

  for (const h of hostile) {
    test(`${h.name}: not a picture (format ${h.format}), one line, the video never opened`, async () => {
      const work = (): Promise<unknown> =>
        decodePicture(Buffer.from(h.body), { geometry, maxPixels: DEFAULTS.decode.maxPixels }).then(
          () => assert.fail('decoded'),
          (err: unknown) =>
            assertCode(err, 'E_NOT_A_VIDEO', new RegExp(`^the picture: not a picture \\(format ${h.format}\\): send a JPEG, PNG, WebP, BMP, TIFF or GIF$`)),
        );
      if (!canWatchOpens) return void (await work());
      const { opened } = await watchOpens(work);
      assert.deepEqual(
        opened.filter((p) => p.includes('secret')),
        [],
      );
    });
  }

  test("a playlist behind a picture's magic bytes is decoded by that picture's demuxer only: refused, nothing opened", async () => {
    // PNG signature, then a playlist: png_pipe is forced, so no other demuxer ever reads it.
    const body = Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), Buffer.from(hostile[0]!.body)]);
    const work = (): Promise<unknown> =>
      decodePicture(body, { geometry, maxPixels: DEFAULTS.decode.maxPixels }).then(
        () => assert.fail('decoded'),
        (err: unknown) => assertCode(err, 'E_NOT_A_VIDEO'),
      );
    if (!canWatchOpens) return void (await work());
    const { opened } = await watchOpens(work);
    assert.deepEqual(
      opened.filter((p) => p.includes('secret')),
      [],
    );
  });
});

describe('pixel limit', () => {
  const big = blackPng(16000, 16000);

  test('a 16000x16000 picture of a few KiB: refused from its header (E_TOO_MANY_PIXELS, one line) with the default 50 Mpx, before ffmpeg starts', async () => {
    assert.ok(big.length < 64 * 1024, `${big.length} bytes`);
    const started = performance.now();
    await assert.rejects(decodePicture(big, { geometry, maxPixels: DEFAULTS.decode.maxPixels, name: 'big.png' }), (err) =>
      assertCode(
        err,
        'E_TOO_MANY_PIXELS',
        /^big\.png is a png of 16000x16000 \(256000000 pixels\), above the limit of 50000000 pixels \(decode\.maxPixels\): not decoded$/,
      ),
    );
    assert.ok(performance.now() - started < 500, 'nothing decoded');
  });

  test("the limit is width x height as stored: at the limit decodes (ffmpeg's stride rounding does not refuse it), one pixel over is refused", async () => {
    const png = blackPng(100, 100);
    assert.equal((await decodePicture(png, { geometry, maxPixels: 10_000 })).frame.width, 64);
    await assert.rejects(decodePicture(png, { geometry, maxPixels: 9_999 }), (err) => assertCode(err, 'E_TOO_MANY_PIXELS'));
  });

  test('backstop: ffmpeg given the picture options refuses a picture over -max_pixels without decoding it', async () => {
    const started = performance.now();
    const decode = decodeFrames('pipe:0', {
      streamId: 's',
      runId: 'r',
      sampling: { mode: 'every' },
      geometry,
      stdin: Readable.from([big]),
      protocolWhitelist: ['pipe'],
      inputOptions: pictureInputOptions({ format: 'png', size: undefined }, big.length, 1_000_000),
    });
    // E_TOO_MANY_PIXELS from ffmpeg's own refusal (ffmpeg-log.ts), not a crash or a half-decoded frame.
    await assert.rejects(firstFrame(decode), (err) => assertCode(err, 'E_TOO_MANY_PIXELS'));
    assert.ok(performance.now() - started < 3000, 'refused, not decoded (768 MB of RGB)');
  });
});

describe('readPictureFile: bounded', () => {
  test('at most maxBytes; larger is E_USAGE; missing or a folder E_INPUT_NOT_FOUND; empty E_NOT_A_VIDEO', async () => {
    writeFileSync(file('ten.bin'), Buffer.alloc(10, 1));
    writeFileSync(file('empty.png'), '');
    assert.equal((await readPictureFile(file('ten.bin'), 10)).length, 10);
    await assert.rejects(readPictureFile(file('ten.bin'), 9), (err) => assertCode(err, 'E_USAGE', /picture over 9 bytes \(search\.maxImageBytes\)$/));
    await assert.rejects(readPictureFile(file('missing.png'), DEFAULTS.search.maxImageBytes), (err) => assertCode(err, 'E_INPUT_NOT_FOUND'));
    await assert.rejects(readPictureFile(dir, DEFAULTS.search.maxImageBytes), (err) => assertCode(err, 'E_INPUT_NOT_FOUND', /is not a file$/));
    await assert.rejects(readPictureFile(file('empty.png'), DEFAULTS.search.maxImageBytes), (err) => assertCode(err, 'E_NOT_A_VIDEO', /is empty \(0 bytes\)$/));
  });
});
