import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { synthResnet } from '../../src/inference/resnet-synth.ts';
import { runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-resume-'));
const videos = join(dir, 'videos');
const model = join(dir, 'tiny.onnx');
const flags = ['--model', model, '--fps', '5', '--batch', '2', '--device', 'cpu', '--threads', '1'];

before(() => {
  mkdirSync(videos);
  writeFileSync(model, synthResnet({ arch: 'resnet18', baseWidth: 8, inputSize: 64, numClasses: 10 }));
  makeClip(join(videos, 'a.mp4'), { seconds: 30, size: '160x120' });
  makeClip(join(videos, 'b.mp4'), { seconds: 20, size: '160x120', source: 'testsrc=size=160x120:rate=25' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Everything the index holds, without ids and clocks: equal for equal indexes. */
function dump(file: string): string {
  const d = new Database(file, { readonly: true });
  const videosRows = d.prepare('SELECT path, content_hash, status, frames, sampling, model_hash FROM videos ORDER BY path').all();
  const frames = d
    .prepare(
      'SELECT v.path, f.seq, f.pts_ms, f.labels, hex(f.embedding) AS e, hex(f.thumbnail) AS t FROM frames f JOIN videos v ON v.id = f.video_id ORDER BY v.path, f.seq',
    )
    .all();
  const segments = d
    .prepare(
      'SELECT v.path, s.label, s.start_ms, s.end_ms, s.peak_score FROM segments s JOIN videos v ON v.id = s.video_id ORDER BY v.path, s.start_ms, s.label',
    )
    .all();
  d.close();
  return createHash('sha256').update(JSON.stringify({ videosRows, frames, segments })).digest('hex') + ` ${frames.length} frames`;
}

test('killed with SIGKILL in the middle of a video, a rerun ends with the same index as a run never interrupted', async () => {
  const reference = join(dir, 'reference.db');
  const whole = await runCli(['index', ...flags, '--index', reference, videos]);
  assert.equal(whole.code, 0, whole.stderr);

  const killed = join(dir, 'killed.db');
  let pid = 0;
  const run = runCli(['index', ...flags, '--index', killed, videos], { onSpawn: (p) => (pid = p) });
  // Wait until some frames of the first video are committed, then kill without warning.
  let committed = 0;
  for (let i = 0; i < 600 && committed < 20; i++) {
    await sleep(25);
    if (!existsSync(killed)) continue;
    try {
      const d = new Database(killed, { readonly: true });
      committed = Number((d.prepare("SELECT coalesce(sum(frames), 0) AS n FROM videos WHERE status = 'indexing'").get() as { n: number }).n);
      d.close();
    } catch (err) {
      if (!/no such table|SQLITE_BUSY/.test(String(err))) throw err;
    }
  }
  process.kill(pid, 'SIGKILL');
  const r = await run;
  assert.equal(r.signal, 'SIGKILL', 'the indexer was killed, not finished');
  assert.ok(committed >= 20, `killed after ${committed} committed frames`);

  const rerun = await runCli(['index', ...flags, '--index', killed, '--json', videos]);
  assert.equal(rerun.code, 0, rerun.stderr);
  const summary = JSON.parse(rerun.stdout) as { resumed: number };
  assert.equal(summary.resumed, 1, 'the interrupted video is resumed, not restarted');
  assert.equal(dump(killed), dump(reference));
});
