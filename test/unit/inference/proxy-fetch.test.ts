import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bypassesProxy, proxyFor } from '../../../src/inference/proxy-fetch.ts';

const bypass = (url: string, ...noProxy: string[]): boolean => bypassesProxy(new URL(url), noProxy);

test('NO_PROXY: a name matches itself and every name under it, with or without a leading dot or *.', () => {
  for (const entry of ['example.com', '.example.com', '*.example.com', 'EXAMPLE.com']) {
    assert.equal(bypass('https://example.com/m.onnx', entry), true, entry);
    assert.equal(bypass('https://cdn.eu.example.com/m.onnx', entry), true, entry);
    assert.equal(bypass('https://badexample.com/m.onnx', entry), false, entry);
    assert.equal(bypass('https://example.com.evil.net/m.onnx', entry), false, entry);
  }
});

test('NO_PROXY: * matches everything; an empty list or blank entries match nothing', () => {
  assert.equal(bypass('https://github.com/x', '*'), true);
  assert.equal(bypass('https://github.com/x'), false);
  assert.equal(bypass('https://github.com/x', '', ' '), false);
});

test('NO_PROXY: host:port matches that port only, the scheme giving the default port', () => {
  assert.equal(bypass('http://mirror.local:8080/x', 'mirror.local:8080'), true);
  assert.equal(bypass('http://mirror.local/x', 'mirror.local:8080'), false);
  assert.equal(bypass('https://mirror.local/x', 'mirror.local:443'), true);
  assert.equal(bypass('http://mirror.local/x', 'mirror.local:443'), false);
});

test('NO_PROXY: IP addresses match exactly, CIDR ranges match the addresses in them, IPv4 and IPv6', () => {
  assert.equal(bypass('http://127.0.0.1:9000/x', '127.0.0.1'), true);
  assert.equal(bypass('http://127.0.0.10/x', '127.0.0.1'), false, 'not a prefix match on addresses');
  assert.equal(bypass('http://10.1.2.3/x', '10.0.0.0/8'), true);
  assert.equal(bypass('http://11.1.2.3/x', '10.0.0.0/8'), false);
  assert.equal(bypass('http://[::1]:8080/x', '::1'), true);
  assert.equal(bypass('http://[::1]:8080/x', '[::1]:8080'), true);
  assert.equal(bypass('http://[::1]:8080/x', '[::1]:9090'), false);
  assert.equal(bypass('http://[fd00::5]/x', 'fd00::/8'), true);
  assert.equal(bypass('http://example.com/x', '10.0.0.0/8', 'nonsense/99'), false, 'ranges never match names; a bad range matches nothing');
});

test('proxyFor: https URLs take the https proxy, http URLs the http proxy, NO_PROXY wins', () => {
  const settings = { http: new URL('http://p-http:3128'), https: new URL('http://p-https:3128'), noProxy: ['internal.example'] };
  assert.equal(proxyFor(new URL('https://github.com/x'), settings)?.host, 'p-https:3128');
  assert.equal(proxyFor(new URL('http://github.com/x'), settings)?.host, 'p-http:3128');
  assert.equal(proxyFor(new URL('https://models.internal.example/x'), settings), undefined);
  assert.equal(
    proxyFor(new URL('https://github.com/x'), { http: settings.http, https: undefined, noProxy: [] }),
    undefined,
    'the http proxy is not used for https',
  );
});
