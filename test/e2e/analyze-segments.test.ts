import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameLineSchema, SegmentLineSchema, SummarySchema, type FrameLine, type SegmentLine } from '../../src/contracts/analyze-output.ts';
import { runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { colourModel, colourSpans } from '../helpers/colour-model.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-segments-'));
const model = join(dir, 'colour.onnx');
const labels = join(dir, 'colours.txt');
const clip = join(dir, 'red-blue-red.mp4');
/** The clip's colour spans, ms. */
const SPANS = [
  { label: 'red', startMs: 0, endMs: 3000 },
  { label: 'blue', startMs: 3000, endMs: 6000 },
  { label: 'red', startMs: 6000, endMs: 8000 },
];
/** --fps 2: one sample every 500 ms. */
const PERIOD_MS = 500;

function parse(stdout: string): { frames: FrameLine[]; segments: SegmentLine[]; order: string[] } {
  const frames: FrameLine[] = [];
  const segments: SegmentLine[] = [];
  const order: string[] = [];
  for (const text of stdout.trim().split('\n').filter(Boolean)) {
    const obj: unknown = JSON.parse(text);
    if (typeof obj === 'object' && obj !== null && 'type' in obj && obj.type === 'segment') {
      segments.push(SegmentLineSchema.strict().parse(obj));
      order.push('segment');
    } else {
      frames.push(FrameLineSchema.parse(obj));
      order.push('frame');
    }
  }
  return { frames, segments, order };
}

function summaryOf(stderr: string) {
  return SummarySchema.parse(
    JSON.parse(
      stderr
        .trim()
        .split('\n')
        .filter((l) => l.includes('"type":"summary"'))[0]!,
    ),
  );
}

before(() => {
  writeFileSync(model, colourModel());
  writeFileSync(labels, 'red\ngreen\nblue\n');
  makeClip(clip, {
    seconds: 8,
    source: colourSpans([
      ['red', 3],
      ['blue', 3],
      ['red', 2],
    ]),
  });
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('streamsight analyze --segments', () => {
  test('the colour model sees the colours: every frame is labelled with the colour of its span', async () => {
    const r = await runCli(['analyze', '--model', model, '--labels', labels, '--fps', '2', clip]);
    assert.equal(r.code, 0, r.stderr);
    const { frames, segments } = parse(r.stdout);
    assert.equal(segments.length, 0);
    assert.equal(frames.length, 16);
    for (const f of frames) {
      const span = SPANS.find((s) => f.ptsMs >= s.startMs && f.ptsMs < s.endMs)!;
      assert.equal(f.labels[0]!.label, span.label, `frame at ${f.ptsMs} ms`);
      assert.ok(f.labels[0]!.score > 0.9, `frame at ${f.ptsMs} ms: ${f.labels[0]!.score}`);
      assert.equal(f.labels.length, 3, 'top-k is capped at the 3 classes');
    }
  });

  test('one segment line per colour span, within one sample period, after the frame lines; frame lines unchanged', async () => {
    const plain = await runCli(['analyze', '--model', model, '--labels', labels, '--fps', '2', '--json', clip]);
    const r = await runCli(['analyze', '--model', model, '--labels', labels, '--fps', '2', '--segments', '--json', clip]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(r.code, 0, r.stderr);
    const { frames, segments, order } = parse(r.stdout);
    assert.deepEqual(order, [...Array<string>(frames.length).fill('frame'), ...Array<string>(segments.length).fill('segment')]);

    assert.deepEqual(
      segments.map((s) => s.label),
      SPANS.map((s) => s.label),
    );
    segments.forEach((s, i) => {
      const span = SPANS[i]!;
      assert.equal(s.stream, clip);
      assert.ok(Math.abs(s.startMs - span.startMs) <= PERIOD_MS, `${s.label} starts at ${s.startMs}, span at ${span.startMs}`);
      assert.ok(Math.abs(s.endMs - span.endMs) <= PERIOD_MS, `${s.label} ends at ${s.endMs}, span at ${span.endMs}`);
      const inside = frames.filter((f) => f.ptsMs >= s.startMs && f.ptsMs <= s.endMs).map((f) => f.labels.find((l) => l.label === s.label)?.score ?? 0);
      assert.equal(s.peakScore, Math.max(...inside), 'peak: the highest score of the label shown in the frame lines');
    });

    // The frame lines are exactly those of a run without --segments (model output is deterministic).
    const withoutRun = (text: string): string[] =>
      text
        .trim()
        .split('\n')
        .map((l) => l.replace(/"run":"[^"]*"/, '"run":""'));
    assert.deepEqual(withoutRun(r.stdout).slice(0, frames.length), withoutRun(plain.stdout));
    assert.equal(summaryOf(r.stderr).segments, 3);
    assert.equal(summaryOf(plain.stderr).segments, undefined, 'without --segments the summary is unchanged');
    assert.doesNotMatch(plain.stdout, /"type"/);
  });

  test('the hysteresis flags reach the detector: a span shorter than --enter-frames makes no segment', async () => {
    // The last red span is 4 samples long; the first two are 6.
    const r = await runCli([
      'analyze',
      '--model',
      model,
      '--labels',
      labels,
      '--fps',
      '2',
      '--segments',
      '--enter-frames',
      '5',
      '--exit-frames',
      '2',
      '--enter-score',
      '0.8',
      '--exit-score',
      '0.2',
      clip,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const { segments } = parse(r.stdout);
    assert.deepEqual(
      segments.map((s) => [s.label, s.startMs, s.endMs]),
      [
        ['red', 0, 3000],
        ['blue', 3000, 6000],
      ],
    );
    assert.match(r.stderr, / · 2 segments/);
  });

  test('bad hysteresis flags exit 2 with one line', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--segments', '--enter-score', '0.3', '--exit-score', '0.4'], /--exit-score \(0\.4\) must be <= --enter-score \(0\.3\)/],
      [['--segments', '--enter-score', '1.5'], /--enter-score must be a number in \(0, 1\]/],
      [['--segments', '--exit-score', '0'], /--exit-score must be a number in \(0, 1\]/],
      [['--segments', '--exit-frames', '0'], /--exit-frames must be a positive integer/],
      [['--enter-frames', '2'], /--enter-frames only applies with --segments/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['analyze', '--model', model, '--labels', labels, ...args, clip]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      assert.equal(r.stdout, '');
    }
  });
});
