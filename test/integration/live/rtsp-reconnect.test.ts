import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { liveFfmpegCount } from '../../../src/ingest/ffmpeg-process.ts';
import { describeSource } from '../../../src/ingest/source-kind.ts';
import { protocolWhitelistFor } from '../../../src/ingest/source-allowlist.ts';
import { ffmpegChildrenOf } from '../../helpers/processes.ts';
import { recordedRunner } from './live-helpers.ts';
import { freePort } from '../../helpers/ports.ts';
import { haveRtspServer, startRtspServer, type ServerProcess } from './servers.ts';

const skip = haveRtspServer()
  ? false
  : 'GStreamer RTSP server missing (apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)';
const servers: ServerProcess[] = [];
after(async () => {
  for (const s of servers) await s.kill();
});

const PASSWORD = 'Sup3rSecretPw';
const BACKOFF = { initialMs: 200, maxMs: 1000, jitter: 0.5, healthyAfterMs: 60_000 };

test(
  'RTSP: live; server killed -> reconnecting; server back -> live within the backoff; no ffmpeg left; no credentials shown',
  { skip, timeout: 90_000 },
  async () => {
    const port = await freePort();
    servers.push(await startRtspServer(port));
    const url = `rtsp://admin:${PASSWORD}@127.0.0.1:${port}/live`;
    const source = describeSource(url);
    const r = recordedRunner({
      url,
      input: source.input,
      inputOptions: source.inputOptions,
      protocolWhitelist: protocolWhitelistFor('rtsp'),
      watchdog: { stallTimeoutMs: 3000, startTimeoutMs: 10_000, stopGraceMs: 1000, backoff: BACKOFF },
    });
    const t0 = Date.now();
    r.runner.start();
    const firstLive = await r.waitFor('live', 20_000);
    const startupMs = firstLive - t0;
    await new Promise((res) => setTimeout(res, 1000));
    assert.ok(r.frames() >= 2, `frames flow: ${r.frames()}`);

    const killedAt = Date.now();
    await servers.pop()!.kill();
    await r.waitFor('reconnecting', 10_000, killedAt);
    // Let a few connection attempts fail (refused) so the backoff grows to its cap.
    await new Promise((res) => setTimeout(res, 3000));
    assert.ok(r.runner.restarts >= 2, `restarts while down: ${r.runner.restarts}`);

    const backAt = Date.now();
    servers.push(await startRtspServer(port));
    const liveAgain = await r.waitFor('live', BACKOFF.maxMs + startupMs + 5000, backAt);
    assert.ok(
      liveAgain - backAt <= BACKOFF.maxMs + startupMs + 3000,
      `live again after ${liveAgain - backAt} ms (backoff cap ${BACKOFF.maxMs} ms, first start ${startupMs} ms)`,
    );
    const before = r.frames();
    await new Promise((res) => setTimeout(res, 1000));
    assert.ok(r.frames() > before, 'frames flow again');

    // One ffmpeg at a time, and none after stop.
    assert.ok(ffmpegChildrenOf(process.pid).length <= 1);
    await r.runner.stop();
    assert.equal(liveFfmpegCount(), 0);
    assert.deepEqual(ffmpegChildrenOf(process.pid), []);

    const shown = [
      ...r.logs,
      ...r.statuses.map((s) => s.detail ?? ''),
      r.runner.displayUrl,
      ...r.runner.ffmpegLog(),
      await r.metrics.render().then((m) => m.body),
    ].join('\n');
    assert.ok(!shown.includes(PASSWORD), 'the password never appears in logs, status, metrics');
    assert.ok(shown.includes('rtsp://***@127.0.0.1'), `the URL is shown redacted: ${r.runner.displayUrl}`);
    const restarts = (await r.metrics.registry.getSingleMetric('streamsight_decoder_restarts_total')!.get()).values[0]?.value ?? 0;
    assert.equal(restarts, r.runner.restarts);
  },
);

test('RTSP stall: the server stops sending but keeps the socket open -> detected, ffmpeg killed, restarted', { skip, timeout: 60_000 }, async () => {
  const port = await freePort();
  const server = await startRtspServer(port);
  servers.push(server);
  const url = `rtsp://127.0.0.1:${port}/live`;
  const source = describeSource(url);
  const r = recordedRunner({
    url,
    input: source.input,
    inputOptions: source.inputOptions,
    protocolWhitelist: protocolWhitelistFor('rtsp'),
    watchdog: { stallTimeoutMs: 1500, startTimeoutMs: 10_000, stopGraceMs: 500, backoff: BACKOFF },
  });
  r.runner.start();
  await r.waitFor('live', 20_000);
  const stalledFfmpeg = ffmpegChildrenOf(process.pid);
  assert.equal(stalledFfmpeg.length, 1);
  const pausedAt = Date.now();
  server.pause();
  const detected = await r.waitFor('reconnecting', 8000, pausedAt);
  const status = r.statuses.find((s) => s.state === 'reconnecting' && s.at >= pausedAt)!;
  assert.match(status.detail ?? '', /stalled: no frame for 1500 ms/);
  assert.ok(detected - pausedAt >= 1000 && detected - pausedAt < 1500 + 1000 + 2000, `stall detected after ${detected - pausedAt} ms`);
  // The stalled ffmpeg was stopped (SIGTERM, then SIGKILL after the grace) and reaped.
  for (const pid of stalledFfmpeg) assert.throws(() => process.kill(pid, 0), /ESRCH/);

  const resumedAt = Date.now();
  server.resume();
  await r.waitFor('live', 20_000, resumedAt);
  await r.runner.stop();
  assert.deepEqual(ffmpegChildrenOf(process.pid), []);
});
