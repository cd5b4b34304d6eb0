/**
 * Runs the real `streamsight analyze` as a child process, exactly as a user
 * would (node bin/streamsight.js, spawned directly so the measured pid is the
 * node process itself), and reads its JSON summary line from stderr.
 */
import { SummarySchema, type Summary } from '../src/contracts/analyze-output.ts';
import { CLI_PATH } from './fixtures.ts';
import { runTimed, type TimedRun } from './timed-process.ts';

export interface AnalyzeRunOptions {
  model: string;
  clip: string;
  /** Sampling flags, e.g. ['--every-frame'], ['--fps', '1'], ['--keyframes']. */
  sampling: string[];
  batch: number;
  threads: number;
  device: string;
  sampleMemory?: boolean;
}

export interface AnalyzeRun extends TimedRun {
  summary: Summary;
}

export function analyzeArgs(opts: AnalyzeRunOptions): string[] {
  return [
    CLI_PATH,
    'analyze',
    '--model',
    opts.model,
    ...opts.sampling,
    '--batch',
    String(opts.batch),
    '--threads',
    String(opts.threads),
    '--device',
    opts.device,
    '--progress',
    'none',
    '--json',
    '--log-level',
    'warn',
    '--out',
    '/dev/null',
    opts.clip,
  ];
}

/** The last `{"type":"summary",...}` line of analyze's stderr. */
export function parseSummary(stderr: string): Summary {
  const lines = stderr.split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{') || !line.includes('"summary"')) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue; // A log line that merely looks like JSON; keep looking.
    }
    const result = SummarySchema.safeParse(parsed);
    if (result.success) return result.data;
  }
  throw new Error(`analyze printed no JSON summary line; stderr ends with: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
}

export async function runAnalyzeCli(opts: AnalyzeRunOptions): Promise<AnalyzeRun> {
  const run = await runTimed(process.execPath, analyzeArgs(opts), opts.sampleMemory ? { sampleMemory: { intervalMs: 100 } } : {});
  const summary = parseSummary(run.stderr);
  if (summary.failedInputs.length > 0 || summary.interrupted || summary.frames === 0) {
    throw new Error(`analyze of ${opts.clip} did not complete: ${JSON.stringify(summary)}`);
  }
  return { ...run, summary };
}
