/**
 * The package as a user meets it: `npm pack` of this checkout, the tarball
 * installed with `npm install -g --prefix DIR` (what `npm install -g` does,
 * in a folder of the test's own), then
 *   - the tarball's file list: what a user needs, no tests, benches or CI;
 *   - `streamsight --help` / `--version` from the installed bin (compiled JS);
 *   - `import { analyze } from 'streamsight'` from a module beside the
 *     installed package, on a real clip and model, against the installed
 *     CLI's own JSON Lines for the same run;
 *   - the package's types, checked by TypeScript from a consumer file.
 * Dependencies come from the npm registry (or npm's cache), as for a user;
 * onnxruntime-node's CUDA download is skipped the way the README tells
 * installers to (ONNXRUNTIME_NODE_INSTALL=skip).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';

const work = mkdtempSync(join(tmpdir(), 'ss-package-'));
const prefix = join(work, 'global');
const installed = join(prefix, 'lib', 'node_modules', 'streamsight');
const bin = join(prefix, 'bin', 'streamsight');
const clip = join(work, 'clip.mp4');
const model = join(work, 'r18.onnx');
let tarball = '';
let files: string[] = [];
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

before(
  () => {
    // --json lists the files; prepack builds dist/ first.
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
    const info = (JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>)[0]!;
    tarball = join(work, info.filename);
    files = info.files.map((f) => f.path);
    execFileSync('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', tarball], {
      cwd: work,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 600_000,
    });
    makeClip(clip, { seconds: 2, size: '160x120', rate: 10 });
    execFileSync(process.execPath, [CLI, 'models', 'synth', 'resnet18', '--classes', '10', '--input-size', '64', '--out', model], { stdio: 'ignore' });
  },
  { timeout: 900_000 },
);

after(() => rmSync(work, { recursive: true, force: true }));

test('the tarball holds what a user needs and no tests, benches, sources or CI scripts', () => {
  for (const needed of [
    'package.json',
    'README.md',
    'LICENSE',
    'bin/streamsight.js',
    'dist/index.js',
    'dist/index.d.ts',
    'dist/cli/main.js',
    'dist/inference/inference-thread.js',
    'dist/gateway/dashboard/index.html',
    'config/default.yaml',
    'models/manifest.json',
    'models/imagenet-classes.txt',
  ]) {
    assert.ok(files.includes(needed), `${needed} missing from the tarball`);
  }
  const unwanted = files.filter((f) => /^(test|bench|src|scripts|\.ci|workers)\//.test(f) || /\.test\.|\.onnx$|tsconfig|eslint/.test(f));
  assert.deepEqual(unwanted, []);
});

test('the installed bin runs compiled JavaScript: --help and --version work without tsx', () => {
  const help = spawnSync(bin, ['--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /analyze/);
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  assert.equal(version.stdout.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  assert.throws(() => execFileSync(process.execPath, ['-e', 'import.meta.resolve("tsx")'], { cwd: installed, stdio: 'ignore' }));
});

test('import { analyze } from "streamsight" yields, frame by frame, the objects the installed CLI writes as JSON Lines', { timeout: 120_000 }, () => {
  const consumer = join(prefix, 'lib', 'consumer.mjs');
  writeFileSync(
    consumer,
    `
    import { analyze, createServer, openIndex, loadModel } from 'streamsight';
    for (const f of [createServer, openIndex, loadModel]) if (typeof f !== 'function') throw new Error('missing export');
    if (loadModel(${JSON.stringify(model)}).classCount !== 10) throw new Error('loadModel');
    const frames = [];
    for await (const frame of analyze(${JSON.stringify(clip)}, { model: ${JSON.stringify(model)}, fps: 4, embeddings: true, device: 'cpu' })) frames.push(frame);
    // Leaving the loop early stops the run: the process exits on its own.
    for await (const frame of analyze(${JSON.stringify(clip)}, { model: ${JSON.stringify(model)}, everyFrame: true, device: 'cpu' })) break;
    process.stdout.write(JSON.stringify(frames));
  `,
  );
  const lib = spawnSync(process.execPath, [consumer], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(lib.status, 0, lib.stderr);
  const fromLibrary = JSON.parse(lib.stdout) as Array<Record<string, unknown>>;
  const cli = spawnSync(bin, ['analyze', '--model', model, '--fps', '4', '--embeddings', '--device', 'cpu', clip], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(cli.status, 0, cli.stderr);
  const fromCli = cli.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(fromLibrary.length, 8);
  assert.equal(fromLibrary.length, fromCli.length);
  for (const [i, frame] of fromLibrary.entries()) {
    const { run: _a, ...lib1 } = frame;
    const { run: _b, ...cli1 } = fromCli[i]!;
    assert.deepEqual(lib1, cli1);
  }
});

test('the package types check from a TypeScript consumer (NodeNext resolution)', { timeout: 60_000 }, () => {
  const dir = join(prefix, 'lib');
  writeFileSync(
    join(dir, 'consumer.ts'),
    `
    import { analyze, createServer, openIndex, type FrameLine, type AnalyzeOptions, type LabelEvent, type SearchResponse } from 'streamsight';
    export function serve(): void {
      const server = createServer({ settings: { model: { name: 'resnet18' }, server: { port: 0 } } });
      server.events.on('event', (e: LabelEvent) => console.log(e.stream, e.label, e.kind));
    }
    export async function find(): Promise<SearchResponse> {
      const index = openIndex('streamsight-index.db');
      try {
        return await index.search({ label: 'dog', limit: 5 });
      } finally {
        await index.close();
      }
    }
    const options: AnalyzeOptions = { model: 'resnet50', fps: 2, device: 'cpu' };
    export async function first(): Promise<FrameLine | undefined> {
      for await (const frame of analyze('clip.mp4', options)) return frame;
      return undefined;
    }
    // @ts-expect-error device is auto, cpu or cuda
    analyze('clip.mp4', { model: 'resnet50', device: 'tpu' });
  `,
  );
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      // A Node project has @types/node; this one borrows the checkout's.
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        typeRoots: [join(ROOT, 'node_modules', '@types')],
        types: ['node'],
      },
      files: ['consumer.ts'],
    }),
  );
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
