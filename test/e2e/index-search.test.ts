import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { SearchResponseSchema, type FrameHit, type SegmentHit } from '../../src/indexing/search-types.ts';
import { runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { colourModel, colourSpans } from '../helpers/colour-model.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-index-'));
const videos = join(dir, 'videos');
const model = join(dir, 'colour.onnx');
const labels = join(dir, 'colours.txt');
const db = join(dir, 'index.db');
const common = ['--model', model, '--labels', labels, '--fps', '2', '--index', db, '--device', 'cpu'];

function search(args: string[]) {
  return runCli(['search', '--index', db, '--json', ...args]).then((r) => {
    assert.equal(r.code, 0, r.stderr);
    return SearchResponseSchema.parse(JSON.parse(r.stdout));
  });
}

interface Summary {
  indexed: number;
  resumed: number;
  skipped: number;
  failed: { path: string; code: string }[];
  outcomes: { path: string; action: string }[];
}
const summaryOf = (stdout: string): Summary => JSON.parse(stdout.trim().split('\n').at(-1)!) as Summary;

before(() => {
  mkdirSync(join(videos, 'sub'), { recursive: true });
  writeFileSync(model, colourModel());
  writeFileSync(labels, 'red\ngreen\nblue\n');
  makeClip(join(videos, 'red-blue.mp4'), {
    seconds: 6,
    source: colourSpans([
      ['red', 3],
      ['blue', 3],
    ]),
  });
  makeClip(join(videos, 'sub', 'green.mp4'), { seconds: 4, source: colourSpans([['green', 4]]) });
  makeClip(join(videos, 'blue-red.mkv'), {
    seconds: 6,
    source: colourSpans([
      ['blue', 2],
      ['red', 4],
    ]),
  });
  // A clip cut short: the container's header is there, the data is not.
  makeClip(join(dir, 'whole.mp4'), { seconds: 4 });
  writeFileSync(join(videos, 'broken.mp4'), readFileSync(join(dir, 'whole.mp4')).subarray(0, 2000));
  writeFileSync(join(videos, 'notes.mp4'), 'not a video\n');
  writeFileSync(join(videos, 'readme.txt'), 'ignored: not a video extension\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('streamsight index + search (colour model)', () => {
  test('indexes a folder recursively; the corrupt file and the non-video are recorded as failed, one line each, exit non-zero', async () => {
    const r = await runCli(['index', ...common, '--json', videos]);
    assert.equal(r.code, 1, r.stderr);
    const s = summaryOf(r.stdout);
    assert.equal(s.indexed, 3);
    assert.deepEqual(s.failed.map((f) => f.path.split('/').pop()).sort(), ['broken.mp4', 'notes.mp4']);
    const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('error['));
    assert.equal(errorLines.length, 2, r.stderr);
    const d = new Database(db, { readonly: true });
    const rows = d.prepare('SELECT path, status, failure_reason FROM videos ORDER BY path').all() as {
      path: string;
      status: string;
      failure_reason: string | null;
    }[];
    d.close();
    const status = new Map(rows.map((x) => [x.path.split('/').pop(), x.status]));
    assert.deepEqual(Object.fromEntries(status), {
      'blue-red.mkv': 'done',
      'broken.mp4': 'failed',
      'notes.mp4': 'failed',
      'red-blue.mp4': 'done',
      'green.mp4': 'done',
    });
    assert.ok(rows.filter((x) => x.status === 'failed').every((x) => (x.failure_reason ?? '').length > 0));
  });

  test('search --label finds the segments where the colour was shown, any case, best first', async () => {
    const r = await search(['--label', 'BLUE']);
    const hits = r.hits as SegmentHit[];
    assert.equal(hits.length, 2);
    const byVideo = new Map(hits.map((h) => [h.video.split('/').pop(), h]));
    const rb = byVideo.get('red-blue.mp4')!;
    const br = byVideo.get('blue-red.mkv')!;
    assert.ok(Math.abs(rb.startMs - 3000) <= 500 && Math.abs(rb.endMs - 6000) <= 500, JSON.stringify(rb));
    assert.ok(br.startMs <= 500 && Math.abs(br.endMs - 2000) <= 500, JSON.stringify(br));
    assert.ok(hits.every((h) => h.score > 0.9 && h.frameId !== null));
    assert.ok(hits[0]!.score >= hits[1]!.score);
    const none = await search(['--label', 'blue', '--video', 'green.mp4']);
    assert.equal(none.hits.length, 0);
  });

  test('search --frame returns that frame first, then frames that look alike', async () => {
    const r = await search(['--frame', 'red-blue.mp4@4', '--limit', '5']);
    const hits = r.hits as FrameHit[];
    assert.equal(hits[0]!.video.split('/').pop(), 'red-blue.mp4');
    assert.equal(hits[0]!.ptsMs, 4000);
    assert.ok(
      hits.every((h) => h.topLabel === 'blue'),
      JSON.stringify(hits),
    );
  });

  test('search --image: a green picture finds the green frames; a JPEG cut short still searches and says it is damaged; one cut inside its headers is one error line with the cause ffmpeg gives', async () => {
    const picture = (name: string, source: string): string => {
      const file = join(dir, name);
      execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', source, '-frames:v', '1', file]);
      return file;
    };
    const green = await search(['--image', picture('green.png', 'color=c=green:s=400x300'), '--limit', '4']);
    assert.equal(green.hits.length, 4);
    assert.ok(
      (green.hits as FrameHit[]).every((h) => h.topLabel === 'green' && h.video.endsWith('green.mp4') && h.score > 0.99),
      JSON.stringify(green.hits),
    );
    assert.equal(green.warnings, undefined);

    // A detailed picture, cut in its scan data (a flat colour's JPEG is so small that half of it is headers).
    const whole = readFileSync(picture('pattern.jpg', 'testsrc=s=400x300'));
    const cut = join(dir, 'pattern-cut.jpg');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    const r = await runCli(['search', '--index', db, '--image', cut, '--limit', '3']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /^warning: .*pattern-cut\.jpg: the picture is damaged: ffmpeg reported \d+ error\(s\) decoding it \(first: .+\); searched with what decoded$/m,
    );
    assert.match(r.stdout, /^1 /m, 'the table of hits is still printed');

    const headers = join(dir, 'headers-only.jpg');
    writeFileSync(headers, whole.subarray(0, 200));
    const bad = await runCli(['search', '--index', db, '--image', headers]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /^error\[E_NOT_A_VIDEO\]: .*headers-only\.jpg is not a video ffmpeg can decode: .+$/m, bad.stderr);
    assert.doesNotMatch(bad.stderr, /marking filters|\n\s+at /, 'the cause, not a wrap-up line or a stack');
  });

  test('export: WebVTT cues from the label segments, CSV with a header', async () => {
    const vtt = await runCli(['export', '--index', db, '--format', 'vtt', '--video', 'red-blue.mp4']);
    assert.equal(vtt.code, 0, vtt.stderr);
    assert.match(vtt.stdout, /^WEBVTT\n\n1\n00:00:00\.000 --> 00:00:03\.\d{3}\nred \(1\.00\)\n/);
    const csv = await runCli(['export', '--index', db, '--format', 'csv']);
    assert.equal(csv.stdout.split('\n')[0], 'video,label,start_ms,end_ms,peak_score');
  });

  test('rerun on the unchanged folder indexes nothing; a changed file is indexed again, only it', async () => {
    const again = await runCli(['index', ...common, '--json', videos]);
    const s = summaryOf(again.stdout);
    assert.equal(s.indexed + s.resumed, 0);
    assert.equal(s.skipped, 5);
    makeClip(join(videos, 'sub', 'green.mp4'), { seconds: 4, source: colourSpans([['red', 4]]) });
    const changed = summaryOf((await runCli(['index', ...common, '--json', videos])).stdout);
    assert.deepEqual(
      changed.outcomes.filter((o) => o.action === 'indexed').map((o) => o.path.split('/').pop()),
      ['green.mp4'],
    );
    const red = await search(['--label', 'red', '--video', 'sub/green.mp4']);
    assert.equal(red.hits.length, 1, 'the new content is what is indexed now');
  });
});
