import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FrameResult, LabelEvent } from '../../../src/contracts/results.ts';
import { DEFAULTS } from '../../../src/config/schema.ts';
import { LabelEventDetector, type HysteresisOptions } from '../../../src/events/label-event-detector.ts';
import { SegmentBuilder } from '../../../src/events/segment-builder.ts';
import { mulberry32 } from '../../../src/shared/mulberry32.ts';

const T0 = 1_700_000_000_000;

/** A detector with the config's default thresholds, `options` over them. */
const detector = (options: Partial<HysteresisOptions> = {}): LabelEventDetector => new LabelEventDetector({ ...DEFAULTS.events, ...options });

/** A frame of `stream` at seq, 100 ms apart, with the given label scores. */
function frame(seq: number, scores: Record<string, number>, opts: { stream?: string; run?: string; periodMs?: number } = {}): FrameResult {
  const ptsMs = seq * (opts.periodMs ?? 100);
  return {
    stream: opts.stream ?? 'cam1',
    run: opts.run ?? 'r1',
    seq,
    ptsMs,
    capturedAt: T0 + ptsMs,
    labels: Object.entries(scores)
      .map(([label, score], index) => ({ index, label, score }))
      .sort((a, b) => b.score - a.score),
    latencyMs: 5,
    model: 'test',
  };
}

/** Pushes one frame per score of `label`; returns [frame index the event came out on, event]. */
function feed(
  d: LabelEventDetector,
  label: string,
  scores: readonly number[],
  opts: { stream?: string; run?: string; first?: number } = {},
): Array<[number, LabelEvent]> {
  const out: Array<[number, LabelEvent]> = [];
  scores.forEach((score, i) => {
    const seq = (opts.first ?? 0) + i;
    for (const e of d.push(frame(seq, score > 0 ? { [label]: score } : {}, opts))) out.push([seq, e]);
  });
  return out;
}

const brief = ([at, e]: [number, LabelEvent]): string => `${at}:${e.kind}@${e.ptsMs}`;

