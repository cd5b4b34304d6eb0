import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWellFormedTarget } from '../../../src/gateway/request-target.ts';

test('targets whose escapes all decode to UTF-8 are well formed', () => {
  for (const t of ['/', '/api/streams/cam1', '/api/streams/cam%201?token=a%2Bb&x=%C3%A9', '/ws?token=abc+def', '/dashboard/app.js', '/a%2Fb']) {
    assert.equal(isWellFormedTarget(t), true, t);
  }
});

test('a bad escape, a lone %, a truncated escape or one that is not UTF-8 is malformed, in the path or the query', () => {
  for (const t of ['/api/streams/%ZZ', '/api/streams?x=%', '/ws?token=%G1', '/a%2', '/api/streams/cam%C3%28', '/x?y=%E0%A4%A', '/%FF']) {
    assert.equal(isWellFormedTarget(t), false, t);
  }
});
