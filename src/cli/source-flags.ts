/** The `--source NAME=URL` flag of `serve` and `ingest` (the sources a command starts: commandSources in pipeline/source-plan.ts). */
import { InvalidArgumentError } from 'commander';

/** commander's parser of a repeatable `--source NAME=URL`. */
export function sourceFlag(value: string, previous: string[] = []): string[] {
  const eq = value.indexOf('=');
  if (eq <= 0 || eq === value.length - 1) throw new InvalidArgumentError(`--source must be NAME=URL, got "${value}"`);
  return [...previous, value];
}