describe('LabelEventDetector', () => {
  test('one noisy frame above the enter threshold makes no event', () => {
    const d = detector();
    assert.deepEqual(feed(d, 'cat', [0, 0.9, 0, 0, 0.95, 0.1, 0]), []);
    assert.deepEqual(d.openLabels('cam1'), []);
  });

  test('k frames at or above enter start the label at the first of them; m frames below exit end it at the first of those', () => {
    const d = detector({ enterFrames: 3, exitFrames: 3 });
    const events = feed(d, 'cat', [0.1, 0.5, 0.7, 0.6, 0.8, 0.2, 0.1, 0, 0]);
    assert.deepEqual(events.map(brief), ['3:start@100', '7:end@500']);
    const [[, start], [, end]] = events as [[number, LabelEvent], [number, LabelEvent]];
    assert.equal(start.capturedAt, T0 + 100);
    assert.equal(start.score, 0.7, 'start score: the peak over the k-run');
    assert.equal(end.capturedAt, T0 + 500);
    assert.equal(end.score, 0.8, 'end score: the peak over the whole segment');
    assert.equal(end.stream, 'cam1');
    assert.equal(end.label, 'cat');
  });

  test('exactly enterScore counts towards a start; exactly exitScore does not count towards an end', () => {
    const d = detector({ enterScore: 0.5, exitScore: 0.3, enterFrames: 2, exitFrames: 2 });
    assert.deepEqual(feed(d, 'cat', [0.5, 0.5, 0.3, 0.3, 0.3, 0.29, 0.29]).map(brief), ['1:start@0', '6:end@500']);
  });

  test('scores between exit and enter keep the state: open stays open, closed does not start, and they break a start run', () => {
    const d = detector({ enterScore: 0.6, exitScore: 0.3, enterFrames: 2, exitFrames: 2 });
    // closed: between-scores never start it, and one between-score breaks a run
    assert.deepEqual(feed(d, 'dog', [0.45, 0.5, 0.55, 0.7, 0.5, 0.7, 0.5]), []);
    // open: between-scores for a long time keep it open; one frame below exit is not enough
    const events = feed(d, 'dog', [0.7, 0.7, 0.4, 0.35, 0.31, 0.1, 0.4, 0.5, 0.45], { first: 7 });
    assert.deepEqual(events.map(brief), ['8:start@700']);
    assert.deepEqual(d.openLabels('cam1'), ['dog']);
  });

  test('a label missing from the top-k counts as score 0', () => {
    const d = detector({ enterFrames: 1, exitFrames: 2 });
    const events: LabelEvent[] = [];
    events.push(...d.push(frame(0, { cat: 0.9, dog: 0.05 })));
    events.push(...d.push(frame(1, { dog: 0.9 })));
    events.push(...d.push(frame(2, { dog: 0.9 })));
    assert.deepEqual(
      events.map((e) => `${e.label}:${e.kind}@${e.ptsMs}`),
      ['cat:start@0', 'dog:start@100', 'cat:end@100'],
    );
  });

  test('events of one frame come out by ptsMs, ends before starts', () => {
    const d = detector({ enterFrames: 2, exitFrames: 2 });
    const got: string[] = [];
    const seq: Array<Record<string, number>> = [{ red: 0.9 }, { red: 0.9 }, { blue: 0.9 }, { blue: 0.9 }];
    seq.forEach((s, i) => got.push(...d.push(frame(i, s)).map((e) => `${e.label}:${e.kind}@${e.ptsMs}`)));
    assert.deepEqual(got, ['red:start@0', 'red:end@200', 'blue:start@200']);
  });

  test('per-label overrides apply to that label only, matched case-insensitively on the name or any synonym', () => {
    const d = detector({
      enterFrames: 3,
      labels: { Person: { enterFrames: 1, exitFrames: 1 }, 'TABBY CAT': { enterScore: 0.9 }, 'sports car, sport car': { exitScore: 0.1 } },
    });
    assert.equal(d.thresholds('person').enterFrames, 1);
    assert.equal(d.thresholds('tabby, tabby cat').enterScore, 0.9);
    assert.equal(d.thresholds('tabby, tabby cat').exitScore, 0.3, 'unset fields fall back to the defaults');
    assert.equal(d.thresholds('Sports Car, sport car').exitScore, 0.1, 'a key may be the full name');
    assert.equal(d.thresholds('tabby').enterScore, 0.5, 'a synonym of the key is not a synonym of the label');
    assert.equal(d.thresholds('personal computer').enterFrames, 3, 'no substring matches');

    assert.deepEqual(feed(d, 'person', [0.6, 0.1]).map(brief), ['0:start@0', '1:end@100']);
    const cat = detector({ labels: { 'tabby cat': { enterScore: 0.9, exitScore: 0.9 } } });
    assert.deepEqual(feed(cat, 'tabby, tabby cat', [0.8, 0.8, 0.8, 0.8]), []);
    assert.deepEqual(feed(cat, 'tabby, tabby cat', [0.95, 0.95, 0.95], { first: 4 }).map(brief), ['6:start@400']);
  });

  test('an override by full name wins over one by synonym', () => {
    const d = detector({ labels: { tabby: { enterFrames: 7 }, 'tabby, tabby cat': { enterFrames: 2 } } });
    assert.equal(d.thresholds('tabby, tabby cat').enterFrames, 2);
    assert.equal(d.thresholds('Tabby').enterFrames, 7);
  });

  test('duplicates and older frames of the same run are ignored', () => {
    const d = detector({ enterFrames: 3, exitFrames: 3 });
    const got: string[] = [];
    const push = (seq: number, score: number): void => {
      got.push(...d.push(frame(seq, score > 0 ? { cat: score } : {})).map((e) => `${seq}:${e.kind}@${e.ptsMs}`));
    };
    push(0, 0.9);
    push(0, 0.9); // redelivered: must not count as a second frame
    push(1, 0.9);
    push(1, 0.9);
    assert.deepEqual(got, []);
    push(2, 0.9);
    assert.deepEqual(got, ['2:start@0']);
    push(3, 0);
    push(1, 0); // late: ignored, does not count towards the end
    push(2, 0);
    push(4, 0);
    push(3, 0);
    assert.deepEqual(got, ['2:start@0']);
    push(5, 0);
    assert.deepEqual(got, ['2:start@0', '5:end@300']);
    push(2, 0.9);
    push(5, 0);
    assert.deepEqual(got, ['2:start@0', '5:end@300'], 'a replay of the whole run makes no new events');
  });

  test('a gap in seq (frames dropped upstream) does not break a run', () => {
    const d = detector({ enterFrames: 3 });
    const got = [0, 5, 9].flatMap((seq) => d.push(frame(seq, { cat: 0.9 })));
    assert.deepEqual(
      got.map((e) => `${e.kind}@${e.ptsMs}`),
      ['start@0'],
    );
  });

  test('a new run of a stream keeps the label state; frames of the retired run are ignored', () => {
    const d = detector({ enterFrames: 2, exitFrames: 2 });
    assert.deepEqual(feed(d, 'cat', [0.9, 0.9, 0.9], { run: 'a' }).map(brief), ['1:start@0']);
    // decoder restart: seq and ptsMs start again from 0; the label stays open
    assert.deepEqual(feed(d, 'cat', [0.9, 0.9], { run: 'b' }), []);
    assert.deepEqual(d.openLabels('cam1'), ['cat']);
    // a late redelivery of run a cannot end (or restart) anything
    assert.deepEqual(feed(d, 'cat', [0, 0, 0, 0, 0], { run: 'a', first: 3 }), []);
    assert.deepEqual(d.openLabels('cam1'), ['cat']);
    assert.deepEqual(feed(d, 'cat', [0, 0], { run: 'b', first: 2 }).map(brief), ['3:end@200']);
    // a run still counting towards a start carries on across a restart
    assert.deepEqual(feed(d, 'cat', [0.9], { run: 'b', first: 4 }), []);
    assert.deepEqual(feed(d, 'cat', [0.9], { run: 'c' }).map(brief), ['0:start@400']);
  });

  test('flush ends open labels at the last frame seen, or where an unfinished exit run began; counting runs are dropped', () => {
    const d = detector({ enterFrames: 2, exitFrames: 3 });
    d.push(frame(0, { cat: 0.9, dog: 0.8 }));
    d.push(frame(1, { cat: 0.9, dog: 0.85 }));
    d.push(frame(2, { cat: 0.95, dog: 0.1, bird: 0.9 }));
    d.push(frame(3, { cat: 0.7, bird: 0.1 }));
    const ends = d.flush('cam1');
    assert.deepEqual(
      ends.map((e) => `${e.label}:${e.kind}@${e.ptsMs}/${e.capturedAt - T0}:${e.score}`),
      ['dog:end@200/200:0.85', 'cat:end@300/300:0.95'],
    );
    assert.deepEqual(d.openLabels('cam1'), []);
    assert.deepEqual(d.flush('cam1'), [], 'flush is idempotent');
    assert.deepEqual(d.flush('nobody'), []);
    // the identity cursor survives a flush: a late duplicate does not reopen anything
    assert.deepEqual(
      [0, 1, 2, 3].flatMap((s) => d.push(frame(s, { cat: 0.9 }))),
      [],
    );
  });

  test('forget drops a stream: its next frames start from nothing', () => {
    const d = detector({ enterFrames: 1 });
    assert.equal(d.push(frame(0, { cat: 0.9 })).length, 1);
    d.forget('cam1');
    d.forget('cam1');
    assert.deepEqual(d.openLabels('cam1'), []);
    assert.equal(d.push(frame(0, { cat: 0.9 })).length, 1);
  });

  test('streams are independent', () => {
    const d = detector({ enterFrames: 2, exitFrames: 2 });
    const got: string[] = [];
    for (let seq = 0; seq < 6; seq++) {
      // cam1 sees the cat all along; cam2 sees it on alternate frames only; cam3's frame 1 is a duplicate of cam1's seq
      for (const [stream, score] of [
        ['cam1', 0.9],
        ['cam2', seq % 2 ? 0.9 : 0],
      ] as const) {
        got.push(...d.push(frame(seq, score ? { cat: score } : {}, { stream })).map((e) => `${e.stream}:${e.kind}@${e.ptsMs}`));
      }
    }
    assert.deepEqual(got, ['cam1:start@0']);
    assert.deepEqual(d.openLabels('cam2'), []);
    assert.deepEqual(d.flush('cam2'), []);
    assert.deepEqual(
      d.flush('cam1').map((e) => `${e.stream}:${e.kind}@${e.ptsMs}`),
      ['cam1:end@500'],
    );
  });

  test('bad options throw RangeError naming the option', () => {
    const cases: Array<[Partial<HysteresisOptions>, RegExp]> = [
      [{ enterScore: 0 }, /^RangeError: enterScore:/],
      [{ enterScore: 1.5 }, /^RangeError: enterScore:/],
      [{ enterScore: Number.NaN }, /^RangeError: enterScore:/],
      [{ exitScore: -0.1 }, /^RangeError: exitScore:/],
      [{ enterScore: 0.4, exitScore: 0.5 }, /^RangeError: exitScore: must be <= enterScore/],
      [{ enterFrames: 0 }, /^RangeError: enterFrames:/],
      [{ enterFrames: 2.5 }, /^RangeError: enterFrames:/],
      [{ exitFrames: -1 }, /^RangeError: exitFrames:/],
      [{ labels: { person: { exitScore: 0.6 } } }, /^RangeError: labels\["person"\]\.exitScore: must be <= enterScore/],
      [{ labels: { person: { enterFrames: 0 } } }, /^RangeError: labels\["person"\]\.enterFrames:/],
      [{ labels: { Person: {}, person: {} } }, /^RangeError: labels\["person"\]: given twice/],
      [{ labels: { ' ': {} } }, /^RangeError: labels\[" "\]: label name must not be empty/],
    ];
    for (const [options, message] of cases) {
      assert.throws(
        () => detector(options),
        (err: unknown) => err instanceof RangeError && message.test(String(err)),
        JSON.stringify(options),
      );
    }
    assert.doesNotThrow(() => detector({ enterScore: 0.4, exitScore: 0.4, enterFrames: 1, exitFrames: 1 }));
    // Thresholds are required (the config resolves them): a JavaScript caller that leaves one out is told which.
    assert.throws(() => new LabelEventDetector({ exitScore: 0.3, enterFrames: 3, exitFrames: 3 } as HysteresisOptions), /^RangeError: enterScore:/);
  });

  test('state is kept only for labels counting towards a start or open', () => {
    const d = detector({ enterFrames: 2 });
    // 1000 different low-score labels over many frames leave nothing behind
    for (let seq = 0; seq < 200; seq++) {
      const scores: Record<string, number> = {};
      for (let i = 0; i < 5; i++) scores[`class_${(seq * 5 + i) % 1000}`] = 0.1;
      d.push(frame(seq, scores));
    }
    assert.deepEqual(d.openLabels('cam1'), []);
    assert.deepEqual(d.flush('cam1'), []);
  });
});

