import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { UsageError } from '../shared/errors.ts';
import type { DeviceChoice } from '../inference/ort-session.ts';
import type { CommandContext } from './context.ts';
import { nonNegativeInt, positiveInt } from './options.ts';

interface BenchFlags {
  quick?: boolean;
  only?: string[];
  jsonOut?: string;
  batch?: number;
  threads?: number;
  device?: DeviceChoice;
  cacheDir?: string;
}

/** bench/run.ts's SUITE_NAMES (src does not import bench/; test/integration/bench checks the two agree). */
export const BENCH_SUITES = ['startup', 'ceiling', 'inference', 'decode', 'memory', 'ws', 'live', 'cameras', 'distributed', 'index', 'quantize'];

/**
 * The benchmarks live in the repository's bench/ (TypeScript, with their
 * fixtures), not in the package: they run from a checkout, through tsx (a
 * dev dependency). This command runs bench/run.ts as its own process, as
 * `npm run bench` does, so src/ never imports bench/: its table and JSON
 * line are bench's stdout, its exit code this command's.
 */
function benchEntry(): string {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const entry = join(root, 'bench', 'run.ts');
  if (!existsSync(entry))
    throw new UsageError('streamsight bench runs from a source checkout (git clone, npm ci, npm run bench): the package ships no benchmarks');
  return entry;
}

async function runBench(args: readonly string[]): Promise<number> {
  const entry = benchEntry();
  // tsx from this checkout's node_modules, whatever the working folder.
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), entry, ...args], { stdio: 'inherit' });
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return code ?? (signal ? 1 : 0);
}

export function benchCommand(ctx: CommandContext): Command {
  return new Command('bench')
    .description('measure the inference ceiling, analyze end to end (inference-bound and decode-bound) and peak memory: a table and one JSON line on stdout')
    .option('--quick', 'a short smoke run on small clips and resnet18 (under about a minute); its numbers are not benchmarks')
    .addOption(new Option('--only <name...>', 'run only these measurements (inference includes the ceiling it is compared with)').choices(BENCH_SUITES))
    .option('--json-out <file>', 'also write the JSON result to this file')
    .addOption(new Option('--batch <n>', 'frames per inference call, the same everywhere [default: 8]').argParser(positiveInt('--batch')))
    .addOption(
      new Option(
        '--threads <n>',
        'ONNX Runtime intra-op threads, the same everywhere; 0 = one per physical core this process may use (within a cgroup v2 CPU quota) [default: 0]',
      ).argParser(nonNegativeInt('--threads')),
    )
    .addOption(new Option('--device <device>', 'execution provider, the same everywhere [default: auto]').choices(['auto', 'cpu', 'cuda']))
    .option('--cache-dir <dir>', 'where generated clips and synthesized models are kept [default: .bench-cache/]')
    .addHelpText(
      'after',
      `
Clips (testsrc2, libx264 ultrafast) and untrained models (models synth) are made once and cached.
Examples:
  streamsight bench
  streamsight bench --quick --json-out bench.json
  streamsight bench --only decode memory`,
    )
    .action(async (flags: BenchFlags) => {
      const args = [
        ...(flags.quick ? ['--quick'] : []),
        ...(flags.only ?? []).flatMap((name) => ['--only', name]),
        ...(flags.batch !== undefined ? ['--batch', String(flags.batch)] : []),
        ...(flags.threads !== undefined ? ['--threads', String(flags.threads)] : []),
        ...(flags.device !== undefined ? ['--device', flags.device] : []),
        ...(flags.cacheDir !== undefined ? ['--cache-dir', flags.cacheDir] : []),
        ...(flags.jsonOut !== undefined ? ['--json-out', flags.jsonOut] : []),
      ];
      const code = await runBench(args);
      if (code !== 0) ctx.setExitCode(code === 2 ? 2 : 1);
    });
}
