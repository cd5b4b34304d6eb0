import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactorFor, redactText, redactUrl, urlSecrets } from '../../../src/ingest/url-redaction.ts';

test('user name and password are redacted from URLs, the rest kept', () => {
  assert.equal(redactUrl('rtsp://admin:s3cret@10.0.0.5:554/stream1'), 'rtsp://***@10.0.0.5:554/stream1');
  assert.equal(redactUrl('rtsps://admin@cam.local/x'), 'rtsps://***@cam.local/x');
  assert.equal(redactUrl('http://u:p%40ss@cam/mjpg?res=hi'), 'http://***@cam/mjpg?res=hi');
  assert.equal(redactUrl('rtsp://u:p@ss@cam/x'), 'rtsp://***@cam/x', 'a raw @ in the password');
  assert.equal(redactUrl('rtsp://cam.local/stream1'), 'rtsp://cam.local/stream1');
  assert.equal(redactUrl('/srv/videos/a@b.mp4'), '/srv/videos/a@b.mp4');
});

test('secret query parameters are redacted by name', () => {
  assert.equal(
    redactUrl('http://cam/video.cgi?user=admin&password=hunter22&token=abc&res=720'),
    'http://cam/video.cgi?user=admin&password=***&token=***&res=720',
  );
  assert.equal(redactUrl('https://cdn/live.m3u8?sig=xyz&api_key=k1'), 'https://cdn/live.m3u8?sig=***&api_key=***');
});

test("ffmpeg log lines: URL forms and the source's own secrets, also decoded", () => {
  const redact = redactorFor('rtsp://admin:p%40ssw0rd@10.0.0.5/live');
  assert.equal(
    redact('[rtsp @ 0x55d0] rtsp://admin:p%40ssw0rd@10.0.0.5/live: Connection refused'),
    '[rtsp @ 0x55d0] rtsp://***@10.0.0.5/live: Connection refused',
  );
  assert.equal(redact('auth failed for p@ssw0rd'), 'auth failed for ***');
  assert.deepEqual(urlSecrets('rtsp://admin:p%40ssw0rd@h/x'), ['p%40ssw0rd', 'p@ssw0rd', 'admin']);
  assert.deepEqual(urlSecrets('/path/file.mp4'), []);
  // Short secrets are left to the URL forms: redacting "a" everywhere would ruin every line.
  assert.equal(redactText('a camera', ['a']), 'a camera');
});
