import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { isStreamSightError, OutputError } from '../shared/errors.ts';
import { setDefaultLogFormat, type LogFormat } from '../shared/log-format.ts';
import type { CommandContext } from './context.ts';

type CommandFactory = (ctx: CommandContext) => Command;

/**
 * Each command's module, loaded only when that command runs: `analyze` does
 * not pay for SQLite, sharp, ws or BullMQ at start-up. Help without a
 * command (or an unknown one) loads them all to list them.
 */
const COMMANDS: Readonly<Record<string, () => Promise<CommandFactory>>> = {
  analyze: async () => (await import('./analyze-command.ts')).analyzeCommand,
  serve: async () => (await import('./serve-command.ts')).serveCommand,
  index: async () => (await import('./index-command.ts')).indexCommand,
  search: async () => (await import('./search-command.ts')).searchCommand,
  export: async () => (await import('./export-command.ts')).exportCommand,
  ingest: async () => (await import('./ingest-command.ts')).ingestCommand,
  worker: async () => (await import('./worker-command.ts')).workerCommand,
  gateway: async () => (await import('./gateway-command.ts')).gatewayCommand,
  models: async () => (await import('./models-command.ts')).modelsCommand,
  bench: async () => (await import('./bench-command.ts')).benchCommand,
};

/**
 * Entry of the `streamsight` command. Returns the exit code; user errors are
 * one line on stderr, anything else (a bug) prints its stack.
 */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  process.stdout.on('error', onStdoutError);
  const program = new Command('streamsight')
    .description('StreamSight: video analytics on ffmpeg and ONNX Runtime (ResNet labels and embeddings per frame)')
    .version(packageVersion())
    // A program option, so it is taken before or after any command's name.
    .addOption(new Option('--log-format <format>', 'log lines on stderr [default: pretty on a terminal, else json]').choices(['pretty', 'json']))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .hook('preAction', () => setDefaultLogFormat(program.opts<{ logFormat?: LogFormat }>().logFormat ?? 'auto'));
  const ctx: CommandContext = { setExitCode: (code) => (exitCode = Math.max(exitCode, code)) };

  try {
    const name = commandName(argv.slice(2));
    const names = name !== undefined && name in COMMANDS ? [name] : Object.keys(COMMANDS);
    for (const factory of await Promise.all(names.map((n) => COMMANDS[n]!()))) program.addCommand(exitOverrideAll(factory(ctx)));
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (isStreamSightError(err)) {
      process.stderr.write(err.toLine() + '\n');
      if (!err.userError && err.stack) process.stderr.write(err.stack + '\n');
      return err.exitCode;
    }
    process.stderr.write(`error[E_INTERNAL]: ${err instanceof Error ? err.message : String(err)} (this is a bug)\n`);
    if (err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    return 70;
  }
}

/** The first word that is not an option (nor the value of `--log-format`, the only program option taking one). */
function commandName(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--log-format') i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

function exitOverrideAll(cmd: Command): Command {
  // Global options (--log-format) are listed in every command's --help.
  cmd.exitOverride().configureHelp({ showGlobalOptions: true });
  for (const sub of cmd.commands) exitOverrideAll(sub);
  return cmd;
}

/**
 * The version in package.json, read when the program starts: the file is two
 * folders up from src/cli/ and from dist/cli/ alike, so a checkout and an
 * installed package both report what npm installed.
 */
export function packageVersion(): string {
  const file = new URL('../../package.json', import.meta.url);
  const { version } = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown };
  if (typeof version !== 'string') throw new Error(`no version in ${file.pathname}`);
  return version;
}

/**
 * A reader that goes away (`streamsight models list --json | head -1`) is
 * one line and exit 11, not an unhandled EPIPE with a stack trace. Commands
 * that write through OutputSink (analyze, export) listen themselves and say
 * the same in their own way; this listener then leaves it to them.
 */
function onStdoutError(err: NodeJS.ErrnoException): void {
  if (process.stdout.listenerCount('error') > 1) return;
  const error = new OutputError(err.code === 'EPIPE' ? 'stdout was closed by the reader' : `cannot write stdout: ${err.code ?? err.message}`, { cause: err });
  process.stderr.write(error.toLine() + '\n');
  process.exit(error.exitCode);
}
