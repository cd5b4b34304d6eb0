import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  RateMeter,
  createProgress,
  etaSeconds,
  formatBytes,
  formatEta,
  formatProgressLine,
  formatRate,
  progressEvent,
  renderBar,
  type ProgressEvent,
  type ProgressStream,
} from '../../../src/shared/progress.ts';

class FakeStream implements ProgressStream {
  readonly chunks: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns = 100,
  ) {}
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  jsonLines(): ProgressEvent[] {
    return this.chunks
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ProgressEvent);
  }
}

/** A clock the test moves by hand, ms. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('formatting', () => {
  it('formats bytes in SI units', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(1500), '1.5 kB');
    assert.equal(formatBytes(102_442_450), '102.4 MB');
    assert.equal(formatBytes(999_960), '1.0 MB');
    assert.equal(formatBytes(2.5e9), '2.5 GB');
    assert.equal(formatBytes(-1), '?');
  });

  it('formats rates per unit, with a dash when unknown', () => {
    assert.equal(formatRate(12_345_678, 'bytes'), '12.3 MB/s');
    assert.equal(formatRate(35.24, 'frames'), '35.2 frames/s');
    assert.equal(formatRate(undefined, 'frames'), '- frames/s');
  });

  it('formats ETA as m:ss or h:mm:ss, rounding up', () => {
    assert.equal(formatEta(0), '0:00');
    assert.equal(formatEta(4.2), '0:05');
    assert.equal(formatEta(62), '1:02');
    assert.equal(formatEta(3723), '1:02:03');
    assert.equal(formatEta(undefined), '--:--');
    assert.equal(formatEta(Infinity), '--:--');
  });

  it('computes ETA only with a total and a positive rate', () => {
    assert.equal(etaSeconds(25, 100, 5), 15);
    assert.equal(etaSeconds(25, undefined, 5), undefined);
    assert.equal(etaSeconds(25, 100, 0), undefined);
    assert.equal(etaSeconds(120, 100, 5), 0);
  });

  it('renders a bar of the given width, clamped', () => {
    assert.equal(renderBar(0.5, 10), '[#####-----]');
    assert.equal(renderBar(0, 4), '[----]');
    assert.equal(renderBar(1.7, 4), '[####]');
    assert.equal(renderBar(Number.NaN, 3), '[---]');
  });

  it('builds a full line with percent, bar, amounts, rate and ETA', () => {
    const line = formatProgressLine({ label: 'resnet50', done: 41_000_000, total: 102_442_450, unit: 'bytes', rate: 12_300_000 }, 100);
    assert.equal(line, 'resnet50  40% [############------------------] 41.0 MB/102.4 MB  12.3 MB/s  ETA 0:05');
    assert.ok(line.length <= 99);
  });

  it('shrinks the bar to fit narrow terminals, then drops it', () => {
    const state = { label: 'clip.mp4', done: 420, total: 1000, unit: 'frames' as const, rate: 35 };
    const narrow = formatProgressLine(state, 70);
    assert.ok(narrow.length <= 69, narrow);
    assert.match(narrow, /^clip\.mp4 {2}42% \[#+-+\] 420\/1000 frames {2}35\.0 frames\/s {2}ETA 0:17$/);
    const tiny = formatProgressLine(state, 30);
    assert.ok(tiny.length <= 29, tiny);
    assert.doesNotMatch(tiny, /\[/);
  });

  it('leaves out percent and ETA without a total', () => {
    assert.equal(formatProgressLine({ label: 'rtsp', done: 42, unit: 'frames', rate: 10 }, 80), 'rtsp  42 frames  10.0 frames/s');
  });

  it('builds the JSON event with nulls for what is unknown', () => {
    assert.deepEqual(progressEvent({ label: 'a', done: 1, unit: 'frames' }, false), {
      type: 'progress',
      label: 'a',
      unit: 'frames',
      done: 1,
      total: null,
      percent: null,
      rate: null,
      etaSeconds: null,
      final: false,
    });
    assert.deepEqual(progressEvent({ label: 'a', done: 1, total: 3, unit: 'bytes', rate: 1 / 3 }, true), {
      type: 'progress',
      label: 'a',
      unit: 'bytes',
      done: 1,
      total: 3,
      percent: 33.3,
      rate: 0.33,
      etaSeconds: 6,
      final: true,
    });
  });
});

describe('RateMeter', () => {
  it('measures units per second over the window and follows a change of speed', () => {
    const meter = new RateMeter(1000);
    assert.equal(meter.add(0, 0), undefined);
    assert.equal(meter.add(500, 50), 100);
    assert.equal(meter.add(1000, 100), 100);
    // From here 10x faster; after a full window the old speed is forgotten.
    meter.add(1500, 600);
    meter.add(2000, 1100);
    assert.equal(meter.add(2500, 1600), 1000);
  });
});

describe('createProgress', () => {
  it('bar mode redraws one line on a TTY, at most every 100 ms, and ends it on finish', () => {
    const stream = new FakeStream(true);
    const clock = manualClock();
    const p = createProgress({ mode: 'bar', stream, label: 'pull', now: clock.now });
    assert.equal(p.mode, 'bar');
    for (let i = 1; i <= 20; i++) {
      clock.advance(10);
      p.update({ done: i * 10, total: 1000, unit: 'frames' });
    }
    // Updates at 10..200 ms: drawn at 10 ms and 110 ms only.
    assert.equal(stream.chunks.length, 2);
    for (const c of stream.chunks) {
      assert.ok(c.startsWith('\r') && c.endsWith('\u001b[K'), JSON.stringify(c));
      assert.doesNotMatch(c, /\n/);
    }
    p.finish();
    p.finish();
    assert.equal(stream.chunks.length, 4);
    assert.match(stream.chunks[2] ?? '', /pull {2}20% .* 200\/1000 frames {2}1000\.0 frames\/s {2}ETA 0:01/);
    assert.equal(stream.chunks[3], '\n');
  });

  it('bar mode draws completion at once, not after the throttle', () => {
    const stream = new FakeStream(true);
    const clock = manualClock();
    const p = createProgress({ mode: 'bar', stream, label: 'x', now: clock.now });
    p.update({ done: 0, total: 10, unit: 'bytes' });
    clock.advance(1);
    p.update({ done: 10, total: 10, unit: 'bytes' });
    assert.equal(stream.chunks.length, 2);
    assert.match(stream.chunks[1] ?? '', /100%/);
  });

  it('bar mode writes nothing when the stream is not a terminal', () => {
    const stream = new FakeStream(false);
    const p = createProgress({ mode: 'bar', stream, label: 'x' });
    assert.equal(p.mode, 'none');
    p.update({ done: 1, total: 2, unit: 'frames' });
    p.finish();
    assert.deepEqual(stream.chunks, []);
  });

  it('json mode writes one object per line, at most 2/s, plus a final one', () => {
    const stream = new FakeStream(false);
    const clock = manualClock();
    const p = createProgress({ mode: 'json', stream, label: 'clip.mp4', now: clock.now });
    for (let i = 1; i <= 10; i++) {
      clock.advance(100);
      p.update({ done: i, total: 10, unit: 'frames' });
    }
    p.finish();
    p.update({ done: 11, total: 10, unit: 'frames' });
    const lines = stream.jsonLines();
    assert.deepEqual(
      lines.map((l) => [l.done, l.final]),
      [
        [1, false],
        [6, false],
        [10, true],
      ],
    );
    assert.equal(lines[2]?.type, 'progress');
    assert.equal(lines[2]?.label, 'clip.mp4');
    assert.equal(lines[2]?.percent, 100);
    assert.equal(lines[2]?.rate, 10);
  });

  it('uses a rate the caller gives instead of measuring', () => {
    const stream = new FakeStream(false);
    const p = createProgress({ mode: 'json', stream, label: 'x', now: () => 0 });
    p.update({ done: 5, total: 10, unit: 'frames', rate: 2.5 });
    assert.equal(stream.jsonLines()[0]?.etaSeconds, 2);
  });

  it('none mode and finish without updates write nothing', () => {
    const stream = new FakeStream(true);
    createProgress({ mode: 'none', stream, label: 'x' }).update({ done: 1, unit: 'frames' });
    createProgress({ mode: 'bar', stream, label: 'x' }).finish();
    createProgress({ mode: 'json', stream, label: 'x' }).finish();
    assert.deepEqual(stream.chunks, []);
  });
});
