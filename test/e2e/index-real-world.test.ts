/**
 * `streamsight index` over a folder as archives hold them: a phone video with
 * rotation metadata, an anamorphic clip, an mp4 with a cover picture, a name
 * with spaces and unicode, next to an audio file with cover art named .mp4,
 * a zero-byte file, a text file named .mp4, a file cut before its index, and
 * a symlink loop. Good files are indexed with the right frames; bad ones are
 * recorded failed with a one-line reason and stop nothing; search and export
 * work afterwards, also when the reader of export's output goes away early.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SearchResponseSchema } from '../../src/indexing/search-types.ts';
import { CLI, ROOT, runCli } from '../helpers/cli.ts';
import { ffmpeg as ff, makeClip } from '../helpers/clips.ts';
import { colourModel } from '../helpers/colour-model.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-index-real-'));
const videos = join(dir, 'archive');
const model = join(dir, 'colour.onnx');
const labels = join(dir, 'colours.txt');
const db = join(dir, 'index.db');
const common = ['--model', model, '--labels', labels, '--fps', '2', '--index', db, '--device', 'cpu'];
const UNICODE = 'vacances été 日本 (1).mp4';

before(() => {
  mkdirSync(join(videos, 'phone'), { recursive: true });
  writeFileSync(model, colourModel());
  writeFileSync(labels, 'red\ngreen\nblue\n');
  const red = 'color=c=red:s=160x120:r=25:d=2';
  makeClip(join(dir, 'red.mp4'), { seconds: 2, source: red });
  ff(['-i', join(dir, 'red.mp4'), '-c', 'copy', '-metadata:s:v', 'rotate=90', join(videos, 'phone', 'IMG_0001.MOV')]);
  makeClip(join(videos, 'anamorphic.mkv'), { seconds: 2, source: 'color=c=blue:s=80x120:r=25:d=2,setsar=2/1' });
  makeClip(join(videos, UNICODE), { seconds: 3, source: 'color=c=green:s=160x120:r=25:d=3' });
  ff(['-f', 'lavfi', '-i', 'color=yellow:s=160x120', '-frames:v', '1', join(dir, 'cover.jpg')]);
  ff([
    '-i',
    join(dir, 'red.mp4'),
    '-i',
    join(dir, 'cover.jpg'),
    '-map',
    '0',
    '-map',
    '1',
    '-c',
    'copy',
    '-disposition:v:1',
    'attached_pic',
    join(videos, 'with-cover.mp4'),
  ]);
  ff([
    '-f',
    'lavfi',
    '-i',
    'sine=d=1',
    '-i',
    join(dir, 'cover.jpg'),
    '-map',
    '0',
    '-map',
    '1',
    '-c:a',
    'aac',
    '-c:v',
    'copy',
    '-disposition:v:0',
    'attached_pic',
    join(videos, 'podcast.mp4'),
  ]);
  writeFileSync(join(videos, 'empty.mp4'), '');
  writeFileSync(join(videos, 'notes.mp4'), 'shopping list\n');
  makeClip(join(dir, 'whole.mp4'), { seconds: 2 });
  const whole = readFileSync(join(dir, 'whole.mp4'));
  writeFileSync(join(videos, 'cut.mp4'), whole.subarray(0, whole.length >> 1));
  symlinkSync('..', join(videos, 'phone', 'loop'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('streamsight index over a real-world folder (colour model)', () => {
  test('good files indexed with their frames; bad ones failed with a one-line reason each; the symlink loop is not followed', async () => {
    const r = await runCli(['index', ...common, '--json', videos]);
    assert.equal(r.code, 1, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      outcomes: { path: string; action: string; frames?: number }[];
      failed: { path: string; code: string; message: string }[];
    };
    const frames = Object.fromEntries(summary.outcomes.filter((o) => o.action === 'indexed').map((o) => [o.path.slice(videos.length + 1), o.frames]));
    assert.deepEqual(frames, { 'anamorphic.mkv': 4, 'phone/IMG_0001.MOV': 4, [UNICODE]: 6, 'with-cover.mp4': 4 });
    const failed = Object.fromEntries(summary.failed.map((f) => [f.path.slice(videos.length + 1), `${f.code} ${f.message.slice(f.path.length).trim()}`]));
    assert.deepEqual(Object.keys(failed).sort(), ['cut.mp4', 'empty.mp4', 'notes.mp4', 'podcast.mp4']);
    assert.match(failed['podcast.mp4']!, /^E_NOT_A_VIDEO has no video stream/);
    assert.equal(failed['empty.mp4'], 'E_NOT_A_VIDEO is empty (0 bytes)');
    assert.match(failed['cut.mp4']!, /^E_NOT_A_VIDEO .*moov atom not found/);
    assert.match(failed['notes.mp4']!, /^E_NOT_A_VIDEO /);
    const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('error['));
    assert.equal(errorLines.length, 4, r.stderr);
  });

  test('labels follow the pictures: the cover never appears, the rotated and anamorphic clips keep their colour', async () => {
    const r = await runCli(['export', '--index', db, '--format', 'jsonl']);
    assert.equal(r.code, 0, r.stderr);
    const top = new Map<string, Set<string>>();
    for (const line of r.stdout.trim().split('\n')) {
      const o = JSON.parse(line) as { type: string; video?: string; labels?: { label: string }[] };
      if (o.type !== 'frame') continue;
      const name = o.video!.split('/').pop()!;
      top.set(name, (top.get(name) ?? new Set()).add(o.labels![0]!.label));
    }
    assert.deepEqual(Object.fromEntries([...top].map(([k, v]) => [k, [...v]])), {
      'anamorphic.mkv': ['blue'],
      'IMG_0001.MOV': ['red'],
      [UNICODE]: ['green'],
      'with-cover.mp4': ['red'],
    });
  });

  test('search --frame and export --video take a name with spaces, unicode and parentheses', async () => {
    const r = await runCli(['search', '--index', db, '--json', '--frame', `${UNICODE}@1`, '--limit', '3']);
    assert.equal(r.code, 0, r.stderr);
    const hits = SearchResponseSchema.parse(JSON.parse(r.stdout)).hits as { video: string; ptsMs: number }[];
    assert.equal(hits[0]?.video.endsWith(UNICODE), true);
    assert.equal(hits[0]?.ptsMs, 1000);
    const vtt = await runCli(['export', '--index', db, '--format', 'vtt', '--video', UNICODE]);
    assert.equal(vtt.code, 0, vtt.stderr);
    assert.match(vtt.stdout, /^WEBVTT/);
  });

  test('export whose reader has gone away: one E_OUTPUT line, no stack trace', async () => {
    const child = spawn(process.execPath, [CLI, 'export', '--index', db, '--format', 'jsonl', '--embeddings'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // The reader is gone before the first line, as `| head -0` or a pager quit at once.
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.equal(stderr.trim(), 'error[E_OUTPUT]: stdout was closed by the reader');
    assert.equal(code, 11);
  });
});
