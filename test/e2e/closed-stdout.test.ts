/**
 * A command whose reader goes away (`| head -1`) stops with one line and
 * exit 11 (E_OUTPUT), whether it writes through OutputSink (analyze, export)
 * or prints directly (models list): never an unhandled EPIPE stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { CLI, ROOT } from '../helpers/cli.ts';

/** Runs the CLI with its stdout's reader gone before it writes (closed as it spawns), and answers its exit code and stderr. */
function runClosingStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, STREAMSIGHT_LOG_LEVEL: 'warn' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // Node takes far longer to start than this takes: the first write finds no reader.
    child.once('spawn', () => child.stdout.destroy());
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('models list --json with its reader gone: one E_OUTPUT line and exit 11', { timeout: 30_000 }, async () => {
  const r = await runClosingStdout(['models', 'list', '--json']);
  assert.equal(r.code, 11, r.stderr);
  assert.equal(r.stderr.trim(), 'error[E_OUTPUT]: stdout was closed by the reader');
});
