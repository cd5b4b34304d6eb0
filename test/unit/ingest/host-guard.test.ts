import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protocolWhitelistFor } from '../../../src/ingest/source-allowlist.ts';
import { buildDecodeArgs, proxiedEnv } from '../../../src/ingest/ffmpeg-args.ts';
import {
  downgradeHttpsUrl,
  downgradeHttpsUrls,
  formatTarget,
  hostGuardRulesFor,
  hostMatches,
  isTargetAllowed,
  parseAuthority,
  targetOfUrl,
} from '../../../src/ingest/host-guard.ts';

test('a source reaches its own host:port (default ports filled in, case and brackets ignored), nothing else without patterns', () => {
  const rules = hostGuardRulesFor('http://user:pw@Cam.Local:8080/live.m3u8');
  assert.deepEqual(rules, { exact: [{ host: 'cam.local', port: 8080 }], patterns: [] });
  assert.equal(isTargetAllowed(rules, { host: 'cam.local', port: 8080 }), true);
  assert.equal(isTargetAllowed(rules, { host: 'CAM.LOCAL.', port: 8080 }), true);
  assert.equal(isTargetAllowed(rules, { host: 'cam.local', port: 80 }), false, 'same host, another port');
  assert.equal(isTargetAllowed(rules, { host: 'other.local', port: 8080 }), false);
  assert.deepEqual(hostGuardRulesFor('https://10.0.0.5/x.m3u8').exact, [{ host: '10.0.0.5', port: 443 }]);
  assert.deepEqual(hostGuardRulesFor('http://[::1]/x').exact, [{ host: '::1', port: 80 }]);
  assert.deepEqual(hostGuardRulesFor('rtsp://cam/x').exact, [], 'not an http(s) URL');
});

test('allowlist patterns allow a host on any port; *.domain matches subdomains only', () => {
  const rules = hostGuardRulesFor('http://cam.local/x.m3u8', ['cdn.example.com', '*.cams.example.com']);
  assert.equal(isTargetAllowed(rules, { host: 'cdn.example.com', port: 8443 }), true);
  assert.equal(isTargetAllowed(rules, { host: 'a.b.cams.example.com', port: 80 }), true);
  assert.equal(isTargetAllowed(rules, { host: 'cams.example.com', port: 80 }), false);
  assert.equal(isTargetAllowed(rules, { host: 'evilcams.example.com', port: 80 }), false);
  assert.equal(hostMatches('Example.COM', 'example.com'), true);
});

test('CONNECT authorities and http(s) URLs parse to host:port; anything else is undefined', () => {
  assert.deepEqual(parseAuthority('127.0.0.1:443'), { host: '127.0.0.1', port: 443 });
  assert.deepEqual(parseAuthority('[::1]:8443'), { host: '::1', port: 8443 });
  for (const bad of ['127.0.0.1', 'host:0', 'host:70000', 'a b:80', 'user@host:80', 'host:80/x', '']) assert.equal(parseAuthority(bad), undefined, bad);
  assert.deepEqual(targetOfUrl('http://a.example/x'), { host: 'a.example', port: 80 });
  assert.equal(targetOfUrl('ftp://a.example/x'), undefined);
  assert.equal(targetOfUrl('not a url'), undefined);
  assert.equal(formatTarget({ host: '::1', port: 80 }), '[::1]:80');
});

test('ffmpeg gets the proxy as an input option; its environment loses no_proxy and every other proxy variable', () => {
  const geometry = { resize: { shorter: 32 }, cropWidth: 32, cropHeight: 32 };
  const args = buildDecodeArgs({ input: 'http://cam/x.m3u8', sampling: { mode: 'every' }, geometry, httpProxy: 'http://127.0.0.1:4567' });
  const i = args.indexOf('-http_proxy');
  assert.ok(i >= 0 && i < args.indexOf('-i'));
  assert.equal(args[i + 1], 'http://127.0.0.1:4567');
  assert.throws(() => buildDecodeArgs({ input: 'http://cam/x', sampling: { mode: 'every' }, geometry, httpProxy: 'socks5://x:1' }), RangeError);
  assert.ok(!buildDecodeArgs({ input: 'http://cam/x', sampling: { mode: 'every' }, geometry }).includes('-http_proxy'));
  const env = proxiedEnv(
    { PATH: '/bin', no_proxy: '127.0.0.1', NO_PROXY: '*', HTTPS_PROXY: 'http://corp:3128', http_proxy: 'http://corp:3128' },
    'http://127.0.0.1:4567',
  );
  assert.deepEqual(env, { PATH: '/bin', http_proxy: 'http://127.0.0.1:4567' });
});

