/**
 * Whatever a source's tuning, its ffmpeg starts at most maxStartsPerMinute
 * times in any minute: a camera URL that fails at once, with the backoff at
 * its floor, no longer makes ffmpeg start dozens of times a second.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../../helpers/ports.ts';
import { recordedRunner } from './live-helpers.ts';

test('a source that fails at once starts ffmpeg at most maxStartsPerMinute times a minute, and says why it waits', { timeout: 30_000 }, async () => {
  const port = await freePort(); // bound, then closed: connections are refused
  const r = recordedRunner({
    url: `rtsp://127.0.0.1:${port}/live`,
    // The loosest tuning the API allows: backoff at its 100 ms floor, no jitter.
    watchdog: { stallTimeoutMs: 1000, startTimeoutMs: 1000, stopGraceMs: 200, backoff: { initialMs: 100, maxMs: 100, jitter: 0 }, maxStartsPerMinute: 6 },
  });
  r.runner.start();
  try {
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const runs = r.runner.runs;
    // Without the bound: one start per ~100 ms backoff plus ffmpeg's own start, ~20-30 in 4 s.
    assert.ok(runs <= 6, `ffmpeg started ${runs} times in 4 s`);
    assert.ok(runs >= 5, `it did restart the failing source (${runs} starts)`);
    assert.ok(
      r.statuses.some((s) => s.state === 'reconnecting' && /ffmpeg started 6 times within a minute/.test(s.detail ?? '')),
      JSON.stringify(r.statuses.map((s) => s.detail)),
    );
  } finally {
    await r.runner.stop();
  }
});
