/** The decoder's input options: threads and hardware decoding, before `-i`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDecodeArgs, decoderOptions } from '../../../src/ingest/ffmpeg-args.ts';
import { isHwaccelFailureLine } from '../../../src/ingest/ffmpeg-log.ts';

const base = { input: 'cam.mp4', sampling: { mode: 'fps', fps: 5 } as const, geometry: { resize: { shorter: 256 }, cropWidth: 224, cropHeight: 224 } };

test('-threads and -hwaccel are input options: before -i, and the output keeps its own -threads 1', () => {
  const args = buildDecodeArgs({ ...base, decodeThreads: 1, hwaccel: 'vaapi' });
  const i = args.indexOf('-i');
  assert.deepEqual(args.slice(args.indexOf('-threads'), args.indexOf('-threads') + 4), ['-threads', '1', '-hwaccel', 'vaapi']);
  assert.ok(args.indexOf('-threads') < i && args.indexOf('-hwaccel') < i);
  assert.equal(args.lastIndexOf('-threads') > i, true, 'the rawvideo output still has its -threads 1');
});

test("none and undefined add nothing; 0 threads is ffmpeg's choice, said explicitly; bad values are RangeErrors", () => {
  assert.deepEqual(decoderOptions({}), []);
  assert.deepEqual(decoderOptions({ hwaccel: 'none' }), []);
  assert.deepEqual(decoderOptions({ decodeThreads: 0, hwaccel: 'auto' }), ['-threads', '0', '-hwaccel', 'auto']);
  assert.deepEqual(decoderOptions({ hwaccel: 'cuda' }), ['-hwaccel', 'cuda']);
  assert.throws(() => decoderOptions({ decodeThreads: -1 }), RangeError);
  assert.throws(() => decoderOptions({ decodeThreads: 1.5 }), RangeError);
  assert.throws(() => decoderOptions({ hwaccel: 'qsv' as never }), /hwaccel/);
});

test("ffmpeg 5.1's lines for a hwaccel without its device are recognised, other errors are not", () => {
  assert.ok(isHwaccelFailureLine('[error] Device creation failed: -542398533.'));
  assert.ok(isHwaccelFailureLine('[h264 @ 0x55] [error] No device available for decoder: device type vaapi needed for codec h264.'));
  assert.ok(isHwaccelFailureLine('[AVHWDeviceContext @ 0x55] [error] Cannot load libcuda.so.1'));
  assert.ok(!isHwaccelFailureLine('[error] cam.mp4: No such file or directory'));
  assert.ok(!isHwaccelFailureLine('[h264 @ 0x55] [error] error while decoding MB 3 4'));
});