// ---- property test against a reference written differently ----------------

interface RefEvent {
  kind: 'start' | 'end';
  /** Frame index the event is about (its ptsMs / 100). */
  at: number;
  /** Frame index the event comes out on (undefined: on flush). */
  emittedOn: number | undefined;
  score: number;
}

/**
 * Whole-sequence reference: look for the first window of k frames >= enter,
 * then for the first window of m frames < exit after it, and so on.
 */
function reference(scores: readonly number[], h: { enterScore: number; exitScore: number; enterFrames: number; exitFrames: number }): RefEvent[] {
  const n = scores.length;
  const all = (from: number, len: number, ok: (x: number) => boolean): boolean => from + len <= n && scores.slice(from, from + len).every(ok);
  const out: RefEvent[] = [];
  let t = 0;
  for (;;) {
    let s = t;
    while (s < n && !all(s, h.enterFrames, (x) => x >= h.enterScore)) s++;
    if (s >= n) break;
    out.push({ kind: 'start', at: s, emittedOn: s + h.enterFrames - 1, score: Math.max(...scores.slice(s, s + h.enterFrames)) });
    let e = s + h.enterFrames;
    while (e < n && !all(e, h.exitFrames, (x) => x < h.exitScore)) e++;
    if (e < n) {
      out.push({ kind: 'end', at: e, emittedOn: e + h.exitFrames - 1, score: Math.max(...scores.slice(s, e)) });
      t = e + h.exitFrames;
      continue;
    }
    // flush: the trailing run below exit, if any, else the last frame
    let tail = n;
    while (tail > s + h.enterFrames && scores[tail - 1]! < h.exitScore) tail--;
    out.push({ kind: 'end', at: tail < n ? tail : n - 1, emittedOn: undefined, score: Math.max(...scores.slice(s, n)) });
    break;
  }
  return out;
}

