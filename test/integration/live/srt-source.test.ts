/**
 * srt:// through the live pipeline against a real SRT listener (ffmpeg's
 * libsrt in listener mode, serving a generated clip as MPEG-TS): the stream
 * goes live with the srt whitelist, labels of a real (synthesized) ResNet
 * flow, and a listener that dies makes the stream reconnect.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FrameResult, StreamStatus } from '../../../src/contracts/results.ts';
import { DEFAULTS } from '../../../src/config/schema.ts';
import { InferenceEngine } from '../../../src/inference/inference-engine.ts';
import { loadModel } from '../../../src/inference/model-loader.ts';
import { synthResnet } from '../../../src/inference/resnet-synth.ts';
import { LivePipeline } from '../../../src/pipeline/live-pipeline.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { Metrics } from '../../../src/shared/metrics.ts';
import { ffmpegChildrenOf } from '../../helpers/processes.ts';
import { freePort } from '../../helpers/ports.ts';
import { waitFor } from '../../helpers/wait.ts';
import { watchdogTuning } from '../../helpers/watchdog.ts';

const dir = mkdtempSync(join(tmpdir(), 'ss-srt-'));
const modelFile = join(dir, 'r18.onnx');
before(() => writeFileSync(modelFile, synthResnet({ arch: 'resnet18', seed: 1 })));
after(() => rmSync(dir, { recursive: true, force: true }));

test(
  'srt:// (an ffmpeg SRT listener serving a generated clip): live, labels flow; the listener killed, the stream reconnects',
  { timeout: 90_000 },
  async () => {
    const port = await freePort();
    // A real-time test pattern, as a camera's encoder would send it; the listener waits for one caller.
    const listener = spawn(
      'ffmpeg',
      [
        '-nostdin',
        '-loglevel',
        'error',
        '-re',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=320x240:rate=10',
        '-t',
        '60',
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-tune',
        'zerolatency',
        '-g',
        '10',
        '-f',
        'mpegts',
        `srt://127.0.0.1:${port}?mode=listener`,
      ],
      { stdio: 'ignore' },
    );
    const model = loadModel(modelFile);
    const engine = await InferenceEngine.start(model, { device: 'cpu', threads: 1, topK: 5, embeddings: false });
    const results: FrameResult[] = [];
    const statuses: StreamStatus[] = [];
    const pipeline = new LivePipeline({
      model,
      engine,
      batch: 2,
      live: { fps: 2, fileFps: 1, bufferFrames: 2, batchWaitMs: 50 },
      events: DEFAULTS.events,
      allowlist: undefined,
      metrics: new Metrics({ processMetrics: false }),
      logger: createLogger({ level: 'silent' }),
      watchdog: watchdogTuning({ startTimeoutMs: 15_000, stallTimeoutMs: 3000, stopGraceMs: 500, backoff: { initialMs: 300, maxMs: 1000 } }),
      sink: { publishFrame: (r) => results.push(r), publishEvent: () => undefined, publishStatus: (s) => statuses.push(s) },
    });
    pipeline.start();
    try {
      // The caller may connect before the listener binds: the watchdog retries until it does.
      pipeline.addSource({ id: 'srt', url: `srt://127.0.0.1:${port}` });
      await waitFor('labels of the srt stream', () => results.filter((r) => r.stream === 'srt').length >= 4, { timeoutMs: 45_000, detail: () => statuses });
      assert.ok(statuses.some((s) => s.stream === 'srt' && s.state === 'live'));
      for (const r of results) {
        assert.equal(r.labels.length, 5);
        assert.ok(r.labels.every((l) => l.score > 0 && l.score <= 1 && Number.isInteger(l.index)));
      }
      // 2 frames/s sampled from a 10 frames/s sender, by its timestamps.
      const own = results.filter((r) => r.stream === 'srt' && r.run === results.at(-1)!.run);
      const spanMs = own.at(-1)!.ptsMs - own[0]!.ptsMs;
      assert.ok(spanMs >= (own.length - 1) * 400, `${own.length} frames over ${spanMs} ms of stream time`);

      const killedAt = statuses.length;
      listener.kill('SIGKILL');
      await waitFor('reconnecting after the listener died', () => statuses.slice(killedAt).some((s) => s.state === 'reconnecting'), {
        timeoutMs: 20_000,
        detail: () => statuses,
      });
    } finally {
      listener.kill('SIGKILL');
      await pipeline.close();
      await engine.close();
    }
    assert.deepEqual(
      ffmpegChildrenOf(process.pid).filter((p) => p !== listener.pid),
      [],
    );
  },
);
