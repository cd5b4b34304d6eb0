import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planSource } from '../../../src/pipeline/source-plan.ts';
import { watchdogTuning } from '../../helpers/watchdog.ts';

const defaults = {
  liveFps: 5,
  fileFps: 1,
  allowedHosts: ['*.cams.example'],
  watchdog: watchdogTuning({ stallTimeoutMs: 10_000, backoff: { initialMs: 1000, maxMs: 30_000, jitter: 0.5, healthyAfterMs: 30_000 } }),
};

describe('planSource (how distributed ingest opens a source: the rules of embedded serve)', () => {
  test("an RTSP camera is live, restarted whatever the error, TCP first by default (UDP if the server refuses TCP), limited to its scheme's protocols", () => {
    const p = planSource({ id: 'door', url: 'rtsp://10.0.0.5/s1' }, defaults);
    assert.equal(p.kind, 'rtsp');
    assert.deepEqual([p.live, p.camera, p.realtime, p.restartable, p.fps], [true, true, false, true, 5]);
    assert.deepEqual(p.inputOptions, ['-rtsp_transport', 'tcp+udp', '-rtsp_flags', 'prefer_tcp']);
    assert.deepEqual(p.protocolWhitelist, ['rtsp', 'rtp', 'udp', 'tcp']);
    assert.equal(p.hostGuard, undefined);
    assert.deepEqual(planSource({ id: 'd', url: 'rtsp://10.0.0.5/s1', rtspTransport: 'udp' }, defaults).inputOptions, ['-rtsp_transport', 'udp']);
  });

  test('a file is every frame at the file rate; with live it is played at its own pace but is no camera; loop is kept', () => {
    const file = planSource({ id: 'f', url: '/srv/a.mp4' }, defaults);
    assert.deepEqual([file.live, file.camera, file.realtime, file.fps, file.protocolWhitelist], [false, false, false, 1, undefined]);
    const played = planSource({ id: 'f', url: '/srv/a.mp4', live: true, loop: true, fps: 2 }, defaults);
    assert.deepEqual([played.live, played.camera, played.realtime, played.loop, played.fps], [true, false, true, true, 2]);
  });

  test("an http source gets the host guard: its own host:port and the allowlist's patterns", () => {
    const p = planSource({ id: 'h', url: 'http://cam1.cams.example:8080/mjpeg' }, defaults);
    assert.equal(p.kind, 'http');
    assert.deepEqual(p.hostGuard?.patterns, ['*.cams.example']);
    assert.equal(p.hostGuard?.exact.length, 1);
    assert.equal(p.hostGuard?.exact[0]!.port, 8080);
  });

  test("stdin cannot be restarted; a source's watchdog overrides merge over the defaults key by key", () => {
    assert.equal(planSource({ id: 'p', url: '-' }, defaults).restartable, false);
    const p = planSource({ id: 'slow', url: 'rtsp://h/x', watchdog: { stallTimeoutMs: 60_000, backoff: { maxMs: 5000 } } }, defaults);
    assert.equal(p.watchdog.stallTimeoutMs, 60_000);
    assert.equal(p.watchdog.startTimeoutMs, defaults.watchdog.startTimeoutMs);
    assert.deepEqual(p.watchdog.backoff, { initialMs: 1000, maxMs: 5000, jitter: 0.5, healthyAfterMs: 30_000 });
  });

  test('an explicit protocol whitelist (a source added over HTTP) wins over the default', () => {
    assert.deepEqual(planSource({ id: 'f', url: '/srv/a.mp4', protocolWhitelist: ['file'] }, defaults).protocolWhitelist, ['file']);
  });
});

test("commandSources: the config's sources with the flags filling what they leave unset, then each --source; bad names, repeats and two stdin readers are usage errors", async () => {
  const { commandSources } = await import('../../../src/pipeline/source-plan.ts');
  const { loadConfig } = await import('../../../src/config/loader.ts');
  const config = loadConfig({
    env: {},
    flags: {
      sources: [
        { id: 'lobby', url: '/srv/a.mp4', fps: 2 },
        { id: 'off', url: '/srv/b.mp4', enabled: false },
        { id: 'door', url: 'rtsp://h/x', rtspTransport: 'udp' },
      ],
    },
  });
  const specs = commandSources(config, { source: ['cam=rtsp://h/y'], fps: 4, live: true, loop: true, rtspTransport: 'tcp' });
  assert.deepEqual(
    specs.map((s) => [s.id, s.fps, s.live, s.loop, s.rtspTransport]),
    [
      ['lobby', 2, true, true, 'tcp'],
      ['door', 4, true, true, 'udp'],
      ['cam', 4, true, true, 'tcp'],
    ],
  );
  const usage = (fn: () => unknown, re: RegExp): void =>
    assert.throws(fn, (err: unknown) => (err as { code?: string }).code === 'E_USAGE' && re.test((err as Error).message));
  usage(() => commandSources(config, { source: ['lobby=/x.mp4'] }), /--source lobby: a stream with this name is already configured/);
  usage(() => commandSources(config, { source: ['bad name=/x.mp4'] }), /--source name "bad name"/);
  usage(() => commandSources(config, { source: ['a=-', 'b=-'] }), /only one source can read standard input/);
});
