import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectVideoFiles } from '../../../src/indexing/video-files.ts';

const root = mkdtempSync(join(tmpdir(), 'ss-video-files-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('folders: video extensions only, hidden entries skipped; symlinks followed to files and folders; loops and duplicates taken once; broken video links reported', async () => {
  const archive = join(root, 'archive');
  const elsewhere = join(root, 'elsewhere');
  mkdirSync(join(archive, 'sub'), { recursive: true });
  mkdirSync(elsewhere);
  for (const f of ['a.mp4', 'B.MOV', 'notes.txt', '.hidden.mp4', 'sub/c.mkv']) writeFileSync(join(archive, f), 'x');
  writeFileSync(join(elsewhere, 'd.webm'), 'x');
  writeFileSync(join(root, 'outside.mp4'), 'x');
  symlinkSync('..', join(archive, 'sub', 'loop')); // back to archive/
  symlinkSync(elsewhere, join(archive, 'linked-folder'));
  symlinkSync(join(root, 'outside.mp4'), join(archive, 'link-to-outside.mp4'));
  symlinkSync('a.mp4', join(archive, 'z-same-as-a.mp4')); // a.mp4 again: taken once, as a.mp4
  symlinkSync(join(root, 'gone.mp4'), join(archive, 'broken.mp4'));
  symlinkSync(join(root, 'gone.txt'), join(archive, 'broken.txt'));

  const { files, missing } = await collectVideoFiles([archive]);
  assert.deepEqual(
    files.map((f) => f.slice(archive.length + 1)),
    ['B.MOV', 'a.mp4', 'link-to-outside.mp4', 'linked-folder/d.webm', 'sub/c.mkv'],
  );
  assert.deepEqual(missing, [{ path: join(archive, 'broken.mp4'), reason: 'broken symbolic link' }]);
});

test('named paths: a file is taken whatever its extension; a missing one is reported, not thrown', async () => {
  writeFileSync(join(root, 'clip.bin'), 'x');
  const { files, missing } = await collectVideoFiles([join(root, 'clip.bin'), join(root, 'nope.mp4')]);
  assert.deepEqual(files, [join(root, 'clip.bin')]);
  assert.equal(missing.length, 1);
  assert.match(missing[0]!.reason, /ENOENT/);
});

test('a named FIFO is reported as not a regular file, not read (hashing it would block and eat its data)', async () => {
  const fifo = join(root, 'pipe.mp4');
  execFileSync('mkfifo', [fifo]);
  const { files, missing } = await collectVideoFiles([fifo]);
  assert.deepEqual(files, []);
  assert.equal(missing.length, 1);
  assert.match(missing[0]!.reason, /not a regular file/);
});
