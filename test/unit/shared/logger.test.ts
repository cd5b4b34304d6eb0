import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { redactRequestTarget } from '../../../src/ingest/url-redaction.ts';
import { createLogger } from '../../../src/shared/logger.ts';

function capture(secrets: string[] = []): { logger: ReturnType<typeof createLogger>; text: () => string } {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString('utf8');
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', destination, secrets }), text: () => text };
}

test('request targets: secret query values are redacted by their decoded name, the rest kept, malformed escapes included', () => {
  assert.equal(redactRequestTarget('/api/streams/cam1'), '/api/streams/cam1');
  assert.equal(redactRequestTarget('/ws?token=abc&x=1'), '/ws?token=***&x=1');
  assert.equal(redactRequestTarget('/ws?t%6Fken=abc&to+ken=z&access_token=q'), '/ws?t%6Fken=***&to+ken=z&access_token=***');
  assert.equal(redactRequestTarget('/api/streams/%ZZ?token=abc#frag'), '/api/streams/%ZZ?token=***#frag');
  assert.equal(redactRequestTarget('/x?y=%&password=p'), '/x?y=%&password=***');
  assert.equal(redactRequestTarget('http://u:pw@h/x?token=a'), 'http://***@h/x?token=***');
});

test('log lines hold no credential: headers, token fields, URL fields, errors (message, stack, cause), message strings, the configured secret', () => {
  const { logger, text } = capture(['CONFIGURED-s3cret']);
  logger.info({ url: '/api/streams?token=SECRET1', headers: { authorization: 'Bearer SECRET2', host: 'h' }, token: 'SECRET3' }, 'request');
  logger.child({ component: 'c' }).warn({ req: { url: 'rtsp://admin:SECRET4@cam/x', headers: { cookie: 'SECRET5' } } }, 'nested');
  logger.error({ err: new Error('open http://u:SECRET6@cam/x failed', { cause: new Error('inner ?password=SECRET7') }) }, 'err');
  logger.warn({ err: 'rtsp://u:SECRET8@x' }, 'job failed: %s', 'rtsp://u:SECRET9@x/y');
  logger.debug('bare CONFIGURED-s3cret in a message');
  const lines = text().trim().split('\n');
  assert.equal(lines.length, 5);
  assert.doesNotMatch(text(), /SECRET|CONFIGURED/);
  const first = JSON.parse(lines[0]!) as { url: string; headers: { host: string } };
  assert.equal(first.url, '/api/streams?token=***');
  assert.equal(first.headers.host, 'h', 'other header fields are kept');
  assert.match(text(), /open http:\/\/\*\*\*@cam\/x failed/);
});
