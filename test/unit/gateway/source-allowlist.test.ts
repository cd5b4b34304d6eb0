import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSource, hostMatches, protocolWhitelistFor } from '../../../src/gateway/source-allowlist.ts';

const root = mkdtempSync(join(tmpdir(), 'ss-allow-'));
const videos = join(root, 'videos');
const secret = join(root, 'secret');
mkdirSync(videos);
mkdirSync(secret);
writeFileSync(join(videos, 'ok.mp4'), 'x');
writeFileSync(join(secret, 'passwd'), 'x');
symlinkSync(join(secret, 'passwd'), join(videos, 'link.mp4'));
after(() => rmSync(root, { recursive: true, force: true }));

const allow = { schemes: ['file', 'rtsp', 'https'], hosts: ['cam1.local', '*.cams.example.com'], folders: [videos] };

test('nothing is allowed without an allowlist', () => {
  const r = checkSource(join(videos, 'ok.mp4'), undefined);
  assert.equal(r.ok, false);
});

test('files only inside allowed folders, by real path after links', () => {
  assert.deepEqual(checkSource(join(videos, 'ok.mp4'), allow), { ok: true, url: join(videos, 'ok.mp4'), scheme: 'file' });
  assert.equal(checkSource(`file://${join(videos, 'ok.mp4')}`, allow).ok, true);
  for (const bad of [join(secret, 'passwd'), join(videos, 'link.mp4'), join(videos, '..', 'secret', 'passwd'), 'videos/ok.mp4', videos, '/etc/passwd']) {
    assert.equal(checkSource(bad, allow).ok, false, bad);
  }
});

test('ffmpeg tricks and unknown hosts are refused', () => {
  for (const bad of [
    `concat:${join(videos, 'ok.mp4')}|/etc/passwd`, `subfile:,start,0,end,0,:${join(videos, 'ok.mp4')}`, 'http://cam1.local/x.m3u8',
    'rtsp://evil.example.org/stream', 'https://cams.example.com.evil.org/x', 'data:video/mp4;base64,AAAA', 'pipe:0', 'rtsp://', 'file://otherhost/etc/passwd',
    'rtsp://cam1.local/a\nb',
  ]) {
    assert.equal(checkSource(bad, allow).ok, false, bad);
  }
  assert.equal(checkSource('rtsp://user:pw@cam1.local:554/stream1', allow).ok, true);
  assert.equal(checkSource('https://a.cams.example.com/live.m3u8', allow).ok, true);
});

test('host patterns and protocol whitelists', () => {
  assert.equal(hostMatches('a.b.example.com', '*.example.com'), true);
  assert.equal(hostMatches('example.com', '*.example.com'), false);
  assert.equal(hostMatches('badexample.com', '*.example.com'), false);
  assert.deepEqual(protocolWhitelistFor('file'), ['file']);
  assert.ok(!protocolWhitelistFor('https').includes('file'));
});
