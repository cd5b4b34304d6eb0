import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideAfterRun, type RunOutcome } from '../../../src/ingest/source-watchdog.ts';
import { DecodeError, FfmpegMissingError, InputNotFoundError, NotAVideoError, SourceUnreachableError } from '../../../src/shared/errors.ts';
import { watchdogTuning } from '../../helpers/watchdog.ts';

const base = { live: true, loop: false, restartable: true, failures: 1, maxRestarts: 0 };
const err = (error: unknown, frames = 0): RunOutcome => ({ kind: 'error', error, frames });

test('a camera is reconnected whatever went wrong, a stream that ends included', () => {
  for (const e of [new SourceUnreachableError('x'), new NotAVideoError('x'), new InputNotFoundError('x'), new DecodeError('x')]) {
    assert.equal(decideAfterRun({ ...base, outcome: err(e) }), 'backoff', e.code);
  }
  assert.equal(decideAfterRun({ ...base, outcome: { kind: 'ended', frames: 40 } }), 'backoff');
});

test('a file ends, loops without backoff, or fails on errors that will not go away', () => {
  const file = { ...base, live: false };
  assert.equal(decideAfterRun({ ...file, outcome: { kind: 'ended', frames: 10 } }), 'ended');
  assert.equal(decideAfterRun({ ...file, loop: true, outcome: { kind: 'ended', frames: 10 } }), 'restart');
  assert.equal(decideAfterRun({ ...file, loop: true, outcome: { kind: 'ended', frames: 0 } }), 'backoff');
  assert.equal(decideAfterRun({ ...file, outcome: err(new NotAVideoError('x')) }), 'failed');
  assert.equal(decideAfterRun({ ...file, outcome: err(new SourceUnreachableError('x')) }), 'backoff');
});

test('given up after maxRestarts failures in a row; never for bugs, missing ffmpeg or stdin', () => {
  assert.equal(decideAfterRun({ ...base, maxRestarts: 3, failures: 3, outcome: err(new DecodeError('x')) }), 'backoff');
  assert.equal(decideAfterRun({ ...base, maxRestarts: 3, failures: 4, outcome: err(new DecodeError('x')) }), 'failed');
  assert.equal(decideAfterRun({ ...base, failures: 10_000, outcome: err(new DecodeError('x')) }), 'backoff', '0 = never give up');
  assert.equal(decideAfterRun({ ...base, outcome: err(new TypeError('bug')) }), 'failed');
  assert.equal(decideAfterRun({ ...base, outcome: err(new FfmpegMissingError('x')) }), 'failed');
  assert.equal(decideAfterRun({ ...base, restartable: false, outcome: { kind: 'ended', frames: 5 } }), 'ended');
  assert.equal(decideAfterRun({ ...base, restartable: false, outcome: err(new DecodeError('x')) }), 'failed');
});

test('startRateWait: the next start waits until the oldest of the last max starts is a minute old', async () => {
  const { startRateWait } = await import('../../../src/ingest/source-watchdog.ts');
  assert.equal(startRateWait([], 3, 1000), 0);
  assert.equal(startRateWait([0, 100], 3, 200), 0);
  assert.equal(startRateWait([0, 100, 200], 3, 300), 59_700);
  assert.equal(startRateWait([0, 100, 200], 3, 60_000), 0);
  assert.equal(startRateWait([0, 100, 200, 5000], 3, 6000), 54_100);
});

test('a stall timeout within one sampling period is refused: it would restart a healthy stream between frames', async () => {
  const { SourceWatchdog } = await import('../../../src/ingest/source-watchdog.ts');
  const { createLogger } = await import('../../../src/shared/logger.ts');
  const base = {
    ...watchdogTuning(),
    id: 'cam',
    url: 'rtsp://127.0.0.1:1/x',
    live: true,
    loop: false,
    geometry: { resize: { shorter: 32 }, cropWidth: 32, cropHeight: 32 },
    onFrame: () => undefined,
    onState: () => undefined,
    logger: createLogger({ level: 'silent' }),
  };
  assert.throws(
    () => new SourceWatchdog({ ...base, sampling: { mode: 'fps', fps: 5 }, stallTimeoutMs: 200 }),
    /stallTimeoutMs \(200 ms\) must be above the sampling period \(200 ms at 5 fps\)/,
  );
  assert.throws(() => new SourceWatchdog({ ...base, sampling: { mode: 'fps', fps: 0.5 }, stallTimeoutMs: 1500 }), /above the sampling period \(2000 ms/);
  assert.throws(() => new SourceWatchdog({ ...base, sampling: { mode: 'fps', fps: 5 }, maxStartsPerMinute: 0 }), /maxStartsPerMinute/);
  assert.doesNotThrow(() => new SourceWatchdog({ ...base, sampling: { mode: 'fps', fps: 5 }, stallTimeoutMs: 201 }));
});
