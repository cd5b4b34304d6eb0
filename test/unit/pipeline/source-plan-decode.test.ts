/** How a source is gated and decoded: live.skipUnchanged, live.decodeThreads, live.hwaccel, and a source's own overrides. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigSchema, DEFAULTS } from '../../../src/config/schema.ts';
import { AddStreamSchema } from '../../../src/contracts/stream-request.ts';
import { configuredSources, liveDecodeDefaults, planSource } from '../../../src/pipeline/source-plan.ts';
import { watchdogTuning } from '../../helpers/watchdog.ts';

const base = { liveFps: 5, fileFps: 1, watchdog: watchdogTuning() };

test("defaults: the gate off, one decoder thread and software decoding for live sources; files keep ffmpeg's threads and are never gated", () => {
  assert.deepEqual(DEFAULTS.live.skipUnchanged, { enabled: false, threshold: 0.01, maxSkipMs: 5000 });
  const defaults = { ...base, ...liveDecodeDefaults(DEFAULTS) };
  const cam = planSource({ id: 'c', url: 'rtsp://10.0.0.5/s' }, defaults);
  assert.equal(cam.skipUnchanged, undefined);
  assert.equal(cam.decodeThreads, 1);
  assert.equal(cam.decodeNice, 10);
  assert.equal(cam.hwaccel, 'none');
  const file = planSource({ id: 'f', url: '/srv/a.mp4' }, { ...defaults, skipUnchanged: { enabled: true, threshold: 0.01, maxSkipMs: 5000 } });
  assert.equal(file.skipUnchanged, undefined);
  assert.equal(file.decodeThreads, undefined);
  assert.equal(file.decodeNice, undefined, "a file's decoding is the work itself: not niced");
  assert.equal(planSource({ id: 'l', url: '/srv/lobby.mp4', live: true }, defaults).decodeNice, 10);
  assert.equal(ConfigSchema.safeParse({ live: { decodeNice: 20 } }).success, false);
  assert.equal(planSource({ id: 'c', url: 'rtsp://h/s' }, { ...base, ...liveDecodeDefaults(ConfigSchema.parse({ live: { decodeNice: 0 } })) }).decodeNice, 0);
});

test("the server turns the gate on; a source turns it off, or on with its own threshold and maxSkipMs over the server's", () => {
  const on = { ...base, skipUnchanged: { enabled: true, threshold: 0.02, maxSkipMs: 3000 }, decodeThreads: 2, hwaccel: 'auto' as const };
  assert.deepEqual(planSource({ id: 'c', url: 'rtsp://h/s' }, on).skipUnchanged, { threshold: 0.02, maxSkipMs: 3000 });
  assert.equal(planSource({ id: 'c', url: 'rtsp://h/s', skipUnchanged: { enabled: false } }, on).skipUnchanged, undefined);
  const off = { ...base, skipUnchanged: { enabled: false, threshold: 0.02, maxSkipMs: 3000 } };
  assert.deepEqual(planSource({ id: 'c', url: 'rtsp://h/s', skipUnchanged: { enabled: true, maxSkipMs: 10_000 } }, off).skipUnchanged, {
    threshold: 0.02,
    maxSkipMs: 10_000,
  });
  const own = planSource({ id: 'c', url: 'rtsp://h/s', decodeThreads: 0, hwaccel: 'vaapi' }, on);
  assert.deepEqual([own.decodeThreads, own.hwaccel], [0, 'vaapi']);
  // A file played live is a live source: gated.
  assert.ok(planSource({ id: 'f', url: '/srv/a.mp4', live: true }, on).skipUnchanged);
});

test('config sources[] and POST bodies take skipUnchanged, decodeThreads and hwaccel; bad values are refused with their path', () => {
  const config = ConfigSchema.parse({
    live: { skipUnchanged: { enabled: true } },
    sources: [{ id: 'yard', url: 'rtsp://h/s', skipUnchanged: { threshold: 0.05 }, decodeThreads: 2, hwaccel: 'cuda' }],
  });
  assert.deepEqual(config.live.skipUnchanged, { enabled: true, threshold: 0.01, maxSkipMs: 5000 });
  const [spec] = configuredSources(config);
  assert.deepEqual([spec!.skipUnchanged, spec!.decodeThreads, spec!.hwaccel], [{ threshold: 0.05 }, 2, 'cuda']);
  assert.ok(AddStreamSchema.safeParse({ id: 'a', url: 'rtsp://h/s', skipUnchanged: { enabled: true, maxSkipMs: 0 }, hwaccel: 'auto' }).success);
  const bad = ConfigSchema.safeParse({ live: { skipUnchanged: { threshold: 0 } } });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error!.issues[0]!.path, ['live', 'skipUnchanged', 'threshold']);
  assert.equal(AddStreamSchema.safeParse({ id: 'a', url: 'x', hwaccel: 'qsv' }).success, false);
  assert.equal(AddStreamSchema.safeParse({ id: 'a', url: 'x', skipUnchanged: { every: 1 } }).success, false);
});

test('live.fastScale: off by default; when on, live sources get the one-pass scale and files never do', () => {
  assert.equal(DEFAULTS.live.fastScale, false);
  const off = { ...base, ...liveDecodeDefaults(DEFAULTS) };
  assert.equal(planSource({ id: 'c', url: 'rtsp://10.0.0.5/s' }, off).fastScale, false);
  const on = { ...base, ...liveDecodeDefaults(ConfigSchema.parse({ live: { fastScale: true } })) };
  assert.equal(planSource({ id: 'c', url: 'rtsp://10.0.0.5/s' }, on).fastScale, true);
  assert.equal(planSource({ id: 'l', url: '/srv/lobby.mp4', live: true, loop: true }, on).fastScale, true);
  assert.equal(planSource({ id: 'f', url: '/srv/a.mp4' }, on).fastScale, false);
});
