import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShowinfoParser, parseShowinfoLog, roundMs } from '../../../src/ingest/showinfo-parser.ts';

// Lines as ffmpeg 5.1 prints them with `-loglevel level+info`.
const LOG = `[Parsed_showinfo_4 @ 0x560689ea5b80] [info] config in time_base: 1/15360, frame_rate: 30/1
[Parsed_showinfo_4 @ 0x560689ea5b80] [info] config out time_base: 0/0, frame_rate: 0/0
[Parsed_showinfo_4 @ 0x560689ea5b80] [info] n:   0 pts:      0 pts_time:0       pos:     2239 fmt:rgb24 sar:1024/1023 s:224x224 i:P iskey:1 type:I checksum:58E206A6 plane_checksum:[58E206A6] mean:[124 125 126] stdev:[70.1 71.2 72.3]
[Parsed_showinfo_4 @ 0x560689ea5b80] [info] UUID=dc45e9bd-e6d9-48b7-962c-d820d923eeef
[Parsed_showinfo_4 @ 0x560689ea5b80] [info] color_range:pc color_space:gbr color_primaries:unknown color_trc:unknown
[h264 @ 0x55f596f6aec0] [error] error while decoding MB 5 13, bytestream -16
[Parsed_showinfo_4 @ 0x560689ea5b80] [info] n:   1 pts:    512 pts_time:0.0333333 pos:    25434 fmt:rgb24 sar:1/1 s:224x224 i:P iskey:0 type:B checksum:7D587FB0
[Parsed_showinfo_4 @ 0x560689ea5b80] [info] n:   2 pts:  15360 pts_time:1       pos:    40848 fmt:rgb24 sar:1/1 s:224x224 i:P iskey:1 type:I checksum:895B23FA`;

test('frame lines give exact ms from pts and the configured time base', () => {
  const frames = parseShowinfoLog(LOG);
  assert.deepEqual(frames, [
    { n: 0, ptsMs: 0 },
    { n: 1, ptsMs: 33.333 },
    { n: 2, ptsMs: 1000 },
  ]);
});

test('pts beyond pts_time precision stays exact (pts_time has 6 significant digits)', () => {
  const p = new ShowinfoParser();
  p.push('[Parsed_showinfo_3 @ 0x1] [info] config in time_base: 1/90000, frame_rate: 25/1');
  // 12345.678 s: pts_time prints as 12345.7.
  const f = p.push('[Parsed_showinfo_3 @ 0x1] [info] n: 99 pts: 1111111020 pts_time:12345.7 pos: 1 fmt:rgb24');
  assert.deepEqual(f, { n: 99, ptsMs: 12345678 });
});

test('without a time base line, pts_time is used', () => {
  const p = new ShowinfoParser();
  assert.deepEqual(p.push('[Parsed_showinfo_0 @ 0x1] n:   3 pts:   3003 pts_time:0.1001  pos: 5'), { n: 3, ptsMs: 100.1 });
});

test('negative pts and NOPTS are reported, not dropped', () => {
  const p = new ShowinfoParser();
  p.push('[Parsed_showinfo_0 @ 0x1] [info] config in time_base: 1/1000, frame_rate: 30/1');
  assert.deepEqual(p.push('[Parsed_showinfo_0 @ 0x1] [info] n:   0 pts:    -40 pts_time:-0.04 pos: 1'), { n: 0, ptsMs: -40 });
  assert.deepEqual(p.push('[Parsed_showinfo_0 @ 0x1] [info] n:   1 pts:NOPTS pts_time:NOPTS pos: 1'), { n: 1, ptsMs: null });
});

test('a reconfigured filter switches to the new time base', () => {
  const p = new ShowinfoParser();
  p.push('[Parsed_showinfo_0 @ 0x1] [info] config in time_base: 1/1000, frame_rate: 30/1');
  assert.equal(p.push('[Parsed_showinfo_0 @ 0x1] [info] n: 0 pts: 500 pts_time:0.5 pos: 1')?.ptsMs, 500);
  p.push('[Parsed_showinfo_0 @ 0x1] [info] config in time_base: 1/90000, frame_rate: 30/1');
  assert.equal(p.push('[Parsed_showinfo_0 @ 0x1] [info] n: 1 pts: 90000 pts_time:1 pos: 1')?.ptsMs, 1000);
});

test('other lines, including ones that look alike, are ignored', () => {
  const p = new ShowinfoParser();
  assert.equal(p.push('[h264 @ 0x1] [error] n: 3 pts: 5 pts_time:1'), null, 'not from showinfo');
  assert.equal(p.push('[Parsed_showinfo_0 @ 0x1] [info]   side data - User Data Unregistered:'), null);
  assert.equal(p.push(''), null);
});

test('roundMs keeps microseconds', () => {
  assert.equal(roundMs(1000 / 3), 333.333);
  assert.equal(roundMs(2000), 2000);
});
