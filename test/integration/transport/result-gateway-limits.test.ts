import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { ConfigSchema } from '../../../src/config/schema.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { Metrics } from '../../../src/shared/metrics.ts';
import { RedisLinks } from '../../../src/transport/redis-links.ts';
import { openResultGateway } from '../../../src/transport/result-gateway.ts';
import { RawClient, TestClient, until } from '../gateway/ws-helpers.ts';
import { TestRedis } from './redis-server.ts';

test('the distributed gateway (`gateway`, `serve --redis`) applies the connection limits: idle sockets closed after headersTimeoutMs, WebSocket clients capped at maxClients, malformed targets 400', async () => {
  const redis = await TestRedis.start();
  const config = ConfigSchema.parse({ server: { port: 0, maxClients: 1, headersTimeoutMs: 1000, requestTimeoutMs: 2000 } });
  const logger = createLogger({ level: 'silent' });
  const links = await RedisLinks.open({ ...config.redis, url: redis.url, prefix: 'limits' }, 'worker', 'limits-test', logger);
  const gateway = await openResultGateway({ server: config.server, events: config.events, links, logger, metrics: new Metrics({ processMetrics: false }) });
  try {
    const idle = connect({ port: gateway.port, host: '127.0.0.1' });
    idle.on('error', () => undefined);
    let idleClosed = false;
    idle.on('close', () => (idleClosed = true));
    idle.resume();
    await until(() => idleClosed, 4000, 'the idle socket to be closed');

    const url = `ws://127.0.0.1:${gateway.port}/ws`;
    const first = await TestClient.open(url);
    const second = await RawClient.open(gateway.port, '/ws');
    assert.equal(second.status, 503);
    second.client.destroy();
    assert.equal((await fetch(`http://127.0.0.1:${gateway.port}/api/streams/%ZZ`)).status, 400);
    await first.close();
  } finally {
    await gateway.close();
    await links.close();
    await redis.stop();
  }
});
