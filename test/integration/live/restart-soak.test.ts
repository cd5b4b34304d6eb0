import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { liveFfmpegCount } from '../../../src/ingest/ffmpeg-process.ts';
import { ffmpegChildrenOf } from '../../helpers/processes.ts';
import { recordedRunner } from './live-helpers.ts';
import { startSilentServer } from './servers.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function fds(): number {
  return readdirSync('/proc/self/fd').length;
}

async function settle(): Promise<{ fds: number; heap: number; children: number }> {
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 50));
    gc();
  }
  return { fds: fds(), heap: process.memoryUsage().heapUsed, children: ffmpegChildrenOf(process.pid).length };
}

async function restartsReach(r: { runner: { restarts: number } }, n: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (r.runner.restarts < n) {
    if (Date.now() > until) throw new Error(`only ${r.runner.restarts} restarts within ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

test(
  '200 forced restarts (a server that resets 3 connections in 4 and leaves the 4th silent until the start timeout): child processes, fds and heap back to their starting level',
  { timeout: 120_000 },
  async () => {
    const server = await startSilentServer({ resetAllBut: 4 });
    const r = recordedRunner({
      url: `http://127.0.0.1:${server.port}/cam.mjpg`,
      fps: 10,
      // No start-rate bound here: this test makes ffmpeg restart as fast as it can.
      watchdog: {
        stallTimeoutMs: 200,
        startTimeoutMs: 300,
        stopGraceMs: 200,
        backoff: { initialMs: 1, maxMs: 5, jitter: 0 },
        logLines: 20,
        maxStartsPerMinute: 1_000_000,
      },
    });
    // Warm-up: the first spawns load code and grow pools once.
    r.runner.start();
    await restartsReach(r, 20, 30_000);
    await r.runner.stop();
    const base = await settle();

    const r2 = recordedRunner({
      url: `http://127.0.0.1:${server.port}/cam.mjpg`,
      fps: 10,
      // No start-rate bound here: this test makes ffmpeg restart as fast as it can.
      watchdog: {
        stallTimeoutMs: 200,
        startTimeoutMs: 300,
        stopGraceMs: 200,
        backoff: { initialMs: 1, maxMs: 5, jitter: 0 },
        logLines: 20,
        maxStartsPerMinute: 1_000_000,
      },
    });
    const started = Date.now();
    r2.runner.start();
    await restartsReach(r2, 200, 100_000);
    const midFfmpeg = ffmpegChildrenOf(process.pid).length;
    await r2.runner.stop();
    const elapsed = Date.now() - started;
    const end = await settle();
    await server.close();

    assert.ok(midFfmpeg <= 1, `one ffmpeg at a time, saw ${midFfmpeg}`);
    assert.ok(server.connections() >= 150, `(nearly) each restart connected again: ${server.connections()}`);
    assert.ok(
      r2.statuses.every((s) => s.state !== 'failed'),
      'never given up',
    );
    assert.ok(
      r2.statuses.some((s) => /stalled: no first frame for 300 ms/.test(s.detail ?? '')),
      'silent connections are stalls',
    );
    assert.ok(
      r2.statuses.some((s) => /cannot be reached|Connection reset|ended/i.test(s.detail ?? '')),
      'reset connections are failures',
    );
    assert.equal(liveFfmpegCount(), 0);
    assert.equal(end.children, 0);
    assert.ok(end.fds <= base.fds + 2, `fds: ${base.fds} before, ${end.fds} after 200 restarts`);
    const grewMiB = (end.heap - base.heap) / 2 ** 20;
    assert.ok(grewMiB < 4, `heap grew ${grewMiB.toFixed(2)} MiB over 200 restarts (${(base.heap / 2 ** 20).toFixed(1)} MiB before)`);
    process.stderr.write(
      `# 200 restarts in ${elapsed} ms; fds ${base.fds} -> ${end.fds}; heap ${(base.heap / 2 ** 20).toFixed(1)} -> ${(end.heap / 2 ** 20).toFixed(1)} MiB\n`,
    );
  },
);
