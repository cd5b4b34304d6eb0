import { existsSync } from 'node:fs';
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

const SUITES = ['ceiling', 'inference', 'decode', 'memory'];

/** What bench/run.ts exports, as this command uses it. */
interface BenchModule {
  runBench(options: Record<string, unknown> & { quick: boolean; log: (line: string) => void }): Promise<{ errors: unknown[] }>;
  printReport(report: unknown, out: { stdout: NodeJS.WritableStream; jsonOut?: string }): Promise<void>;
}

/**
 * The benchmarks live in the repository's bench/ (TypeScript, with their
 * fixtures), not in the package: they run from a checkout, through tsx (a
 * dev dependency). Loaded only when this command runs, by a path the
 * compiler does not follow, so src/ does not depend on bench/.
 */
async function loadBench(): Promise<BenchModule> {
  const entry = new URL('../../bench/run.ts', import.meta.url);
  if (!existsSync(entry)) throw new UsageError('streamsight bench runs from a source checkout (git clone, npm ci, npm run bench): the package ships no benchmarks');
  const { register } = (await import('tsx/esm/api')) as { register: () => void };
  register();
  return (await import(entry.href)) as BenchModule;
}

export function benchCommand(ctx: CommandContext): Command {
  return new Command('bench')
    .description('measure the inference ceiling, analyze end to end (inference-bound and decode-bound) and peak memory: a table and one JSON line on stdout')
    .option('--quick', 'a short smoke run on small clips and resnet18 (under about a minute); its numbers are not benchmarks')
    .addOption(new Option('--only <name...>', 'run only these measurements (inference includes the ceiling it is compared with)').choices(SUITES))
    .option('--json-out <file>', 'also write the JSON result to this file')
    .addOption(new Option('--batch <n>', 'frames per inference call, the same everywhere [default: 8]').argParser(positiveInt('--batch')))
    .addOption(new Option('--threads <n>', 'ONNX Runtime intra-op threads, the same everywhere; 0 = one per core [default: 0]').argParser(nonNegativeInt('--threads')))
    .addOption(new Option('--device <device>', 'execution provider, the same everywhere [default: auto]').choices(['auto', 'cpu', 'cuda']))
    .option('--cache-dir <dir>', 'where generated clips and synthesized models are kept [default: .bench-cache/]')
    .addHelpText('after', `
Clips (testsrc2, libx264 ultrafast) and untrained models (models synth) are made once and cached.
Examples:
  streamsight bench
  streamsight bench --quick --json-out bench.json
  streamsight bench --only decode memory`)
    .action(async (flags: BenchFlags) => {
      const { runBench, printReport } = await loadBench();
      const report = await runBench({
        quick: flags.quick ?? false,
        ...(flags.only ? { only: flags.only } : {}),
        ...(flags.batch !== undefined ? { batch: flags.batch } : {}),
        ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
        ...(flags.device !== undefined ? { device: flags.device } : {}),
        ...(flags.cacheDir !== undefined ? { cacheDir: flags.cacheDir } : {}),
        log: (line) => process.stderr.write(`${line}\n`),
      });
      await printReport(report, { stdout: process.stdout, ...(flags.jsonOut !== undefined ? { jsonOut: flags.jsonOut } : {}) });
      if (report.errors.length > 0) ctx.setExitCode(1);
    });
}
