import { frameGeometry } from '../../../src/contracts/preprocess.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigSchema } from '../../../src/config/schema.ts';
import type { ResultEntry } from '../../../src/contracts/transport.ts';
import { loadModel, type LoadedModel } from '../../../src/inference/model-loader.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { Metrics } from '../../../src/shared/metrics.ts';
import { IngestSession } from '../../../src/transport/ingest-session.ts';
import { connect } from '../../../src/transport/redis-connections.ts';
import { redisNames } from '../../../src/transport/redis-keys.ts';
import { ResultReader } from '../../../src/transport/result-stream.ts';
import { ffmpegChildrenOf } from '../../helpers/processes.ts';
import { writeTinyModel } from '../../e2e/distributed-helpers.ts';
import { startMjpegServer, type ServerProcess } from '../live/servers.ts';
import { freePort } from '../../helpers/ports.ts';
import { TestRedis } from './redis-server.ts';
import { waitFor } from '../../helpers/wait.ts';
import { watchdogTuning } from '../../helpers/watchdog.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-live-src-'));
const logger = createLogger({ level: 'silent' });
const WATCHDOG = { stallTimeoutMs: 1500, startTimeoutMs: 8000, stopGraceMs: 500, backoff: { initialMs: 200, maxMs: 1000, jitter: 0 } };
let model: LoadedModel;
let redis: TestRedis;
const servers: ServerProcess[] = [];

before(async () => {
  writeTinyModel(join(dir, 'tiny.onnx'));
  model = loadModel(join(dir, 'tiny.onnx'));
  redis = await TestRedis.start();
});

after(async () => {
  for (const s of servers) await s.kill();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('distributed ingest of a camera runs on the source watchdog (as embedded serve)', () => {
  test('an HTTP MJPEG camera that vanishes: reconnecting (with the reason) on the results stream, live again on a new run once it is back, no ffmpeg left at stop', async () => {
    const prefix = 'cam';
    const names = redisNames(prefix);
    const metrics = new Metrics({ processMetrics: false });
    const p = model.preprocess;
    const session = await IngestSession.open({
      redis: { ...ConfigSchema.parse({}).redis, url: redis.url, prefix },
      name: 'test-ingest',
      logger,
      metrics,
      batch: 8,
      model: {
        name: model.name,
        topK: 5,
        geometry: frameGeometry(p),
        inputWidth: p.inputWidth,
        inputHeight: p.inputHeight,
      },
      defaults: { liveFps: 5, fileFps: 1, watchdog: watchdogTuning(WATCHDOG) },
    });
    const readerConn = connect(redis.url, 'worker', 'test-reader');
    const states: { state: string; detail?: string | undefined }[] = [];
    const reader = new ResultReader({
      client: readerConn,
      streamKey: names.resultsStream,
      from: '0',
      logger,
      onEntry: (e: ResultEntry) => {
        if (e.kind === 'status') states.push({ state: e.state, detail: e.detail });
      },
    });
    const port = await freePort();
    servers.push(await startMjpegServer(port, 10));
    const runs = new Set<string>();
    const abort = new AbortController();
    const run = session.run({ id: 'cam', url: `http://127.0.0.1:${port}/cam.mjpg` }, abort.signal, { onFrame: (f) => runs.add(f.runId) });
    try {
      await waitFor('live', () => states.some((s) => s.state === 'live'), 30_000);
      assert.equal(states[0]!.state, 'starting');
      await servers.at(-1)!.kill();
      await waitFor('reconnecting', () => states.some((s) => s.state === 'reconnecting'), 30_000);
      const reconnecting = states.find((s) => s.state === 'reconnecting')!;
      assert.match(reconnecting.detail ?? '', /retry in \d+ ms/);
      const mark = states.length;
      servers.push(await startMjpegServer(port, 10));
      await waitFor('live again', () => states.slice(mark).some((s) => s.state === 'live'), 30_000);
      await waitFor('frames of a second run', () => runs.size >= 2, 30_000);
      const restarts = (await metrics.decoderRestarts.get()).values.find((v) => v.labels.stream === 'cam')?.value ?? 0;
      assert.ok(restarts >= 1, `decoder restarts: ${restarts}`);
      // Live semantics on the queue meanwhile: no worker, so the high-water mark (8) holds.
      assert.ok((await readerConn.llen(`${prefix}:${names.framesQueue}:wait`)) <= 9);

      abort.abort();
      const report = await run;
      assert.deepEqual([report.state, report.detail], ['ended', 'stopped']);
      assert.ok(report.runs >= 2);
      const mine = ffmpegChildrenOf(process.pid).filter((pid) => !servers.some((s) => s.child.pid === pid));
      assert.deepEqual(mine, [], 'no ingest ffmpeg left');
      await waitFor('ended announced', () => states.at(-1)?.state === 'ended', 30_000);
    } finally {
      abort.abort();
      await run.catch(() => undefined);
      await reader.close();
      await session.close();
      readerConn.disconnect();
    }
  });
});
