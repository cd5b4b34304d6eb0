/**
 * `streamsight_latency_seconds` observes each published frame once, in both
 * modes: its count equals `streamsight_frames_processed_total` on /metrics,
 * for embedded serve (createServer: inference in process) and for the
 * distributed gateway (results read back from Redis, redeliveries included).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigSchema } from '../../../src/config/schema.ts';
import type { ResultEntry } from '../../../src/contracts/transport.ts';
import { createServer } from '../../../src/index.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { Metrics } from '../../../src/shared/metrics.ts';
import { RedisLinks } from '../../../src/transport/redis-links.ts';
import { openResultGateway } from '../../../src/transport/result-gateway.ts';
import { ResultPublisher } from '../../../src/transport/result-stream.ts';
import { colourModel, colourSpans } from '../../helpers/colour-model.ts';
import { waitFor } from '../../helpers/wait.ts';
import { TestRedis } from '../transport/redis-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-latency-metrics-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Frames processed (all streams) and the latency histogram's count, from the Prometheus text. */
async function counts(port: number): Promise<{ processed: number; latency: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const sum = (re: RegExp): number => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  return { processed: sum(/^streamsight_frames_processed_total\{[^}]*\} (\S+)$/gm), latency: sum(/^streamsight_latency_seconds_count(?:\{[^}]*\})? (\S+)$/gm) };
}

test('embedded serve: the latency histogram counts each frame processed once', { timeout: 90_000 }, async () => {
  const model = join(dir, 'colour.onnx');
  const labels = join(dir, 'colours.txt');
  const clip = join(dir, 'red.mp4');
  writeFileSync(model, colourModel());
  writeFileSync(labels, 'red\ngreen\nblue\n');
  execFileSync('ffmpeg', [
    '-nostdin',
    '-loglevel',
    'error',
    '-y',
    '-filter_complex',
    colourSpans([['red', 2]]),
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-pix_fmt',
    'yuv420p',
    clip,
  ]);
  const server = createServer({
    settings: { model: { name: model, labels, device: 'cpu', threads: 1, batch: 4 }, server: { port: 0 }, log: { level: 'silent' } },
  });
  const ended = new Promise<void>((resolve) => server.events.on('status', (s) => s.state === 'ended' && resolve()));
  const { port } = await server.listen();
  try {
    await server.addSource({ id: 'red', url: clip, fps: 5 });
    await ended;
    const c = await counts(port);
    assert.ok(c.processed >= 5, `${c.processed} frames processed`);
    assert.equal(c.latency, c.processed);
  } finally {
    await server.close();
  }
});

test('distributed gateway: the latency histogram counts each frame processed once, a redelivered frame not at all', { timeout: 60_000 }, async () => {
  const redis = await TestRedis.start();
  const config = ConfigSchema.parse({ server: { port: 0 } });
  const logger = createLogger({ level: 'silent' });
  const links = await RedisLinks.open({ ...config.redis, url: redis.url, prefix: 'latency' }, 'worker', 'latency-test', logger);
  const gateway = await openResultGateway({ server: config.server, events: config.events, links, logger, metrics: new Metrics({ processMetrics: false }) });
  const publisher = new ResultPublisher(links.queue, 1000);
  try {
    const now = Date.now();
    const frame = (seq: number): Extract<ResultEntry, { kind: 'frames' }>['frames'][number] => ({
      seq,
      ptsMs: seq * 200,
      capturedAt: now - 50,
      latencyMs: 50,
      labels: [{ index: 0, label: 'red', score: 0.9 }],
    });
    const entry = (seqs: number[]): ResultEntry => ({ kind: 'frames', stream: 'cam', run: 'r1', model: 'colour', frames: seqs.map(frame) });
    // The feed reads from `$` (entries from its first read on): announce the stream until it is listed.
    await waitFor(
      'the feed reading',
      async () => {
        await publisher.publish(links.names.resultsStream, { kind: 'status', stream: 'cam', state: 'live', model: 'colour', fps: 5 });
        const listed = (await (await fetch(`http://127.0.0.1:${gateway.port}/api/streams`)).json()) as unknown[];
        return listed.length > 0;
      },
      20_000,
    );
    // Frame 2 arrives twice (a redelivered job): it is published once.
    for (const e of [entry([0, 1, 2]), entry([2, 3])]) await publisher.publish(links.names.resultsStream, e);
    const c = await waitFor(
      '4 frames processed',
      async () => {
        const now = await counts(gateway.port);
        return now.processed >= 4 && now;
      },
      20_000,
    );
    assert.deepEqual(c, { processed: 4, latency: 4 });
  } finally {
    await gateway.close();
    await links.close();
    await redis.stop();
  }
});
