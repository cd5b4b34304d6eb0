import { pino, type Logger, type Level } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: Level | 'silent';
  /** Where JSON lines go; default stderr (stdout carries command output). */
  destination?: NodeJS.WritableStream;
}

/** pino JSON logs on stderr; children bind `stream`, `job`, ... */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    { level: options.level ?? 'info', base: { pid: process.pid } },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}
