/**
 * `npm run demo`: the whole analyze path on a machine with no downloaded
 * model. Makes a sample clip with ffmpeg and an UNTRAINED resnet18, then runs
 * `streamsight analyze` on them. Its labels mean nothing, and say so.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = join(root, 'tmp', 'demo');
const clip = join(dir, 'sample.mp4');
const model = join(dir, 'resnet18-untrained.onnx');
const out = join(dir, 'sample.jsonl');
const cli = join(root, 'bin', 'streamsight.js');
mkdirSync(dir, { recursive: true });

if (!existsSync(clip)) {
  console.error(`demo: making a 10 s sample clip: ${clip}`);
  execFileSync(
    'ffmpeg',
    [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=640x360:rate=25',
      '-t',
      '10',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-pix_fmt',
      'yuv420p',
      '-g',
      '50',
      clip,
    ],
    { stdio: 'inherit' },
  );
}
if (!existsSync(model)) {
  console.error(`demo: making an UNTRAINED resnet18: ${model}`);
  execFileSync(process.execPath, [cli, 'models', 'synth', 'resnet18', '--out', model], { stdio: 'inherit' });
}
console.error(`demo: streamsight analyze --model ${model} --fps 2 --out ${out} ${clip}`);
const run = spawnSync(process.execPath, [cli, 'analyze', '--model', model, '--fps', '2', '--out', out, '--log-level', 'warn', clip], { stdio: 'inherit' });
if (run.status !== 0) process.exit(run.status ?? 1);
const first = execFileSync('head', ['-n', '1', out], { encoding: 'utf8' });
console.error(`demo: first line of ${out}:\n${first}`);
