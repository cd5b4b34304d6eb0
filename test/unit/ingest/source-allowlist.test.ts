import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSource, hostMatches, protocolWhitelistFor } from '../../../src/ingest/source-allowlist.ts';

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
    `concat:${join(videos, 'ok.mp4')}|/etc/passwd`,
    `subfile:,start,0,end,0,:${join(videos, 'ok.mp4')}`,
    'http://cam1.local/x.m3u8',
    'rtsp://evil.example.org/stream',
    'https://cams.example.com.evil.org/x',
    'data:video/mp4;base64,AAAA',
    'pipe:0',
    'rtsp://',
    'file://otherhost/etc/passwd',
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

test('a host entry with a port allows that port only; without one, every port', () => {
  const ported = {
    schemes: ['rtsp', 'http', 'https', 'srt'],
    hosts: ['cam1.local:8554', '10.0.0.5', '[fe80::1]:554', '*.cams.example:443', 'srt.local:9000'],
    folders: [],
  };
  assert.equal(checkSource('rtsp://cam1.local:8554/s', ported).ok, true);
  assert.equal(checkSource('rtsp://cam1.local:554/s', ported).ok, false);
  // No port in the URL: the scheme's default (rtsp 554) is what ffmpeg reaches.
  assert.equal(checkSource('rtsp://cam1.local/s', ported).ok, false);
  assert.equal(checkSource('rtsp://10.0.0.5:1234/s', ported).ok, true);
  assert.equal(checkSource('rtsp://10.0.0.5/s', ported).ok, true);
  assert.equal(checkSource('rtsp://[fe80::1]/s', ported).ok, true);
  assert.equal(checkSource('rtsp://[fe80::1]:8554/s', ported).ok, false);
  assert.equal(checkSource('https://a.cams.example/x.m3u8', ported).ok, true);
  assert.equal(checkSource('http://a.cams.example/x.m3u8', ported).ok, false);
  assert.equal(checkSource('srt://srt.local:9000', ported).ok, true);
  // srt has no default port: a URL without one matches only an entry without one.
  assert.equal(checkSource('srt://srt.local', ported).ok, false);
  const refused = checkSource('rtsp://cam1.local:554/s', ported);
  assert.ok(!refused.ok && /port 554/.test(refused.reason), JSON.stringify(refused));
});

test('a path outside the allowed folders gets the same answer whether it exists or not', () => {
  const outsideExisting = join(secret, 'passwd');
  const outsideMissing = join(secret, 'nothing-here.mp4');
  const throughLinkExisting = join(videos, 'secret-dir', 'passwd');
  const throughLinkMissing = join(videos, 'secret-dir', 'nothing-here.mp4');
  symlinkSync(secret, join(videos, 'secret-dir'));
  const answers = [outsideExisting, outsideMissing, throughLinkExisting, throughLinkMissing, '/nonexistent-root/x.mp4', join(videos, 'link.mp4')].map((p) =>
    checkSource(p, allow),
  );
  for (const a of answers) assert.deepEqual(a, { ok: false, reason: 'file is not inside an allowed folder' });
  // Inside an allowed folder, a missing file may be said to be missing.
  assert.deepEqual(checkSource(join(videos, 'missing.mp4'), allow), { ok: false, reason: 'file not found' });
  // `..` segments are refused before any look at the disk, existing target or not.
  const dots = [join(videos, 'secret-dir') + '/../secret/passwd', `${videos}/../secret/nothing.mp4`].map((p) => checkSource(p, allow));
  assert.deepEqual(dots[0], dots[1]);
});
