import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS } from '../../../src/config/schema.ts';
import { describeSource } from '../../../src/ingest/source-kind.ts';
import { StreamRunner } from '../../../src/pipeline/stream-runner.ts';
import type { StreamStatus } from '../../../src/contracts/results.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { ffmpegChildrenOf } from '../../helpers/processes.ts';
import { recordedRunner } from './live-helpers.ts';
import { freePort } from '../../helpers/ports.ts';
import { watchdogTuning } from '../../helpers/watchdog.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-stdin-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('`-` reads MPEG-TS from stdin: frames flow, and the end of input ends the stream (it cannot be reconnected)', { timeout: 30_000 }, async () => {
  const ts = join(dir, 'clip.ts');
  execFileSync('ffmpeg', [
    '-nostdin',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=160x120:rate=10',
    '-t',
    '2',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-f',
    'mpegts',
    ts,
  ]);
  const source = describeSource('-');
  const statuses: StreamStatus[] = [];
  let frames = 0;
  const runner: StreamRunner = new StreamRunner({
    id: 'piped',
    url: '-',
    input: source.input,
    sampling: { mode: 'every' },
    geometry: { resize: { shorter: 32 }, cropWidth: 32, cropHeight: 32 },
    live: true,
    realtime: false,
    loop: false,
    restartable: false,
    stdin: createReadStream(ts),
    bufferFrames: DEFAULTS.live.bufferFrames,
    watchdog: watchdogTuning(),
    onFrame: () => void (frames += runner.take(16).length),
    onStatus: (s) => statuses.push(s),
    logger: createLogger({ level: 'silent' }),
  });
  runner.start();
  const until = Date.now() + 20_000;
  while (runner.state !== 'ended' && runner.state !== 'failed' && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  await runner.stop();
  assert.deepEqual(
    statuses.map((s) => s.state),
    ['starting', 'live', 'ended'],
  );
  assert.equal(frames, 20);
  assert.deepEqual(ffmpegChildrenOf(process.pid), []);
});

test('udp:// passes through to ffmpeg: an MPEG-TS sender on loopback is a live source', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const url = `udp://127.0.0.1:${port}`;
  const source = describeSource(url);
  assert.equal(source.kind, 'udp');
  const r = recordedRunner({
    url,
    input: source.input,
    inputOptions: source.inputOptions,
    watchdog: { startTimeoutMs: 10_000, stallTimeoutMs: 2000, backoff: { initialMs: 200, maxMs: 500 } },
  });
  r.runner.start();
  // The sender starts after the receiver binds (UDP has no connection to wait for).
  await new Promise((res) => setTimeout(res, 500));
  const sender = spawn(
    'ffmpeg',
    [
      '-nostdin',
      '-loglevel',
      'error',
      '-re',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=160x120:rate=10',
      '-t',
      '6',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-g',
      '10',
      '-f',
      'mpegts',
      `${url}?pkt_size=1316`,
    ],
    { stdio: 'ignore' },
  );
  try {
    await r.waitFor('live', 15_000);
    await new Promise((res) => setTimeout(res, 1000));
    assert.ok(r.frames() >= 2, `frames: ${r.frames()}`);
  } finally {
    sender.kill('SIGKILL');
    await r.runner.stop();
  }
  assert.deepEqual(
    ffmpegChildrenOf(process.pid).filter((p) => p !== sender.pid),
    [],
  );
});
