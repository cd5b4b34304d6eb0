import { Command, CommanderError } from 'commander';
import { isStreamSightError } from '../shared/errors.ts';
import type { CommandContext } from './context.ts';

const VERSION = '0.1.0';

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
  const program = new Command('streamsight')
    .description('StreamSight: video analytics on ffmpeg and ONNX Runtime (ResNet labels and embeddings per frame)')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const ctx: CommandContext = { setExitCode: (code) => (exitCode = Math.max(exitCode, code)) };

  try {
    const name = argv[2];
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

function exitOverrideAll(cmd: Command): Command {
  cmd.exitOverride();
  for (const sub of cmd.commands) exitOverrideAll(sub);
  return cmd;
}
