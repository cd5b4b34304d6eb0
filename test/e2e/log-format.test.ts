/**
 * The log format of the real command: readable lines when stderr is a
 * terminal (a pseudo-terminal from util-linux `script`), JSON lines on a
 * pipe, and `--log-format pretty|json` over either.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, runCli } from '../helpers/cli.ts';
import { makeClip } from '../helpers/clips.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-logformat-'));
const model = join(dir, 'r18.onnx');
const clip = join(dir, 'clip.mp4');
const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

before(() => {
  makeClip(clip, { seconds: 1, size: '160x120', rate: 5 });
  execFileSync(process.execPath, [CLI, 'models', 'synth', 'resnet18', '--classes', '10', '--input-size', '64', '--out', model], { stdio: 'ignore' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const analyzeArgs = ['analyze', '--model', model, '--device', 'cpu', '--fps', '1', clip];
const ENV = { STREAMSIGHT_LOG_LEVEL: 'info' };

/** The command's stderr as a terminal shows it (stdout to a file), with the terminal's \r\n undone. */
function stderrOnTerminal(args: string[]): string {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const out = execFileSync('script', ['-qec', `${quoted} > ${join(dir, 'stdout.jsonl')}`, '/dev/null'], {
    cwd: ROOT,
    env: { ...process.env, ...ENV },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return out.replace(/\r\n/g, '\n');
}

/** The log line of the engine's start; on a terminal, without the progress bar drawn before it on the same row. */
function startLine(stderr: string): string | undefined {
  const line = stderr.split('\n').find((l) => l.includes('inference on cpu'));
  if (line === undefined) return undefined;
  const json = line.indexOf('{"level"');
  return json >= 0 ? line.slice(json) : line.slice(line.lastIndexOf('\r') + 1).replace('\x1b[K', '');
}

test("on a pipe, --log-format pretty (given after the command's arguments) writes readable lines, no JSON", async () => {
  const r = await runCli([...analyzeArgs, '--log-format', 'pretty'], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  const line = startLine(r.stderr);
  assert.match(line ?? '', /^\d\d:\d\d:\d\d\.\d{3} INFO {2}inference on cpu model=r18 provider=cpu/, r.stderr);
  assert.ok(!(line ?? '').includes('\x1b['), 'no colours off a terminal');
});

test('on a terminal, log lines are pretty and coloured by default', { skip: !hasScript && 'util-linux script is not installed' }, () => {
  const line = startLine(stderrOnTerminal(analyzeArgs));
  assert.ok(line !== undefined);
  assert.match(line, /INFO.*inference on cpu/);
  assert.ok(line.includes('\x1b[32mINFO'), 'INFO in green');
  assert.ok(!line.startsWith('{'));
});

test('on a terminal, --log-format json writes JSON lines', { skip: !hasScript && 'util-linux script is not installed' }, () => {
  const line = startLine(stderrOnTerminal(['--log-format', 'json', ...analyzeArgs]));
  assert.ok(line !== undefined);
  const record = JSON.parse(line) as { level: number; msg: string; provider: string };
  assert.equal(record.level, 30);
  assert.equal(record.provider, 'cpu');
});

test('--log-format takes pretty or json only', async () => {
  const r = await runCli(['--log-format', 'xml', 'models', 'list']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Allowed choices are pretty, json/);
});
