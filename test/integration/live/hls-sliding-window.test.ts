/**
 * A live HLS playlist as cameras and NVRs serve it: ffmpeg's hls muxer
 * writing a sliding window into a folder, `python3 -m http.server` serving
 * it. The packager is killed while the web server stays up (its last
 * playlist stays in place), then started again at another size and rate.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveFfmpegCount } from '../../../src/ingest/ffmpeg-process.ts';
import { describeSource } from '../../../src/ingest/source-kind.ts';
import { protocolWhitelistFor } from '../../../src/ingest/source-allowlist.ts';
import { recordedRunner } from './live-helpers.ts';
import { freePort } from '../../helpers/ports.ts';
import { startHlsWriter, startPythonHttpServer, type ServerProcess } from './servers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-hls-window-'));
const servers: ServerProcess[] = [];
after(async () => {
  for (const s of servers) await s.kill();
  rmSync(dir, { recursive: true, force: true });
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test(
  'sliding-window HLS: packager killed -> reconnecting, and it stays so (the playlist left behind is not replayed as live); packager back at another size and rate -> live',
  { timeout: 150_000 },
  async () => {
    let writer = startHlsWriter(dir);
    servers.push(writer);
    const until = Date.now() + 20_000;
    while (!existsSync(join(dir, 'live.m3u8'))) {
      if (Date.now() > until) throw new Error('ffmpeg wrote no playlist');
      await sleep(100);
    }
    const port = await freePort();
    servers.push(await startPythonHttpServer(dir, port));
    const url = `http://127.0.0.1:${port}/live.m3u8`;
    const source = describeSource(url);
    const r = recordedRunner({
      url,
      input: source.input,
      inputOptions: source.inputOptions,
      protocolWhitelist: protocolWhitelistFor('http'),
      watchdog: {
        stallTimeoutMs: 5000,
        startTimeoutMs: 8000,
        stopGraceMs: 1000,
        backoff: { initialMs: 200, maxMs: 1000, jitter: 0.5, healthyAfterMs: 60_000 },
      },
    });
    r.runner.start();
    await r.waitFor('live', 30_000);
    await sleep(3000);

    await sleep(Math.random() * 2000); // anywhere within a 2 s segment
    const killedAt = Date.now();
    await writer.kill();
    await r.waitFor('reconnecting', 20_000, killedAt);
    // Restarted runs find the same five segments: nothing of them goes out, nor any `live`.
    const framesWhileDown = r.frames();
    const restartsBefore = r.runner.restarts;
    await sleep(20_000);
    assert.ok(r.runner.restarts > restartsBefore, `runs were restarted meanwhile: ${r.runner.restarts}`);
    assert.equal(r.frames(), framesWhileDown, 'no frame of the old playlist published again');
    assert.deepEqual(
      r.statuses.filter((s) => s.at > killedAt && s.state !== 'reconnecting'),
      [],
      'never live while the packager is away',
    );
    const last = r.statuses.at(-1)?.detail ?? '';
    assert.match(last, /the playlist has not grown: \d+ frames .* were skipped/);

    const backAt = Date.now();
    writer = startHlsWriter(dir, { size: '640x360', fps: 15 });
    servers.push(writer);
    await r.waitFor('live', 40_000, backAt);
    const before = r.frames();
    await sleep(3000);
    assert.ok(r.frames() > before, `frames flow again: ${before} then ${r.frames()}`);

    await r.runner.stop();
    assert.equal(liveFfmpegCount(), 0);
  },
);
