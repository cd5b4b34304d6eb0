import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Label } from '../../../src/contracts/analyze-output.ts';
import {
  createSubscription,
  EMPTY_SUBSCRIPTION,
  labelMatches,
  labelSynonyms,
  selectLabels,
  subscribesTo,
  withoutStreams,
} from '../../../src/gateway/subscription.ts';

const LABELS: Label[] = [
  { index: 281, label: 'tabby, tabby cat', score: 0.6 },
  { index: 285, label: 'Egyptian cat', score: 0.25 },
  { index: 282, label: 'tiger cat', score: 0.1 },
  { index: 657, label: 'missile', score: 0.05 },
];

test('streams: a list matches only its ids, "*" matches every stream, nothing subscribed matches none', () => {
  const list = createSubscription({ type: 'subscribe', streams: ['cam1', 'cam2'] });
  assert.ok(subscribesTo(list, 'cam1'));
  assert.ok(!subscribesTo(list, 'cam3'));
  assert.ok(subscribesTo(createSubscription({ type: 'subscribe', streams: '*' }), 'anything'));
  assert.ok(!subscribesTo(EMPTY_SUBSCRIPTION, 'cam1'));
});

test('known streams: unknown ids are left out of the subscription', () => {
  const sub = createSubscription({ type: 'subscribe', streams: ['cam1', 'ghost'] }, new Set(['cam1']));
  assert.ok(subscribesTo(sub, 'cam1'));
  assert.ok(!subscribesTo(sub, 'ghost'));
});

test('withoutStreams removes ids, expands "*" into the current streams, and "*" removes all', () => {
  const all = createSubscription({ type: 'subscribe', streams: '*' });
  const less = withoutStreams(all, ['cam1'], ['cam1', 'cam2']);
  assert.ok(!subscribesTo(less, 'cam1'));
  assert.ok(subscribesTo(less, 'cam2'));
  assert.ok(!subscribesTo(withoutStreams(less, '*', []), 'cam2'));
});

test('labelSynonyms splits on commas, trims and lower-cases', () => {
  assert.deepEqual(labelSynonyms('tabby, tabby cat'), ['tabby', 'tabby cat']);
  assert.deepEqual(labelSynonyms(' Great White Shark ,white shark,, man-eater'), ['great white shark', 'white shark', 'man-eater']);
});

test('a label filter term matches any synonym of a label name, case-insensitively, never a substring', () => {
  const sub = createSubscription({ type: 'subscribe', streams: '*', labels: ['TABBY', ' lynx '] });
  assert.ok(labelMatches(sub, 'tabby, tabby cat'));
  assert.ok(labelMatches(sub, 'lynx, catamount'));
  assert.ok(!labelMatches(sub, 'tabby cat food'));
  assert.ok(!labelMatches(sub, 'cat'));
  assert.ok(labelMatches(createSubscription({ type: 'subscribe', streams: '*' }), 'anything'));
});

test('selectLabels: without a filter every label passes and the same array comes back', () => {
  const sub = createSubscription({ type: 'subscribe', streams: '*' });
  assert.equal(selectLabels(sub, LABELS), LABELS);
});

test('selectLabels: the label filter keeps only matching labels; none matching means no message', () => {
  const sub = createSubscription({ type: 'subscribe', streams: '*', labels: ['tiger cat', 'tabby cat'] });
  assert.deepEqual(
    selectLabels(sub, LABELS)!.map((l) => l.index),
    [281, 282],
  );
  assert.equal(selectLabels(createSubscription({ type: 'subscribe', streams: '*', labels: ['dog'] }), LABELS), null);
});

test('selectLabels: minScore is inclusive and drops the frame when no label reaches it', () => {
  assert.deepEqual(
    selectLabels(createSubscription({ type: 'subscribe', streams: '*', minScore: 0.25 }), LABELS)!.map((l) => l.score),
    [0.6, 0.25],
  );
  assert.equal(selectLabels(createSubscription({ type: 'subscribe', streams: '*', minScore: 0.7 }), LABELS), null);
  assert.equal(selectLabels(createSubscription({ type: 'subscribe', streams: '*', minScore: 0 }), LABELS), LABELS, 'minScore 0 filters nothing');
});

test('selectLabels: topK cuts to the best K, after the filter', () => {
  assert.deepEqual(
    selectLabels(createSubscription({ type: 'subscribe', streams: '*', topK: 2 }), LABELS)!.map((l) => l.index),
    [281, 285],
  );
  assert.equal(selectLabels(createSubscription({ type: 'subscribe', streams: '*', topK: 10 }), LABELS), LABELS);
  const both = createSubscription({ type: 'subscribe', streams: '*', labels: ['missile', 'egyptian cat'], topK: 1 });
  assert.deepEqual(
    selectLabels(both, LABELS)!.map((l) => l.index),
    [285],
  );
});

test('filterKey is the same for subscriptions whose frame messages are the same, and differs otherwise', () => {
  const a = createSubscription({ type: 'subscribe', streams: ['cam1'], labels: ['B', 'a'], topK: 3, embeddings: true });
  const b = createSubscription({ type: 'subscribe', streams: '*', labels: ['a', 'b'], topK: 3 });
  const c = createSubscription({ type: 'subscribe', streams: '*', labels: ['a', 'b'], topK: 4 });
  assert.equal(a.filterKey, b.filterKey);
  assert.notEqual(b.filterKey, c.filterKey);
  assert.notEqual(createSubscription({ type: 'subscribe', streams: '*' }).filterKey, EMPTY_SUBSCRIPTION.filterKey);
});
