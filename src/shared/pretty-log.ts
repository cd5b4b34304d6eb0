/**
 * pino's JSON lines made readable on a terminal, as pino-pretty does it but
 * in-thread and without its dependencies (pino-pretty runs as a transport in
 * a worker thread, which costs start-up time):
 *
 *   12:04:05.123 INFO  stream started stream=cam1 fps=5
 *   12:04:07.456 ERROR job failed component=worker
 *       Error: boom
 *           at ...
 *
 * It formats what pino already serialised and redacted, so nothing secret
 * reaches it that the JSON output would not hold.
 */

const LEVELS: Readonly<Record<number, { name: string; color: string }>> = {
  10: { name: 'TRACE', color: '\x1b[90m' },
  20: { name: 'DEBUG', color: '\x1b[36m' },
  30: { name: 'INFO', color: '\x1b[32m' },
  40: { name: 'WARN', color: '\x1b[33m' },
  50: { name: 'ERROR', color: '\x1b[31m' },
  60: { name: 'FATAL', color: '\x1b[41m' },
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
/** Carriage return, then erase to the end of the row. */
const CLEAR_ROW = '\r\x1b[K';

/** Fields every line has, shown in the line's head or not at all. */
const HEAD_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'err']);

export interface PrettyOptions {
  /**
   * For a terminal: ANSI colours for the level and the field names, and each
   * line starts by clearing the row, so a progress bar drawn there (`\r`,
   * no newline) is replaced rather than run into; the bar redraws itself.
   */
  colors: boolean;
}

/**
 * One JSON log line (with or without its newline) to one or more text lines,
 * newline-terminated. A line that is not a JSON object is passed through.
 */
export function formatLogLine(line: string, options: PrettyOptions): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return ensureNewline(line);
    record = parsed as Record<string, unknown>;
  } catch {
    // Not ours (pino writes only JSON): show it as it came rather than drop it.
    return ensureNewline(line);
  }
  const paint = (color: string, text: string): string => (options.colors ? `${color}${text}${RESET}` : text);
  const level = typeof record.level === 'number' ? LEVELS[record.level] : undefined;
  const levelText = (level?.name ?? String(record.level ?? '')).padEnd(5);
  const head = [
    typeof record.time === 'number' ? paint(DIM, clockTime(record.time)) : undefined,
    level ? paint(level.color, levelText) : levelText,
    typeof record.msg === 'string' && record.msg !== '' ? record.msg : undefined,
  ].filter((part) => part !== undefined);
  const fields = Object.entries(record)
    .filter(([key, value]) => !HEAD_FIELDS.has(key) && value !== undefined)
    .map(([key, value]) => `${paint(DIM, `${key}=`)}${fieldValue(value)}`);
  let out = (options.colors ? CLEAR_ROW : '') + [...head, ...fields].join(' ') + '\n';
  if (record.err !== undefined) out += indent(errorText(record.err));
  return out;
}

/** Local wall-clock time, HH:MM:SS.mmm. */
function clockTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** Bare when it reads unambiguously (no blanks, quotes or `=`), JSON otherwise. */
function fieldValue(value: unknown): string {
  if (typeof value === 'string') return value !== '' && !/[\s"=]/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/** A serialised error's stack (it starts with type and message), else its message; then its cause's. */
function errorText(err: unknown): string {
  if (err === null || typeof err !== 'object') return String(err);
  const e = err as { type?: unknown; message?: unknown; stack?: unknown };
  if (typeof e.stack === 'string' && e.stack !== '') return e.stack;
  const type = typeof e.type === 'string' ? e.type : 'Error';
  return typeof e.message === 'string' ? `${type}: ${e.message}` : JSON.stringify(err);
}

function indent(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n') + '\n'
  );
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
