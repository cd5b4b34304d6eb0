import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeSource } from '../../../src/ingest/source-kind.ts';
import { protocolWhitelistFor } from '../../../src/ingest/source-allowlist.ts';
import { ffmpegChildrenOf } from '../../helpers/processes.ts';
import { recordedRunner } from './live-helpers.ts';
import { freePort } from '../../helpers/ports.ts';
import { startMjpegServer, startStaticServer, type ServerProcess } from './servers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-hls-'));
const servers: ServerProcess[] = [];
after(async () => {
  for (const s of servers) await s.kill();
  rmSync(dir, { recursive: true, force: true });
});

const WATCHDOG = { stallTimeoutMs: 1500, startTimeoutMs: 8000, stopGraceMs: 500, backoff: { initialMs: 200, maxMs: 1000 } };

test(
  'HTTP MJPEG (ffmpeg -listen as the camera) through the host guard: live, sampled by the wall clock; a stalled server is restarted',
  { timeout: 60_000 },
  async () => {
    const port = await freePort();
    const server = await startMjpegServer(port, 10);
    servers.push(server);
    const url = `http://127.0.0.1:${port}/cam.mjpg`;
    const source = describeSource(url);
    const r = recordedRunner({
      url,
      input: source.input,
      inputOptions: source.inputOptions,
      protocolWhitelist: protocolWhitelistFor('http'),
      watchdog: WATCHDOG,
      fps: 5,
    });
    r.runner.start();
    const liveAt = await r.waitFor('live', 15_000);
    // Through the host guard (the runner's default for http sources), nothing else.
    const argv = ffmpegChildrenOf(process.pid)
      .filter((pid) => pid !== server.child.pid)
      .map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'));
    assert.equal(argv.length, 1);
    assert.match(argv[0]![argv[0]!.indexOf('-http_proxy') + 1] ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    await new Promise((res) => setTimeout(res, 2000));
    // 5 fps of wall time from a 10 fps camera (MJPEG has no timestamps; ffmpeg would count them at 25 fps).
    const n = r.frames();
    const seconds = (Date.now() - liveAt) / 1000;
    assert.ok(n >= 3 * seconds && n <= 6 * seconds + 2, `${n} frames in ${seconds.toFixed(1)} s at --fps 5`);

    const pausedAt = Date.now();
    server.pause();
    await r.waitFor('reconnecting', 6000, pausedAt);
    assert.match(r.statuses.at(-1)?.detail ?? '', /stalled/);
    await server.kill();
    await r.runner.stop();
    assert.deepEqual(ffmpegChildrenOf(process.pid), []);
  },
);

test('HLS over HTTP: a playlist and its segments from a plain web server decode as a live source', { timeout: 60_000 }, async () => {
  execFileSync('ffmpeg', [
    '-nostdin',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=320x240:rate=10',
    '-t',
    '3',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    '10',
    '-f',
    'hls',
    '-hls_time',
    '1',
    '-hls_list_size',
    '0',
    '-hls_playlist_type',
    'vod',
    join(dir, 'live.m3u8'),
  ]);
  const web = await startStaticServer(dir);
  try {
    const url = `http://127.0.0.1:${web.port}/live.m3u8`;
    const source = describeSource(url);
    assert.deepEqual(source.inputOptions, [], 'HLS keeps its own timestamps');
    const r = recordedRunner({
      url,
      input: source.input,
      inputOptions: source.inputOptions,
      protocolWhitelist: protocolWhitelistFor('http'),
      watchdog: WATCHDOG,
      fps: 2,
    });
    r.runner.start();
    await r.waitFor('live', 15_000);
    // A VOD playlist ends: for a camera-like source that is a drop, and it is played again.
    await r.waitFor('reconnecting', 15_000);
    await r.runner.stop();
    assert.ok(r.frames() >= 5, `frames: ${r.frames()}`);
    assert.ok(r.statuses.filter((s) => s.state === 'live').length >= 1);
  } finally {
    await web.close();
  }
});
