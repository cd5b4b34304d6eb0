import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { samplingFor } from '../../../../src/inference/quantize/calibration-frames.ts';

describe('samplingFor: frames spread over a video', () => {
  test('every frame when the video holds no more than wanted', () => {
    assert.deepEqual(samplingFor(100, 4000, 100), { mode: 'every' });
    assert.deepEqual(samplingFor(40, 4000, 100), { mode: 'every' });
  });

  test('an fps that yields a little over `wanted` frames across the whole duration', () => {
    const s = samplingFor(1500, 60_000, 100);
    assert.equal(s.mode, 'fps');
    const fps = (s as { fps: number }).fps;
    assert.ok(fps * 60 >= 100 && fps * 60 <= 103, `fps ${fps}`);
  });

  test('no duration (a live source): every frame, the caller stops at `wanted`', () => {
    assert.deepEqual(samplingFor(null, null, 100), { mode: 'every' });
  });
});
