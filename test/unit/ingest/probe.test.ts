import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProbeJson, shownSize } from '../../../src/ingest/probe.ts';

test('shown size: stored width times the sample aspect ratio, sides swapped by a quarter turn', () => {
  assert.deepEqual(shownSize(720, 480, '32:27', undefined), { width: 853, height: 480 }); // 16:9 DVD
  assert.deepEqual(shownSize(1440, 1080, '4:3', 0), { width: 1920, height: 1080 }); // HDV
  assert.deepEqual(shownSize(1920, 1080, '1:1', -90), { width: 1080, height: 1920 }); // phone, portrait
  assert.deepEqual(shownSize(1920, 1080, undefined, 270), { width: 1080, height: 1920 });
  assert.deepEqual(shownSize(1920, 1080, '0:1', 180), { width: 1920, height: 1080 }); // SAR unknown: square
});

test('probe JSON: the first video stream that is not a cover picture, at its shown size', () => {
  const json = JSON.stringify({
    streams: [
      { codec_type: 'video', codec_name: 'mjpeg', width: 600, height: 600, disposition: { attached_pic: 1 } },
      {
        codec_type: 'video',
        codec_name: 'h264',
        width: 1920,
        height: 1080,
        sample_aspect_ratio: '1:1',
        avg_frame_rate: '30/1',
        duration: '2.0',
        nb_frames: '60',
        side_data_list: [{ rotation: -90 }],
      },
    ],
    format: { duration: '2.0', format_name: 'mov,mp4,m4a,3gp,3g2,mj2' },
  });
  const p = parseProbeJson('phone.mov', json);
  assert.deepEqual([p.codec, p.width, p.height, p.frameCount, p.durationMs], ['h264', 1080, 1920, 60, 2000]);
});
