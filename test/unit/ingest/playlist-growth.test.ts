import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mediaSegments, PlaylistGrowth } from '../../../src/ingest/playlist-growth.ts';

const media = (first: number, n: number, end = false): string =>
  [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    '#EXT-X-TARGETDURATION:2',
    `#EXT-X-MEDIA-SEQUENCE:${first}`,
    ...Array.from({ length: n }, (_, i) => [`#EXTINF:2.000000,`, `live${first + i}.ts`]).flat(),
    ...(end ? ['#EXT-X-ENDLIST'] : []),
    '',
  ].join('\n');
const master = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\nlow/index.m3u8\n';

test('mediaSegments: the URIs of a media playlist; none for a master playlist', () => {
  assert.deepEqual(mediaSegments(media(4, 3)), ['live4.ts', 'live5.ts', 'live6.ts']);
  assert.deepEqual(mediaSegments(media(4, 2).replace(/\n/g, '\r\n')), ['live4.ts', 'live5.ts']);
  assert.equal(mediaSegments(master), undefined);
});

test('a playlist fetched again with the same segments has not grown; one with a new segment has', () => {
  const g = new PlaylistGrowth();
  g.see('http://cam/index.m3u8', master);
  assert.deepEqual([g.sawMediaPlaylist, g.grew], [false, false]);
  g.see('http://cam/low/index.m3u8', media(4, 5));
  g.see('http://cam/low/index.m3u8', media(4, 5));
  assert.deepEqual([g.sawMediaPlaylist, g.grew], [true, false]);
  g.see('http://cam/low/index.m3u8', media(5, 5)); // live4 gone, live9 new
  assert.equal(g.grew, true);
});

test('a camera back with its segment numbers started again (VLC, ffmpeg without append_list) counts as grown', () => {
  const g = new PlaylistGrowth();
  g.see('http://cam/live.m3u8', media(97, 5));
  g.see('http://cam/live.m3u8', media(1, 1));
  assert.equal(g.grew, true);
});

test('a finished playlist (#EXT-X-ENDLIST) is played as it is; playlists are told apart by URL', () => {
  const vod = new PlaylistGrowth();
  vod.see('http://cam/vod.m3u8', media(0, 3, true));
  assert.equal(vod.grew, true);
  const two = new PlaylistGrowth();
  two.see('http://cam/a.m3u8', media(0, 3));
  two.see('http://cam/b.m3u8', media(10, 3));
  assert.equal(two.grew, false, 'a second playlist is not a new version of the first');
});
