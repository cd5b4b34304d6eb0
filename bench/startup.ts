/**
 * Start-up, as a user waits for it: `streamsight --help`, `streamsight
 * analyze --help`, and analyze from spawn to its first frame inferred (the
 * first JSON line on stdout), each as a ratio to `node -e 0` measured in the
 * same run, interleaved, median of N. The bin runs the compiled dist/ (built
 * first when missing, as `npm run build` does); `--help` through tsx (a
 * checkout never built) is measured too, for comparison.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Measurement } from './report.ts';
import { CLI_PATH, REPO_ROOT, runToCompletion } from './fixtures.ts';

export interface StartupOptions {
  model: string;
  modelName: string;
  clip: string;
  repeats: number;
  device: string;
  threads: number;
  log: (line: string) => void;
}

export interface StartupResult {
  measurements: Measurement[];
  byName: Record<'node' | 'help' | 'analyzeHelp' | 'helpTsx' | 'analyzeFirstFrame', Measurement>;
}

/** Milliseconds from spawn until `until` says the output so far is enough (or the process exits). */
function timeSpawn(args: string[], until?: (stdout: string) => boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STREAMSIGHT_LOG_LEVEL: 'error' } });
    let out = '';
    let err = '';
    let done = false;
    const finish = (ms: number): void => {
      if (done) return;
      done = true;
      resolve(ms);
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (until?.(out)) {
        finish(performance.now() - started);
        child.kill('SIGTERM');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (done) return;
      if (code !== 0 || until !== undefined)
        reject(new Error(`${args.join(' ')} exited ${code} before its output: ${err.trim().split('\n').slice(-2).join(' | ')}`));
      else finish(performance.now() - started);
    });
  });
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export async function runStartupBench(opts: StartupOptions): Promise<StartupResult> {
  if (!existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'))) {
    opts.log('building dist/ (npm run build) for the compiled start-up');
    await runToCompletion(process.execPath, [join(REPO_ROOT, 'scripts', 'build.mjs')]);
  }
  const tsxMain = join(REPO_ROOT, 'src', 'cli', 'main.ts');
  const runs: Record<keyof StartupResult['byName'], () => Promise<number>> = {
    node: () => timeSpawn(['-e', '0']),
    help: () => timeSpawn([CLI_PATH, '--help']),
    analyzeHelp: () => timeSpawn([CLI_PATH, 'analyze', '--help']),
    helpTsx: () =>
      timeSpawn([
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { main } = await import(${JSON.stringify(tsxMain)}); process.exitCode = await main([process.argv0, 'streamsight', '--help']);`,
      ]),
    analyzeFirstFrame: () =>
      timeSpawn(
        [
          CLI_PATH,
          'analyze',
          '--model',
          opts.model,
          '--every-frame',
          '--batch',
          '1',
          '--device',
          opts.device,
          '--threads',
          String(opts.threads),
          '--progress',
          'none',
          opts.clip,
        ],
        (out) => out.includes('\n'),
      ),
  };
  const samples = Object.fromEntries(Object.keys(runs).map((k) => [k, [] as number[]])) as Record<keyof StartupResult['byName'], number[]>;
  // One warm-up round (file cache, ONNX Runtime's shared library), then interleaved rounds.
  for (let round = 0; round <= opts.repeats; round++) {
    for (const [name, run] of Object.entries(runs) as Array<[keyof StartupResult['byName'], () => Promise<number>]>) {
      const ms = await run();
      if (round > 0) samples[name].push(ms);
    }
  }
  const m = (name: keyof StartupResult['byName'], detail: string): Measurement => ({
    name: `startup.${name}.ms`,
    value: Math.round(median(samples[name]) * 10) / 10,
    unit: 'ms',
    detail,
  });
  const byName = {
    node: m('node', `node -e 0, median of ${opts.repeats}`),
    help: m('help', 'streamsight --help (compiled dist/, every command listed)'),
    analyzeHelp: m('analyzeHelp', 'streamsight analyze --help (compiled dist/)'),
    helpTsx: m('helpTsx', 'streamsight --help through tsx (a checkout never built)'),
    analyzeFirstFrame: m(
      'analyzeFirstFrame',
      `streamsight analyze --every-frame --batch 1 --model ${opts.modelName}: spawn to the first JSON line on stdout (ffprobe, model load, session, one frame decoded and inferred)`,
    ),
  };
  return { measurements: Object.values(byName), byName };
}
