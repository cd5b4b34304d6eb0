/**
 * A file played as a file (not live) waits for room in its stream's buffer
 * instead of dropping frames. The batch loop takes frames straight from the
 * buffer (pickBatch), then calls take(0) to let a paused file go on: that
 * call must wake it, or its ffmpeg stays paused forever and the stream never
 * ends (seen in serve: a 10-frame file stuck `live` after 8 frames, 1 run in 3).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StreamStatus } from '../../../src/contracts/results.ts';
import { StreamRunner } from '../../../src/pipeline/stream-runner.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { makeClip } from '../../helpers/clips.ts';
import { waitFor } from '../../helpers/wait.ts';
import { watchdogTuning } from '../../helpers/watchdog.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-file-resume-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a paused file goes on when the loop has emptied its buffer and calls take(0), to its end', { timeout: 60_000 }, async () => {
  const clip = makeClip(join(dir, 'six.mp4'), { seconds: 6, size: '64x48', rate: 1, gop: 1 });
  const states: StreamStatus[] = [];
  const runner = new StreamRunner({
    id: 'file',
    url: clip,
    sampling: { mode: 'every' },
    geometry: { resize: { shorter: 32 }, cropWidth: 32, cropHeight: 32 },
    live: false,
    realtime: false,
    loop: false,
    bufferFrames: 1,
    watchdog: watchdogTuning(),
    onFrame: () => undefined,
    onStatus: (s) => states.push(s),
    logger: createLogger({ level: 'silent' }),
  });
  runner.start();
  let seen = 0;
  try {
    while (!states.some((s) => s.state === 'ended')) {
      await waitFor(
        `frame ${seen + 1} in the buffer, or the end (states: ${states.map((s) => s.state).join(',')})`,
        () => runner.buffer.length > 0 || states.some((s) => s.state === 'ended'),
        10_000,
      );
      if (runner.buffer.length === 0) break;
      // As the batch loop does: the frames out of the buffer directly, then take(0) for the paused file.
      seen += runner.buffer.take(1).length;
      runner.take(0);
    }
  } finally {
    await runner.stop();
  }
  assert.equal(seen, 6);
  assert.deepEqual(
    states.map((s) => s.state),
    ['starting', 'live', 'ended'],
  );
});
