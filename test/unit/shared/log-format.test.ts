import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, setDefaultLogFormat, type LoggerOptions } from '../../../src/shared/logger.ts';
import { formatLogLine } from '../../../src/shared/pretty-log.ts';

/** A destination that keeps what is written; `tty` makes it look like a terminal. */
function capture(tty: boolean): { destination: Writable; text: () => string } {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString('utf8');
      callback();
    },
  });
  if (tty) Object.assign(destination, { isTTY: true });
  return { destination, text: () => text };
}

function logOnce(options: LoggerOptions & { tty: boolean }): string {
  const { destination, text } = capture(options.tty);
  const logger = createLogger({ ...options, destination, level: 'info' });
  logger.info({ stream: 'cam1', fps: 5 }, 'stream started');
  return text();
}

const isJsonLines = (text: string): boolean =>
  text
    .trim()
    .split('\n')
    .every((l) => l.startsWith('{') && typeof JSON.parse(l) === 'object');

afterEach(() => setDefaultLogFormat('auto'));

test('a JSON log line reads as time, level, message and key=value fields', () => {
  const line = JSON.stringify({
    level: 30,
    time: Date.UTC(2025, 0, 1, 12, 4, 5, 123),
    pid: 42,
    msg: 'stream started',
    stream: 'cam1',
    fps: 5,
    note: 'two words',
    box: { w: 1 },
  });
  const out = formatLogLine(line, { colors: false });
  assert.match(out, /^\d\d:\d\d:\d\d\.123 INFO {2}stream started stream=cam1 fps=5 note="two words" box=\{"w":1\}\n$/);
  assert.doesNotMatch(out, /pid/);
});

test('an error is shown by its stack, indented under the line; non-JSON passes through', () => {
  const line = JSON.stringify({ level: 50, time: 0, msg: 'job failed', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (x.ts:1:1)' } });
  assert.match(formatLogLine(line, { colors: false }), /ERROR job failed\n {4}Error: boom\n {8}at f \(x\.ts:1:1\)\n$/);
  assert.equal(formatLogLine('not json', { colors: false }), 'not json\n');
});

test('colours only when asked for', () => {
  const line = JSON.stringify({ level: 40, time: 0, msg: 'slow' });
  assert.ok(formatLogLine(line, { colors: true }).includes('\x1b[33mWARN '));
  assert.ok(!formatLogLine(line, { colors: false }).includes('\x1b'));
});

test('auto: pretty (coloured) on a terminal, JSON lines elsewhere', () => {
  const tty = logOnce({ tty: true });
  assert.match(tty, /INFO.* stream started .*stream=.*cam1/);
  assert.ok(tty.includes('\x1b['), 'coloured');
  assert.ok(!tty.trimStart().startsWith('{'));
  assert.ok(isJsonLines(logOnce({ tty: false })));
});

test('format json wins over a terminal; format pretty applies off a terminal, without colours', () => {
  assert.ok(isJsonLines(logOnce({ tty: true, format: 'json' })));
  const pretty = logOnce({ tty: false, format: 'pretty' });
  assert.match(pretty, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}stream started stream=cam1 fps=5\n$/);
});

test('the CLI default (setDefaultLogFormat) applies to loggers made without a format', () => {
  setDefaultLogFormat('json');
  assert.ok(isJsonLines(logOnce({ tty: true })));
  setDefaultLogFormat('pretty');
  assert.match(logOnce({ tty: false }), /INFO {2}stream started/);
  assert.ok(isJsonLines(logOnce({ tty: false, format: 'json' })), 'an explicit format still wins');
});

test('pretty output keeps every redaction: URL fields, headers, token fields, errors, messages, configured secrets', () => {
  const { destination, text } = capture(true);
  const logger = createLogger({ level: 'debug', destination, format: 'pretty', secrets: ['CONFIGURED-s3cret'] });
  logger.info({ url: '/ws?token=SECRET1', headers: { authorization: 'Bearer SECRET2' }, token: 'SECRET3' }, 'request');
  logger.error({ err: new Error('open rtsp://u:SECRET4@cam/x failed') }, 'job failed: %s', 'http://u:SECRET5@h/');
  logger.warn('bare CONFIGURED-s3cret');
  assert.doesNotMatch(text(), /SECRET|CONFIGURED/);
  assert.match(text(), /token=\*\*\*/);
  assert.match(text(), /open rtsp:\/\/\*\*\*@cam\/x failed/);
});
