/**
 * LiveResultPublisher: the one place where live results become frame
 * messages, label events and metrics, in both modes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS } from '../../../src/config/schema.ts';
import type { FrameResult, LabelEvent, StreamStatus } from '../../../src/contracts/results.ts';
import { LiveResultPublisher, type InferredFrame } from '../../../src/pipeline/live-result-publisher.ts';
import { Metrics } from '../../../src/shared/metrics.ts';

function setup(): { publisher: LiveResultPublisher; frames: FrameResult[]; events: LabelEvent[]; states: StreamStatus[]; metrics: Metrics } {
  const frames: FrameResult[] = [];
  const events: LabelEvent[] = [];
  const states: StreamStatus[] = [];
  const metrics = new Metrics({ processMetrics: false });
  const publisher = new LiveResultPublisher({
    sink: { publishFrame: (r) => frames.push(r), publishEvent: (e) => events.push(e), publishStatus: (s) => states.push(s) },
    events: { ...DEFAULTS.events, enterFrames: 2, exitFrames: 2 },
    metrics,
  });
  return { publisher, frames, events, states, metrics };
}

function frame(stream: string, seq: number, scores: Array<[string, number]>, capturedAt = Date.now()): InferredFrame {
  return {
    stream,
    run: 'r1',
    seq,
    ptsMs: seq * 200,
    capturedAt,
    model: 'm',
    labels: scores.map(([label, score], index) => ({ index, label, score })),
  };
}

async function metricValue(metrics: Metrics, name: string): Promise<number> {
  const text = await metrics.registry.metrics();
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);
}

test("scores are rounded to 6 decimals, then the stream's topK and minScore apply; latency is measured from capture", () => {
  const { publisher, frames } = setup();
  publisher.track('cam', { topK: 2, minScore: 0.1 });
  publisher.publishFrame(
    frame(
      'cam',
      0,
      [
        ['dog', 0.61234567],
        ['cat', 0.30000049],
        ['cow', 0.09],
      ],
      Date.now() - 40,
    ),
  );
  assert.deepEqual(frames[0]!.labels, [
    { index: 0, label: 'dog', score: 0.612346 },
    { index: 1, label: 'cat', score: 0.3 },
  ]);
  assert.ok(frames[0]!.latencyMs >= 40 && frames[0]!.latencyMs < 5000, String(frames[0]!.latencyMs));
  // Another stream keeps every label.
  publisher.publishFrame(
    frame('door', 0, [
      ['dog', 0.5],
      ['cat', 0.3],
      ['cow', 0.09],
    ]),
  );
  assert.equal(frames[1]!.labels.length, 3);
});

test('each frame counts once in frames processed and once in the latency histogram', async () => {
  const { publisher, metrics } = setup();
  for (let i = 0; i < 7; i++) publisher.publishFrame(frame(i % 2 ? 'a' : 'b', i, [['dog', 0.9]]));
  assert.equal(await metricValue(metrics, 'streamsight_frames_processed_total'), 7);
  assert.equal(await metricValue(metrics, 'streamsight_latency_seconds_count'), 7);
});

test("label events start after enterFrames, end at a stream's end, and are counted", async () => {
  const { publisher, events, states, metrics } = setup();
  publisher.publishFrame(frame('cam', 0, [['dog', 0.9]]));
  assert.equal(events.length, 0);
  publisher.publishFrame(frame('cam', 1, [['dog', 0.9]]));
  assert.deepEqual(
    events.map((e) => [e.stream, e.label, e.kind]),
    [['cam', 'dog', 'start']],
  );
  publisher.publishStatus({ stream: 'cam', state: 'ended' });
  assert.deepEqual(states, [{ stream: 'cam', state: 'ended' }]);
  assert.deepEqual(
    events.map((e) => e.kind),
    ['start', 'end'],
  );
  assert.equal(await metricValue(metrics, 'streamsight_label_events_total'), 2);
});

test('a stream removed ends its open labels at once and its results still in flight are dropped until it is added again', () => {
  const { publisher, frames, events } = setup();
  publisher.track('cam', undefined);
  publisher.publishFrame(frame('cam', 0, [['dog', 0.9]]));
  publisher.publishFrame(frame('cam', 1, [['dog', 0.9]]));
  publisher.forget('cam');
  assert.deepEqual(
    events.map((e) => e.kind),
    ['start', 'end'],
  );
  assert.equal(publisher.isGone('cam'), true);
  publisher.publishFrame(frame('cam', 2, [['dog', 0.9]]));
  assert.equal(frames.length, 2);
  publisher.track('cam', undefined);
  assert.equal(publisher.isGone('cam'), false);
  publisher.publishFrame(frame('cam', 0, [['dog', 0.9]]));
  assert.equal(frames.length, 3);
});
