import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';
import { frameLines, writeTinyModel } from './distributed-helpers.ts';
import { assertSameIndex, readIndex } from './index-contents.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-analyze-index-'));
const videos = join(dir, 'videos');
const model = join(dir, 'tiny.onnx');
const a = join(videos, 'a.mp4');
const b = join(videos, 'b.mp4');
const bad = join(videos, 'bad.mp4');
const FLAGS = ['--model', model, '--fps', '5', '--batch', '2', '--device', 'cpu', '--threads', '1'];
let reference: ReturnType<typeof readIndex>;

before(async () => {
  mkdirSync(videos);
  writeTinyModel(model);
  makeClip(a, { seconds: 24, size: '160x120' });
  makeClip(b, { seconds: 6, size: '160x120', source: 'testsrc=size=160x120:rate=25' });
  writeFileSync(bad, 'not a video\n');
  const r = await runCli(['index', ...FLAGS, '--index', join(dir, 'reference.db'), a, b, bad]);
  assert.equal(r.code, 1, r.stderr); // bad.mp4 fails
  reference = readIndex(join(dir, 'reference.db'));
  assert.equal(reference.frames.length, 150);
  assert.equal(reference.videos.find((v) => v.path === bad)?.status, 'failed');
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('analyze --index FILE', () => {
  test('stores what `streamsight index` stores for the same files (frames, labels, embeddings, thumbnails, segments, the failed file) while printing every frame line', async () => {
    const file = join(dir, 'analyze.db');
    const out = join(dir, 'lines.jsonl');
    const r = await runCli(['analyze', ...FLAGS, '--index', file, '--out', out, '--json', a, b, bad]);
    assert.equal(r.code, 3, r.stderr); // bad.mp4 is not a video (analyze's exit code for it), as with index it is recorded failed
    const lines = frameLines(readFileSync(out, 'utf8'));
    assert.equal(lines.length, 150);
    assert.equal(lines[0]!.embedding, undefined, 'no --embeddings: the lines carry none, the index has them');
    assertSameIndex(readIndex(file), reference, 1e-6);
    const report = JSON.parse(r.stderr.split('\n').find((l) => l.includes('"type":"index-summary"'))!) as { stored: number; failed: number; frames: number };
    assert.deepEqual([report.stored, report.failed, report.frames], [2, 1, 150]);
  });

  test('unchanged files are left as they are (same rows, same start times), and their lines are still printed', async () => {
    const file = join(dir, 'analyze.db');
    const started = (): unknown => {
      const d = new Database(file, { readonly: true });
      const rows = d.prepare('SELECT path, started_at, finished_at FROM videos WHERE status = ? ORDER BY path').all('done');
      d.close();
      return rows;
    };
    const before = started();
    const r = await runCli(['analyze', ...FLAGS, '--index', file, '--json', a, b]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(frameLines(r.stdout).length, 150);
    const report = JSON.parse(r.stderr.split('\n').find((l) => l.includes('"type":"index-summary"'))!) as { unchanged: number; frames: number };
    assert.deepEqual([report.unchanged, report.frames], [2, 0]);
    assert.deepEqual(started(), before);
    assertSameIndex(readIndex(file), reference, 1e-6);
  });

  test('killed with SIGKILL in the middle of a file, a rerun resumes it and ends with the index of an uninterrupted run', async () => {
    const file = join(dir, 'killed.db');
    let pid = 0;
    const run = runCli(['analyze', ...FLAGS, '--index', file, '--out', '/dev/null', a, b, bad], { onSpawn: (p) => (pid = p) });
    let committed = 0;
    for (let i = 0; i < 2400 && committed < 20; i++) {
      await sleep(25);
      if (!existsSync(file)) continue;
      try {
        const d = new Database(file, { readonly: true });
        committed = Number((d.prepare("SELECT coalesce(sum(frames), 0) AS n FROM videos WHERE status = 'indexing'").get() as { n: number }).n);
        d.close();
      } catch (err) {
        if (!/no such table|SQLITE_BUSY/.test(String(err))) throw err;
      }
    }
    process.kill(pid, 'SIGKILL');
    const killed = await run;
    assert.equal(killed.signal, 'SIGKILL', 'analyze was killed, not finished');
    // More frames may have been committed between the last look and the kill: count what the file holds now.
    const d = new Database(file, { readonly: true });
    committed = Number((d.prepare("SELECT coalesce(sum(frames), 0) AS n FROM videos WHERE status = 'indexing'").get() as { n: number }).n);
    d.close();
    assert.ok(committed >= 20 && committed < 120, `killed after ${committed} committed frames of a.mp4's 120`);

    const rerun = await runCli(['analyze', ...FLAGS, '--index', file, '--json', '--out', '/dev/null', a, b, bad]);
    assert.equal(rerun.code, 3, rerun.stderr);
    const report = JSON.parse(rerun.stderr.split('\n').find((l) => l.includes('"type":"index-summary"'))!) as { resumed: number; frames: number };
    assert.equal(report.resumed, 1, 'a.mp4 resumed, not restarted');
    assert.equal(report.frames, 150 - committed, 'only the frames not committed before are written');
    assertSameIndex(readIndex(file), reference, 1e-6);
  });

  test('bad input: a URL or a pipe with --index, or a file that is not an index, is one error line and a non-zero exit', async () => {
    const url = await runCli(['analyze', ...FLAGS, '--index', join(dir, 'x.db'), 'http://127.0.0.1:1/clip.mp4']);
    assert.notEqual(url.code, 0);
    assert.match(url.stderr, /^error\[E_USAGE\]: --index takes files only/m);
    const fifo = join(dir, 'pipe.mp4');
    execFileSync('mkfifo', [fifo]);
    const pipe = await runCli(['analyze', ...FLAGS, '--index', join(dir, 'x.db'), fifo]);
    assert.notEqual(pipe.code, 0);
    assert.match(pipe.stderr, /^error\[E_USAGE\]: --index takes files only .*pipe\.mp4$/m, 'a pipe is refused before it is read (hashing it would block)');
    const notIndex = join(dir, 'not-an-index.db');
    writeFileSync(notIndex, 'plain text, not SQLite\n'.repeat(100));
    const r = await runCli(['analyze', ...FLAGS, '--index', notIndex, a]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^error\[E_INDEX\]: .*not a StreamSight index/m, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
});
