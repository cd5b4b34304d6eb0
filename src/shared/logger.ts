import { pino, stdSerializers, type Logger, type Level } from 'pino';
import { REDACTED, redactRequestTarget, redactText } from '../ingest/url-redaction.ts';
import { defaultLogFormat, type LogFormat } from './log-format.ts';
import { formatLogLine } from './pretty-log.ts';

export type { Logger, LogFormat };
export { setDefaultLogFormat } from './log-format.ts';

export interface LoggerOptions {
  level?: Level | 'silent';
  /** Where log lines go; default stderr (stdout carries command output). */
  destination?: NodeJS.WritableStream;
  /** Default: what the CLI's `--log-format` set (log-format.ts), else `auto`. */
  format?: LogFormat;
  /**
   * Strings the process knows to be secret (the configured `server.token`),
   * replaced wherever they appear in messages, errors and URL fields, even
   * bare. Shorter than 4 characters: ignored.
   */
  secrets?: readonly string[];
}

/**
 * Fields never written, whatever they hold: request headers that carry
 * credentials, and fields named after a secret. Paths as pino's `redact`
 * takes them (one level of `*`).
 */
const SECRET_PATHS = [
  'token',
  '*.token',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'cookie',
  'headers.authorization',
  'headers.cookie',
  'headers["proxy-authorization"]',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["proxy-authorization"]',
];
/** Fields holding a URL or request target: written with the user info and secret query values redacted. */
const URL_PATHS = ['url', '*.url', 'source', '*.source'];

/**
 * The last line of defence for credentials (tokens, camera passwords): the
 * fields above, every error (message, stack and string properties) and every
 * message string go through the URL redaction before they are written. The
 * callers still redact what they know to be a URL; this catches what slips.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const secrets = options.secrets ?? [];
  const terminal = isTty(options.destination ?? process.stderr);
  const sink = options.destination ?? pino.destination({ fd: 2, sync: true });
  const format = options.format ?? defaultLogFormat();
  // pino writes one redacted JSON line per write; pretty output reformats that line, so redaction holds for both.
  const output =
    format === 'pretty' || (format === 'auto' && terminal) ? { write: (line: string) => sink.write(formatLogLine(line, { colors: terminal })) } : sink;
  const redact = (text: string): string => redactText(text, secrets);
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid },
      redact: {
        paths: [...SECRET_PATHS, ...URL_PATHS],
        censor: (value: unknown, path: string[]) => {
          if (!URL_PATHS_SET.has(path[path.length - 1] ?? '')) return REDACTED;
          if (typeof value === 'string') return redact(redactRequestTarget(value));
          return value instanceof URL ? redact(redactRequestTarget(value.href)) : value;
        },
      },
      serializers: { err: (err: unknown) => serializeError(err, redact) },
      hooks: {
        logMethod(args, method) {
          // Message strings (`job failed: ${err.message}`) may quote a URL; objects are covered above.
          for (let i = 0; i < args.length; i++) {
            const a: unknown = args[i];
            if (typeof a === 'string') args[i] = redact(a);
          }
          method.apply(this, args);
        },
      },
    },
    output,
  );
}

function isTty(stream: NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

const URL_PATHS_SET = new Set(URL_PATHS.map((p) => p.slice(p.lastIndexOf('.') + 1)));

/** pino's error serializer (type, message, stack, cause, own properties) with every string in it redacted. */
function serializeError(err: unknown, redact: (text: string) => string): unknown {
  if (typeof err === 'string') return redact(err);
  if (!(err instanceof Error)) return err;
  return redactStrings(stdSerializers.err(err), redact, 0);
}

function redactStrings(value: unknown, redact: (text: string) => string, depth: number): unknown {
  if (typeof value === 'string') return redact(value);
  // Serialized errors are shallow; the bound only stops a cycle pino-std-serializers let through.
  if (value === null || typeof value !== 'object' || depth > 4) return value;
  if (Array.isArray(value)) return value.map((v) => redactStrings(v, redact, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactStrings(v, redact, depth + 1);
  return out;
}
