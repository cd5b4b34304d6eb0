import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDecodeArgs } from '../../../src/ingest/ffmpeg-args.ts';
import { describeSource } from '../../../src/ingest/source-kind.ts';

const geometry = { resize: { shorter: 256 }, cropWidth: 224, cropHeight: 224 };

test('each kind of source and how ffmpeg opens it', () => {
  const rtsp = describeSource('rtsp://u:p@cam/x');
  // TCP first; UDP when the server refuses TCP (461), as VLC's RTSP server does.
  assert.deepEqual([rtsp.kind, rtsp.live, rtsp.inputOptions], ['rtsp', true, ['-rtsp_transport', 'tcp+udp', '-rtsp_flags', 'prefer_tcp']]);
  assert.deepEqual(describeSource('rtsp://cam/x', { rtspTransport: 'tcp' }).inputOptions, ['-rtsp_transport', 'tcp']);
  assert.deepEqual(describeSource('rtsps://cam/x', { rtspTransport: 'udp' }).inputOptions, ['-rtsp_transport', 'udp']);
  assert.deepEqual([describeSource('http://cam/mjpg').kind, describeSource('https://cdn/live.m3u8').kind], ['http', 'http']);
  // MJPEG has no timestamps of its own; HLS has.
  assert.deepEqual(describeSource('http://cam/video.mjpg').inputOptions, ['-use_wallclock_as_timestamps', '1']);
  assert.deepEqual(describeSource('https://cdn/live.m3u8?token=x').inputOptions, []);
  assert.equal(describeSource('srt://127.0.0.1:9000?mode=caller').kind, 'srt');
  assert.equal(describeSource('udp://239.0.0.1:1234').kind, 'udp');
  const cam = describeSource('/dev/video0');
  assert.deepEqual([cam.kind, cam.live, cam.inputOptions], ['v4l2', true, ['-f', 'v4l2']]);
  const stdin = describeSource('-');
  assert.deepEqual([stdin.kind, stdin.input, stdin.stdin, stdin.live], ['stdin', 'pipe:0', true, true]);
  for (const file of ['/srv/a.mp4', 'clip.mp4', 'file:/srv/a.mp4', '/dev/video0.mp4']) {
    assert.deepEqual([describeSource(file).kind, describeSource(file).live], ['file', false], file);
  }
});

test('input options go right before -i; -i among them is refused', () => {
  const args = buildDecodeArgs({
    input: 'rtsp://cam/x',
    sampling: { mode: 'fps', fps: 5 },
    geometry,
    inputOptions: ['-rtsp_transport', 'tcp'],
    protocolWhitelist: ['rtsp', 'tcp'],
  });
  const i = args.indexOf('-i');
  assert.deepEqual(args.slice(i - 2, i + 2), ['-rtsp_transport', 'tcp', '-i', 'rtsp://cam/x']);
  assert.ok(args.indexOf('-protocol_whitelist') < i);
  assert.throws(() => buildDecodeArgs({ input: 'a.mp4', sampling: { mode: 'every' }, geometry, inputOptions: ['-i', '/etc/passwd'] }), RangeError);
});