test('random score sequences: events match a whole-sequence reference, with duplicates and late frames mixed in', () => {
  const rand = mulberry32(20240601);
  const labels = ['red', 'green', 'blue'];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  for (let trial = 0; trial < 300; trial++) {
    const enterScore = pick([0.3, 0.5, 0.7, 0.9]);
    const exitScore = pick([0.1, 0.2, 0.3].filter((x) => x <= enterScore));
    const h = { enterScore, exitScore, enterFrames: 1 + Math.floor(rand() * 4), exitFrames: 1 + Math.floor(rand() * 4) };
    const n = 5 + Math.floor(rand() * 80);
    // Sticky levels so runs of every length occur; thresholds themselves are common values.
    const seqs = labels.map(() => {
      const out: number[] = [];
      let level = pick([0, 0.2, 0.6]);
      for (let i = 0; i < n; i++) {
        if (rand() < 0.25) level = pick([0, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
        out.push(rand() < 0.15 ? pick([0, 0.3, 0.5, 0.7, 0.95]) : level);
      }
      return out;
    });
    const d = detector(h);
    const got = new Map<string, RefEvent[]>(labels.map((l) => [l, []]));
    const mk = (i: number): FrameResult =>
      frame(i, Object.fromEntries(labels.map((l, j) => [l, seqs[j]![i]!]).filter(([, s]) => (s as number) > 0)), { stream: 's' });
    for (let i = 0; i < n; i++) {
      for (const e of d.push(mk(i))) got.get(e.label)!.push({ kind: e.kind, at: e.ptsMs / 100, emittedOn: i, score: e.score });
      // at-least-once delivery: replays of this or earlier frames must change nothing
      if (rand() < 0.3) assert.deepEqual(d.push(mk(Math.floor(rand() * (i + 1)))), [], `trial ${trial}: replay made events`);
    }
    for (const e of d.flush('s')) got.get(e.label)!.push({ kind: e.kind, at: e.ptsMs / 100, emittedOn: undefined, score: e.score });
    labels.forEach((l, j) => {
      assert.deepEqual(got.get(l), reference(seqs[j]!, h), `trial ${trial}, label ${l}, options ${JSON.stringify(h)}, scores ${JSON.stringify(seqs[j])}`);
    });
  }
});

// ---- the e2e clip, as frames: red 0-3 s, blue 3-6 s, red 6-8 s at 2 fps ----

test('the red/blue/red clip at 2 fps: events land on the expected frames and segments match the colour spans', () => {
  const d = detector();
  const b = new SegmentBuilder();
  const emitted: string[] = [];
  const segments = [];
  for (let seq = 0; seq < 16; seq++) {
    const ptsMs = seq * 500;
    const red = ptsMs < 3000 || ptsMs >= 6000;
    const scores = red ? { red: 0.98, green: 0.01, blue: 0.01 } : { blue: 0.97, green: 0.02, red: 0.01 };
    const events = d.push(frame(seq, scores, { stream: 'clip.mp4', periodMs: 500 }));
    emitted.push(...events.map((e) => `${seq}:${e.label}:${e.kind}@${e.ptsMs}`));
    segments.push(...b.pushAll(events));
  }
  const flushed = d.flush('clip.mp4');
  emitted.push(...flushed.map((e) => `flush:${e.label}:${e.kind}@${e.ptsMs}`));
  segments.push(...b.pushAll(flushed));
  assert.deepEqual(emitted, [
    '2:red:start@0', // third red frame completes the k-run; the event carries the first
    '8:red:end@3000', // third non-red frame (seq 6, 7, 8) completes the exit run
    '8:blue:start@3000',
    '14:blue:end@6000',
    '14:red:start@6000',
    'flush:red:end@7500', // end of file: the last frame seen
  ]);
  assert.deepEqual(segments, [
    { stream: 'clip.mp4', label: 'red', startMs: 0, endMs: 3000, peakScore: 0.98 },
    { stream: 'clip.mp4', label: 'blue', startMs: 3000, endMs: 6000, peakScore: 0.97 },
    { stream: 'clip.mp4', label: 'red', startMs: 6000, endMs: 7500, peakScore: 0.98 },
  ]);
});
