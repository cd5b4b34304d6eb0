import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorizeUpgrade, extractToken, originAllowed, tokensEqual } from '../../../src/gateway/auth.ts';

test('extractToken reads Authorization: Bearer (any case) first, then ?token=', () => {
  assert.equal(extractToken({ authorization: 'Bearer abc' }, '/ws'), 'abc');
  assert.equal(extractToken({ authorization: 'bearer   abc ' }, '/ws'), 'abc');
  assert.equal(extractToken({ authorization: 'Bearer abc' }, '/ws?token=zzz'), 'abc');
  assert.equal(extractToken({}, '/ws?x=1&token=a%2Bb'), 'a+b');
  assert.equal(extractToken({ authorization: 'Basic abc' }, '/ws'), undefined);
  assert.equal(extractToken({}, '/ws'), undefined);
  assert.equal(extractToken({}, undefined), undefined);
});

test('tokensEqual compares exactly, whatever the lengths', () => {
  assert.ok(tokensEqual('secret', 'secret'));
  assert.ok(!tokensEqual('secret', 'secreT'));
  assert.ok(!tokensEqual('secret', 'secret1'));
  assert.ok(!tokensEqual('', 'secret'));
  assert.ok(tokensEqual('ünï🎥', 'ünï🎥'));
});

test('originAllowed: no allowlist or no Origin passes; otherwise an exact match, case and trailing slash aside', () => {
  assert.ok(originAllowed('https://x.example', undefined));
  assert.ok(originAllowed(undefined, ['https://a.example']));
  assert.ok(originAllowed('HTTPS://A.example/', ['https://a.example']));
  assert.ok(!originAllowed('https://a.example.evil', ['https://a.example']));
  assert.ok(!originAllowed('http://a.example', ['https://a.example']));
  assert.ok(!originAllowed('null', ['https://a.example']));
});

test('authorizeUpgrade: 403 for a foreign origin, 401 for a missing or wrong token, ok otherwise', () => {
  const policy = { token: 't0k', allowedOrigins: ['https://dash.example'] };
  assert.deepEqual(authorizeUpgrade({ origin: 'https://dash.example', authorization: 'Bearer t0k' }, '/ws', policy), { ok: true });
  assert.deepEqual(authorizeUpgrade({}, '/ws?token=t0k', policy), { ok: true });
  const foreign = authorizeUpgrade({ origin: 'https://evil.example', authorization: 'Bearer t0k' }, '/ws', policy);
  assert.equal(foreign.ok === false && foreign.status, 403);
  const missing = authorizeUpgrade({}, '/ws', policy);
  assert.equal(missing.ok === false && missing.status, 401);
  assert.equal(missing.ok === false && missing.code, 'unauthorized');
  const wrong = authorizeUpgrade({}, '/ws?token=t0', policy);
  assert.equal(wrong.ok === false && wrong.status, 401);
  assert.deepEqual(authorizeUpgrade({}, '/ws', {}), { ok: true });
});
