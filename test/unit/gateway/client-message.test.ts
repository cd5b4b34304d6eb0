import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClientMessage } from '../../../src/gateway/client-message.ts';

test('valid messages parse', () => {
  assert.deepEqual(parseClientMessage('{"type":"ping"}'), { ok: true, msg: { type: 'ping' } });
  const sub = parseClientMessage('{"type":"subscribe","streams":"*","labels":["person"],"minScore":0.3,"topK":5,"embeddings":false,"replay":50}');
  assert.equal(sub.ok, true);
  assert.deepEqual(parseClientMessage('{"type":"unsubscribe","streams":["cam1"]}'), { ok: true, msg: { type: 'unsubscribe', streams: ['cam1'] } });
});

test('not JSON, not an object, or no string type: bad_message', () => {
  for (const t of ['', '{', 'null', '[]', '1', '"ping"', '{}', '{"type":1}', '{"type":null}']) {
    const p = parseClientMessage(t);
    assert.equal(p.ok === false && p.code, 'bad_message', t);
  }
});

test('a string type the protocol does not have: unknown_type, with a bounded echo', () => {
  const p = parseClientMessage(JSON.stringify({ type: 'x'.repeat(10_000) }));
  assert.equal(p.ok === false && p.code, 'unknown_type');
  assert.ok(p.ok === false && p.message.length < 300);
});

test('a known type with bad fields: bad_message naming the field', () => {
  const p = parseClientMessage('{"type":"subscribe","streams":["cam1"],"topK":0}');
  assert.equal(p.ok === false && p.code, 'bad_message');
  assert.match(p.ok === false ? p.message : '', /topK/);
});

test('deep nesting is refused without blowing the stack', () => {
  const deep = '['.repeat(50_000) + ']'.repeat(50_000);
  assert.equal(parseClientMessage(deep).ok, false);
  assert.equal(parseClientMessage(`{"type":"subscribe","streams":${deep}}`).ok, false);
});