test('the whitelists carry what proxying needs and nothing more: https is opened over http through the guard, so neither tls nor httpproxy', () => {
  assert.deepEqual(protocolWhitelistFor('http'), ['http', 'tcp', 'crypto']);
  assert.deepEqual(protocolWhitelistFor('https'), ['http', 'tcp', 'crypto']);
});

test('an https URL is opened as http with its port spelled out; https URLs in a playlist are rewritten, the allowed ones named for TLS', () => {
  assert.deepEqual(downgradeHttpsUrl('https://u:p@Cam.local/x.m3u8?a=1'), {
    url: 'http://u:p@cam.local:443/x.m3u8?a=1',
    tls: { host: 'cam.local', port: 443 },
  });
  assert.deepEqual(downgradeHttpsUrl('https://[::1]:8443'), { url: 'http://[::1]:8443/', tls: { host: '::1', port: 8443 } });
  assert.equal(downgradeHttpsUrl('https://cam?x')?.url, 'http://cam:443/?x');
  assert.equal(downgradeHttpsUrl('http://cam/x'), undefined);
  const playlist =
    '#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="https://cam/key"\nhttps://CDN.example.com/seg1.ts\nhttps://evil:444/a.ts\nhttpproxy://evil:3128/x.ts\nseg.ts\n';
  const d = downgradeHttpsUrls(playlist, hostGuardRulesFor('https://cam/live.m3u8', ['cdn.example.com']));
  assert.equal(
    d.text,
    '#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="http://cam:443/key"\nhttp://cdn.example.com:443/seg1.ts\nhttp://evil:444/a.ts\nhttpproxy://evil:3128/x.ts\nseg.ts\n',
  );
  assert.deepEqual(
    d.tls,
    [
      { host: 'cam', port: 443 },
      { host: 'cdn.example.com', port: 443 },
    ],
    'evil:444 is not allowed: asked in the clear, then refused',
  );
});

test('allowlist host entries: parsed with an optional port, matched on that port only', async () => {
  const { parseHostEntry, hostEntryAllows, isTargetAllowed } = await import('../../../src/ingest/host-guard.ts');
  assert.deepEqual(parseHostEntry('Cam.Local:8554'), { host: 'cam.local', port: 8554 });
  assert.deepEqual(parseHostEntry('*.cams.example'), { host: '*.cams.example' });
  assert.deepEqual(parseHostEntry('[::1]:554'), { host: '::1', port: 554 });
  assert.deepEqual(parseHostEntry('::1'), { host: '::1' });
  for (const bad of ['cam:0', 'cam:70000', 'cam:', 'cam:http', 'a b', '', 'host/path', '[::1]x']) assert.equal(parseHostEntry(bad), undefined, bad);
  assert.equal(hostEntryAllows('cam.local:8554', 'cam.local', 8554), true);
  assert.equal(hostEntryAllows('cam.local:8554', 'cam.local', 80), false);
  assert.equal(hostEntryAllows('cam.local', 'cam.local', 80), true);
  assert.equal(hostEntryAllows('cam.local:80', 'cam.local', undefined), false);
  // The host guard (HLS segments, redirects) applies the same rule.
  const rules = { exact: [], patterns: ['media.local:8080'] };
  assert.equal(isTargetAllowed(rules, { host: 'media.local', port: 8080 }), true);
  assert.equal(isTargetAllowed(rules, { host: 'media.local', port: 80 }), false);
});
