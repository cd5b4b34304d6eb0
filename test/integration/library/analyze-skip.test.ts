/** The package's analyze() with skipUnchanged: unchanged frames come back reused, with the last inferred frame's labels. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analyze } from '../../../src/index.ts';
import type { FrameLine } from '../../../src/contracts/analyze-output.ts';
import { ffmpeg } from '../../helpers/clips.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { writeTinyModel } from '../../e2e/distributed-helpers.ts';

let tmp: ReturnType<typeof makeTempDir>;
let clip: string;
let model: string;

before(() => {
  tmp = makeTempDir('ss-lib-skip-');
  model = join(tmp.dir, 'tiny.onnx');
  writeTinyModel(model);
  clip = join(tmp.dir, 'still.mp4');
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    'smptehdbars=size=640x360:rate=25',
    '-t',
    '3',
    '-vf',
    'noise=alls=20:allf=t',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-pix_fmt',
    'yuv420p',
    clip,
  ]);
});
after(() => tmp.cleanup());

test('analyze(input, { skipUnchanged: true }) on a still scene: the first frame inferred, the others reused with its labels; without it none is', async () => {
  const lines: FrameLine[] = [];
  for await (const l of analyze(clip, { model, fps: 5, threads: 1, skipUnchanged: true })) lines.push(l);
  assert.equal(lines.length, 15);
  assert.equal(lines[0]!.reused, undefined);
  assert.ok(lines.slice(1).every((l) => l.reused === true && JSON.stringify(l.labels) === JSON.stringify(lines[0]!.labels)));
  const plain: FrameLine[] = [];
  for await (const l of analyze(clip, { model, fps: 5, threads: 1 })) plain.push(l);
  assert.equal(plain.length, 15);
  assert.ok(plain.every((l) => l.reused === undefined));
});
