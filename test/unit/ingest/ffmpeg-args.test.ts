import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDecodeArgs, buildFilterChain, ffmpegInput, fpsSelectExpr, localPath } from '../../../src/ingest/ffmpeg-args.ts';
import type { FrameGeometry } from '../../../src/contracts/frame.ts';

const geometry: FrameGeometry = { resize: { shorter: 256 }, cropWidth: 224, cropHeight: 224 };

function valueAfter(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

test('decodes the first video stream to rgb24 rawvideo on stdout, no frame duplicated or dropped', () => {
  const args = buildDecodeArgs({ input: 'clip.mp4', sampling: { mode: 'every' }, geometry });
  assert.equal(valueAfter(args, '-i'), 'file:clip.mp4');
  assert.equal(valueAfter(args, '-map'), '0:V:0');
  assert.equal(valueAfter(args, '-f'), 'rawvideo');
  assert.equal(valueAfter(args, '-pix_fmt'), 'rgb24');
  assert.equal(valueAfter(args, '-fps_mode'), 'passthrough');
  // A frame-threaded rawvideo encoder would hold each frame until the next one.
  const threads = args.indexOf('-threads');
  assert.ok(threads > args.indexOf('-i'), '-threads is an output option');
  assert.equal(args[threads + 1], '1');
  assert.equal(valueAfter(args, '-flush_packets'), '1');
  assert.equal(args[args.length - 1], 'pipe:1');
  assert.ok(args.includes('-an') && args.includes('-sn') && args.includes('-dn'));
  // showinfo prints at info; `level` tags lines so errors can be counted.
  assert.equal(valueAfter(args, '-loglevel'), 'level+info');
  assert.ok(args.includes('-nostats'));
});

test('fps sampling selects before converting and scaling; showinfo is last', () => {
  const chain = buildFilterChain({ mode: 'fps', fps: 2 }, geometry).split(/(?<!\\),/);
  assert.match(chain[0] ?? '', /^select=/);
  assert.match(chain[1] ?? '', /^scale=flags=[^:]*full_chroma_int/);
  assert.equal(chain[2], 'format=rgb24');
  assert.match(chain[3] ?? '', /^scale=w=.*:flags=bilinear/);
  assert.match(chain[4] ?? '', /^crop=w=224:h=224:/);
  assert.equal(chain[chain.length - 1], 'showinfo');
});

test('every-frame and keyframe sampling have no select filter', () => {
  for (const sampling of [{ mode: 'every' }, { mode: 'keyframes' }] as const) {
    assert.doesNotMatch(buildFilterChain(sampling, geometry), /select/);
  }
});

test('keyframes skip non-key frames inside the decoder (input option, before -i)', () => {
  const args = buildDecodeArgs({ input: 'a.mkv', sampling: { mode: 'keyframes' }, geometry });
  const skip = args.indexOf('-skip_frame');
  assert.ok(skip >= 0 && skip < args.indexOf('-i'));
  assert.equal(args[skip + 1], 'nokey');
  assert.equal(buildDecodeArgs({ input: 'a.mkv', sampling: { mode: 'every' }, geometry }).indexOf('-skip_frame'), -1);
});

test('the select expression takes the first frame of each 1/N s bucket', () => {
  assert.equal(fpsSelectExpr(2), 'isnan(prev_selected_t)+gt(floor(t*2)\\,floor(prev_selected_t*2))');
  assert.equal(fpsSelectExpr(0.5), 'isnan(prev_selected_t)+gt(floor(t*0.5)\\,floor(prev_selected_t*0.5))');
  assert.throws(() => fpsSelectExpr(0), RangeError);
  assert.throws(() => fpsSelectExpr(Number.NaN), RangeError);
});

test('geometry: shorter side (of the shown picture: width times SAR) to resizeShorter, longer truncated; crop offsets round half to even', () => {
  const chain = buildFilterChain({ mode: 'every' }, { resize: { shorter: 256 }, cropWidth: 224, cropHeight: 200 });
  assert.ok(chain.includes('scale=w=if(lte(iw*sar\\,ih)\\,256\\,trunc(256*iw*sar/ih)):h=if(lte(iw*sar\\,ih)\\,trunc(256*ih/(iw*sar))\\,256)'));
  assert.ok(chain.includes('crop=w=224:h=200:x=trunc((iw-ow)/2)+mod((iw-ow)\\,2)*mod(trunc((iw-ow)/2)\\,2)'));
  // The offset formula, evaluated here, is Python's int(round(d / 2)).
  const offset = (d: number): number => Math.trunc(d / 2) + (d % 2) * (Math.trunc(d / 2) % 2);
  const pythonRound = [0, 0, 1, 2, 2, 2, 3, 4, 4, 4, 5]; // int(round(d/2)) for d = 0..10
  pythonRound.forEach((want, d) => assert.equal(offset(d), want, `d=${d}`));
});

test('bad geometry is a RangeError naming the field', () => {
  assert.throws(() => buildFilterChain({ mode: 'every' }, { ...geometry, resize: { shorter: 0 } }), /resize\.shorter/);
  assert.throws(() => buildFilterChain({ mode: 'every' }, { ...geometry, resize: { width: 300, height: 100 } }), /larger than the resize to 300x100/);
  assert.throws(() => buildFilterChain({ mode: 'every' }, { ...geometry, cropWidth: 2.5 }), /cropWidth/);
  assert.throws(() => buildFilterChain({ mode: 'every' }, { resize: { shorter: 200 }, cropWidth: 224, cropHeight: 224 }), RangeError);
});

test('realtime, loop and protocol whitelist are input options', () => {
  const args = buildDecodeArgs({
    input: 'http://cam/stream',
    sampling: { mode: 'fps', fps: 5 },
    geometry,
    realtime: true,
    loop: true,
    protocolWhitelist: ['http', 'tcp'],
  });
  const i = args.indexOf('-i');
  for (const flag of ['-re', '-stream_loop', '-protocol_whitelist']) {
    const at = args.indexOf(flag);
    assert.ok(at >= 0 && at < i, `${flag} before -i`);
  }
  assert.equal(valueAfter(args, '-stream_loop'), '-1');
  assert.equal(valueAfter(args, '-protocol_whitelist'), 'http,tcp');
  assert.equal(valueAfter(args, '-i'), 'http://cam/stream');
  const plain = buildDecodeArgs({ input: 'a.mp4', sampling: { mode: 'every' }, geometry });
  for (const flag of ['-re', '-stream_loop', '-protocol_whitelist']) assert.ok(!plain.includes(flag));
});

test('URLs and stdin pass through; every local path goes as a file: URL, so none is read as an option or a protocol', () => {
  assert.equal(ffmpegInput('rtsp://10.0.0.2/live'), 'rtsp://10.0.0.2/live');
  assert.equal(ffmpegInput('/videos/a.mp4'), 'file:/videos/a.mp4');
  assert.equal(ffmpegInput('-report'), 'file:-report');
  assert.equal(ffmpegInput('-'), '-');
  assert.equal(ffmpegInput('pipe:0'), 'pipe:0');
  assert.equal(ffmpegInput('50% off #1?.mp4'), 'file:50% off #1?.mp4');
  assert.equal(ffmpegInput('clips/12:30.mp4'), 'file:clips/12:30.mp4');
  assert.equal(ffmpegInput('file:x.mp4'), 'file:x.mp4');
  assert.equal(localPath('https://example.com/a.mp4'), null);
  assert.equal(localPath('-'), null);
  assert.equal(localPath('file:/v/a.mp4'), '/v/a.mp4');
  assert.equal(localPath('/v/a.mp4'), '/v/a.mp4');
  assert.throws(() => buildDecodeArgs({ input: '', sampling: { mode: 'every' }, geometry }), RangeError);
});

test('fastScale: one scale that resizes and converts (chroma interpolated), then rgb24 and the crop; no conversion at source resolution', () => {
  const exact = buildFilterChain({ mode: 'every' }, geometry).split(/(?<!\\),/);
  const fast = buildFilterChain({ mode: 'every' }, { ...geometry, fastScale: true }).split(/(?<!\\),/);
  assert.equal(exact.filter((f) => f.startsWith('scale=')).length, 2);
  const scales = fast.filter((f) => f.startsWith('scale='));
  assert.equal(scales.length, 1);
  assert.match(scales[0]!, /^scale=w=.*:flags=bilinear\+accurate_rnd\+full_chroma_int$/);
  assert.deepEqual(fast.slice(fast.indexOf(scales[0]!) + 1, -1), ['format=rgb24', fast.find((f) => f.startsWith('crop='))]);
  assert.match(
    buildFilterChain({ mode: 'every' }, { ...geometry, resize: { width: 300, height: 300 }, fastScale: true }),
    /scale=w=300:h=300:flags=bilinear\+accurate_rnd\+full_chroma_int,format=rgb24,crop=/,
  );
});
