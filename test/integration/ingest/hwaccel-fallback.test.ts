/**
 * Hardware decoding that cannot start falls back to software, with real
 * ffmpeg. This machine has no GPU and no /dev/dri: `vaapi` and `cuda` fail
 * at start here, which is exactly the fallback path. (On a machine with the
 * device, the first decode simply succeeds and no fallback is reported.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFrames } from '../../../src/ingest/file-decoder.ts';
import { isHwaccelFailureLine } from '../../../src/ingest/ffmpeg-log.ts';
import { SourceWatchdog } from '../../../src/ingest/source-watchdog.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { makeClip } from '../../helpers/clips.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { waitFor } from '../../helpers/wait.ts';

let tmp: ReturnType<typeof makeTempDir>;
let clip: string;
const geometry = { resize: { shorter: 64 }, cropWidth: 64, cropHeight: 64 };
const noDevices = !existsSync('/dev/dri') && !existsSync('/dev/nvidia0');

before(() => {
  tmp = makeTempDir('ss-hwaccel-');
  clip = makeClip(join(tmp.dir, 'clip.mp4'), { seconds: 2, rate: 10, gop: 10 });
});
after(() => tmp.cleanup());

for (const hwaccel of ['vaapi', 'cuda'] as const) {
  test(
    `decodeFrames with hwaccel ${hwaccel} and no device: every frame, decoded in software, and the reason reported once`,
    { skip: !noDevices && 'this machine has a device' },
    async () => {
      const reasons: string[] = [];
      const decode = decodeFrames(clip, {
        streamId: 's',
        runId: 'r',
        sampling: { mode: 'every' },
        geometry,
        hwaccel,
        onHwaccelFallback: (r) => reasons.push(r),
      });
      let n = 0;
      for await (const f of decode) {
        assert.equal(f.seq, n);
        n++;
      }
      assert.equal(n, 20);
      assert.equal(reasons.length, 1);
      assert.match(reasons[0]!, new RegExp(`^${hwaccel}: .*(Device|device|libcuda)`));
      assert.equal(decode.stats.errorLines, 0, "the failed start's errors are not the software run's");
    },
  );
}

test('hwaccel auto needs no fallback: ffmpeg decodes in software by itself', async () => {
  const reasons: string[] = [];
  let n = 0;
  for await (const _ of decodeFrames(clip, {
    streamId: 's',
    runId: 'r',
    sampling: { mode: 'every' },
    geometry,
    hwaccel: 'auto',
    onHwaccelFallback: (r) => reasons.push(r),
  }))
    n++;
  assert.equal(n, 20);
  assert.deepEqual(reasons, []);
});

test('a source that fails for another reason is not retried in software: its own error stands', async () => {
  const reasons: string[] = [];
  const junk = join(tmp.dir, 'junk.mp4');
  writeFileSync(junk, Buffer.alloc(4096, 7));
  await assert.rejects(async () => {
    for await (const _ of decodeFrames(junk, {
      streamId: 's',
      runId: 'r',
      sampling: { mode: 'every' },
      geometry,
      hwaccel: 'vaapi',
      onHwaccelFallback: (r) => reasons.push(r),
    }))
      void _;
  }, /not a video|invalid data|could not/i);
  assert.deepEqual(reasons, []);
});

test(
  "the watchdog's stream goes live in software with the reason in the live state's detail, and its restarts keep software",
  { skip: !noDevices && 'this machine has a device' },
  async () => {
    const states: Array<[string, string | undefined]> = [];
    let frames = 0;
    const dog = new SourceWatchdog({
      id: 'cam',
      url: clip,
      live: true,
      loop: true,
      sampling: { mode: 'fps', fps: 5 },
      geometry,
      realtime: true,
      decodeThreads: 1,
      hwaccel: 'vaapi',
      stallTimeoutMs: 5000,
      startTimeoutMs: 10_000,
      stopGraceMs: 1000,
      maxRestarts: 0,
      logLines: 20,
      maxStartsPerMinute: 20,
      backoff: { initialMs: 100, maxMs: 1000, jitter: 0, healthyAfterMs: 30_000 },
      onFrame: () => void frames++,
      onState: (s, d) => states.push([s, d]),
      logger: createLogger({ level: 'silent' }),
    });
    dog.start();
    try {
      // The 2 s clip loops: later runs must not try vaapi again.
      await waitFor('a third run', () => dog.runs >= 3 && frames >= 12, { timeoutMs: 30_000 });
      const live = states.find(([s]) => s === 'live');
      assert.ok(live, JSON.stringify(states));
      assert.match(live[1] ?? '', /^software decoding: hwaccel vaapi: /);
      assert.equal(dog.state, 'live');
      // The log of the last run that ended (the second): software from the start, no hwaccel tried.
      assert.ok(!dog.log().some(isHwaccelFailureLine), dog.log().join('\n'));
    } finally {
      await dog.stop();
    }
  },
);
