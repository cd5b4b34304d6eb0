import { Command, CommanderError } from 'commander';
import { isStreamSightError } from '../shared/errors.ts';
import { analyzeCommand } from './analyze-command.ts';
import { modelsCommand } from './models-command.ts';
import { benchCommand } from './bench-command.ts';
import { serveCommand } from './serve-command.ts';
import { indexCommand } from './index-command.ts';
import { searchCommand } from './search-command.ts';
import { exportCommand } from './export-command.ts';
import { workerCommand } from './worker-command.ts';
import { ingestCommand } from './ingest-command.ts';
import { gatewayCommand } from './gateway-command.ts';
import type { CommandContext } from './context.ts';

const VERSION = '0.1.0';

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
  for (const cmd of [analyzeCommand(ctx), serveCommand(ctx), modelsCommand(ctx), benchCommand(ctx), workerCommand(ctx), ingestCommand(ctx), gatewayCommand(ctx)]) program.addCommand(exitOverrideAll(cmd));
  for (const cmd of [indexCommand(ctx), searchCommand(ctx), exportCommand(ctx)]) program.addCommand(exitOverrideAll(cmd));

  try {
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
