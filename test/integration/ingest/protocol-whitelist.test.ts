import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeFrames } from '../../../src/ingest/file-decoder.ts';
import { checkSource, protocolWhitelistFor, type SourceAllowlist } from '../../../src/ingest/source-allowlist.ts';
import { startStaticServer } from '../live/servers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-whitelist-'));
const videos = join(dir, 'videos');
const web = join(dir, 'web');
let server: Awaited<ReturnType<typeof startStaticServer>>;
const geometry = { resize: { shorter: 32 }, cropWidth: 32, cropHeight: 32 };

before(async () => {
  mkdirSync(videos);
  mkdirSync(web);
  execFileSync('ffmpeg', [
    '-nostdin',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=160x120:rate=10',
    '-t',
    '2',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    '10',
    '-f',
    'hls',
    '-hls_time',
    '1',
    '-hls_list_size',
    '0',
    '-hls_playlist_type',
    'vod',
    join(web, 'good.m3u8'),
  ]);
  server = await startStaticServer(web);
  const good = readFileSync(join(web, 'good.m3u8'), 'utf8');
  // Served over HTTP, pointing at local files, directly and through ffmpeg's combining protocols.
  writeFileSync(join(web, 'to-file.m3u8'), good.replace(/^(good\d+\.ts)$/gm, `file://${web}/$1`));
  writeFileSync(join(web, 'to-concat.m3u8'), good.replace(/^(good\d+\.ts)$/gm, `concat:${web}/$1|${web}/$1`));
  writeFileSync(join(web, 'to-subfile.m3u8'), good.replace(/^(good\d+\.ts)$/gm, `subfile:,start,0,end,0,:${web}/$1`));
  // A local playlist (an allowed folder) whose segments are on a web server: another host.
  writeFileSync(join(videos, 'elsewhere.m3u8'), good.replace(/^(good\d+\.ts)$/gm, `http://127.0.0.1:${server.port}/$1`));
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function decode(url: string, whitelist: string[]): Promise<{ frames: number; error: string; log: string[] }> {
  const log: string[] = [];
  let frames = 0;
  try {
    for await (const _ of decodeFrames(url, {
      streamId: 's',
      runId: 'r',
      sampling: { mode: 'every' },
      geometry,
      protocolWhitelist: whitelist,
      onLogLine: (l) => log.push(l),
    }))
      frames++;
    return { frames, error: '', log };
  } catch (err) {
    return { frames, error: (err as Error).message, log };
  }
}

test('the http whitelist decodes a real HLS playlist', async () => {
  const r = await decode(`http://127.0.0.1:${server.port}/good.m3u8`, protocolWhitelistFor('http'));
  assert.equal(r.error, '');
  assert.equal(r.frames, 20);
});

test('an HTTP playlist cannot make ffmpeg read local files, directly or through concat: and subfile:', async () => {
  for (const name of ['to-file', 'to-concat', 'to-subfile']) {
    const r = await decode(`http://127.0.0.1:${server.port}/${name}.m3u8`, protocolWhitelistFor('http'));
    assert.equal(r.frames, 0, name);
    assert.notEqual(r.error, '', name);
    // ffmpeg's HLS demuxer refuses concat: and subfile: itself; file: is stopped by the whitelist.
    if (name === 'to-file')
      assert.ok(
        r.log.some((l) => /not on whitelist/.test(l)),
        `${name}: ${r.log.join('\n')}`,
      );
  }
});

test('an allowed local playlist cannot reach another host: the file whitelist stops its http segments', async () => {
  const allow: SourceAllowlist = { schemes: ['file'], hosts: [], folders: [videos] };
  const checked = checkSource(join(videos, 'elsewhere.m3u8'), allow);
  assert.ok(checked.ok);
  const r = await decode(checked.url, protocolWhitelistFor(checked.scheme));
  assert.equal(r.frames, 0);
  assert.ok(
    r.log.some((l) => /Protocol 'http' not on whitelist/.test(l)),
    r.log.join('\n'),
  );
});

test('the allowlist refuses file:, concat:, subfile:, stacked protocols, stdin, devices and hosts not listed', () => {
  const allow: SourceAllowlist = { schemes: ['file', 'http', 'rtsp', 'v4l2', 'udp'], hosts: ['127.0.0.1'], folders: [videos], devices: ['/dev/video0'] };
  for (const bad of [
    'file:///etc/passwd',
    '/etc/passwd',
    `concat:${videos}/a.ts|/etc/passwd`,
    `subfile:,start,0,end,0,:/etc/passwd`,
    'crypto+file:///etc/passwd',
    'hls+http://127.0.0.1/x.m3u8',
    '-',
    'pipe:0',
    '/dev/video1',
    'http://10.9.9.9/cam.mjpg',
    'rtsp://evil.example/x',
    'udp://@:1234',
  ]) {
    assert.equal(checkSource(bad, allow).ok, false, bad);
  }
  assert.deepEqual(checkSource('/dev/video0', allow), { ok: true, url: '/dev/video0', scheme: 'v4l2' });
  assert.equal(checkSource('rtsp://user:pw@127.0.0.1:8554/live', allow).ok, true);
});
