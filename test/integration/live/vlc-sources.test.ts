/**
 * Debian's VLC as the camera (a server the project did not write), killed
 * and started again at moments of the test's choosing, the second time at
 * another resolution and frame rate.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { liveFfmpegCount } from '../../../src/ingest/ffmpeg-process.ts';
import { describeSource } from '../../../src/ingest/source-kind.ts';
import { protocolWhitelistFor } from '../../../src/ingest/source-allowlist.ts';
import { ffmpegChildrenOf } from '../../helpers/processes.ts';
import { recordedRunner, type Recorded } from './live-helpers.ts';
import { freePort } from '../../helpers/ports.ts';
import { haveVlc, startVlcServer, type ServerProcess } from './servers.ts';

const skip = haveVlc() ? false : 'VLC missing (apt-get install vlc-bin vlc-plugin-base)';
const servers: ServerProcess[] = [];
after(async () => {
  for (const s of servers) await s.kill();
});

const WATCHDOG = {
  stallTimeoutMs: 3000,
  startTimeoutMs: 15_000,
  stopGraceMs: 1000,
  backoff: { initialMs: 200, maxMs: 1000, jitter: 0.5, healthyAfterMs: 60_000 },
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Frames keep coming: more after `ms` than before. */
async function assertFramesFlow(r: Recorded, ms = 1500): Promise<void> {
  const before = r.frames();
  await sleep(ms);
  assert.ok(r.frames() > before, `frames flow: ${before} then ${r.frames()}`);
}

/**
 * Live; the server killed at a random moment -> reconnecting; the server
 * back at 640x360 and 15 fps -> live again, frames flowing; one ffmpeg at a
 * time, none after stop.
 */
async function killAndRestart(r: Recorded, start: () => Promise<ServerProcess>): Promise<void> {
  r.runner.start();
  await r.waitFor('live', 30_000);
  await assertFramesFlow(r);

  await sleep(Math.random() * 1000); // anywhere in a frame, a packet, a key frame interval
  const killedAt = Date.now();
  await servers.pop()!.kill();
  await r.waitFor('reconnecting', 15_000, killedAt);
  await sleep(1500); // a few refused connections

  const backAt = Date.now();
  servers.push(await start());
  await r.waitFor('live', 30_000, backAt);
  await assertFramesFlow(r);

  assert.ok(liveFfmpegCount() <= 1, `ffmpeg runs of the stream: ${liveFfmpegCount()}`);
  await r.runner.stop();
  assert.equal(liveFfmpegCount(), 0);
  await servers.pop()!.kill(); // its ffmpeg feed is a child of this process too
  assert.deepEqual(ffmpegChildrenOf(process.pid), []);
}

test(
  'VLC RTSP server (RTP over UDP only): by default TCP is refused (461) and ffmpeg falls back to UDP; killed -> reconnecting; back at another size and rate -> live',
  { skip, timeout: 120_000 },
  async () => {
    const port = await freePort();
    servers.push(await startVlcServer(port, { kind: 'rtsp' }));
    const url = `rtsp://127.0.0.1:${port}/cam`;
    const source = describeSource(url);
    const r = recordedRunner({
      url,
      input: source.input,
      inputOptions: source.inputOptions,
      protocolWhitelist: protocolWhitelistFor('rtsp'),
      watchdog: WATCHDOG,
    });
    await killAndRestart(r, () => startVlcServer(port, { kind: 'rtsp', size: '640x360', fps: 15 }));
  },
);

test(
  'VLC RTSP server with rtspTransport tcp forced: the status says the server refused the transport (461), not just "Protocol not supported"',
  { skip, timeout: 60_000 },
  async () => {
    const port = await freePort();
    servers.push(await startVlcServer(port, { kind: 'rtsp' }));
    const url = `rtsp://127.0.0.1:${port}/cam`;
    const source = describeSource(url, { rtspTransport: 'tcp' });
    const r = recordedRunner({
      url,
      input: source.input,
      inputOptions: source.inputOptions,
      protocolWhitelist: protocolWhitelistFor('rtsp'),
      watchdog: WATCHDOG,
    });
    r.runner.start();
    // Until its input is up, VLC answers DESCRIBE with 500; then SETUP over TCP with 461.
    const until = Date.now() + 30_000;
    const refused = (): string | undefined => r.statuses.find((s) => s.state === 'reconnecting' && /461/.test(s.detail ?? ''))?.detail;
    while (refused() === undefined && Date.now() < until) await sleep(100);
    assert.match(
      refused() ?? JSON.stringify(r.statuses),
      /SETUP failed: 461 Unsupported transport \(the server does not stream RTP over the RTSP transport asked for: see rtspTransport\)/,
    );
    assert.equal(r.frames(), 0);
    await r.runner.stop();
    await servers.pop()!.kill();
    assert.deepEqual(ffmpegChildrenOf(process.pid), []);
  },
);

test(
  'VLC HTTP MJPEG server (mpjpeg mux, served as application/octet-stream) through the host guard: live; killed -> reconnecting; back at another size and rate -> live',
  { skip, timeout: 120_000 },
  async () => {
    const port = await freePort();
    servers.push(await startVlcServer(port, { kind: 'mjpeg' }));
    const url = `http://127.0.0.1:${port}/cam.mjpg`;
    const source = describeSource(url);
    const r = recordedRunner({
      url,
      input: source.input,
      inputOptions: source.inputOptions,
      protocolWhitelist: protocolWhitelistFor('http'),
      watchdog: WATCHDOG,
    });
    await killAndRestart(r, () => startVlcServer(port, { kind: 'mjpeg', size: '640x360', fps: 15 }));
  },
);
