/**
 * The process's log format: the CLI sets it once from `--log-format` before
 * a command runs, and every logger created without its own `format` follows
 * it. Apart from logger.ts so that the CLI's entry can set it without loading
 * pino (start-up time of `--help`).
 */

/** `pretty`: readable text lines (pretty-log.ts); `json`: pino's JSON lines; `auto`: pretty when the destination is a terminal. */
export type LogFormat = 'auto' | 'pretty' | 'json';

let current: LogFormat = 'auto';

export function setDefaultLogFormat(format: LogFormat): void {
  current = format;
}

export function defaultLogFormat(): LogFormat {
  return current;
}
