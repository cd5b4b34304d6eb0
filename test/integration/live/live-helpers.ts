/** A StreamRunner with no inference, recording its states and log lines, for the live tests. */
import { Writable } from 'node:stream';
import type { StreamState, StreamStatus } from '../../../src/contracts/results.ts';
import { DEFAULTS } from '../../../src/config/schema.ts';
import type { HostGuardRules } from '../../../src/ingest/host-guard.ts';
import { StreamRunner } from '../../../src/pipeline/stream-runner.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { Metrics } from '../../../src/shared/metrics.ts';
import { watchdogTuning, type TestWatchdogTuning } from '../../helpers/watchdog.ts';

export interface Recorded {
  runner: StreamRunner;
  statuses: Array<StreamStatus & { at: number }>;
  /** Every log line the runner wrote (pino JSON). */
  logs: string[];
  metrics: Metrics;
  /** Frames taken out of the buffer (as inference would). */
  frames: () => number;
  waitFor(state: StreamState, timeoutMs: number, after?: number): Promise<number>;
}

/** `watchdog`: the keys the test sets; the others are the config schema's defaults. */
export function recordedRunner(opts: {
  id?: string;
  url: string;
  input?: string;
  live?: boolean;
  inputOptions?: string[];
  protocolWhitelist?: string[];
  watchdog: TestWatchdogTuning;
  fps?: number;
  hostGuard?: HostGuardRules | false;
}): Recorded {
  const statuses: Recorded['statuses'] = [];
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  const metrics = new Metrics({ processMetrics: false });
  let taken = 0;
  const runner: StreamRunner = new StreamRunner({
    id: opts.id ?? 'cam',
    url: opts.url,
    input: opts.input,
    sampling: { mode: 'fps', fps: opts.fps ?? 5 },
    geometry: { resize: { shorter: 32 }, cropWidth: 32, cropHeight: 32 },
    live: opts.live ?? true,
    realtime: false,
    loop: false,
    bufferFrames: DEFAULTS.live.bufferFrames,
    inputOptions: opts.inputOptions,
    protocolWhitelist: opts.protocolWhitelist,
    watchdog: watchdogTuning(opts.watchdog),
    hostGuard: opts.hostGuard,
    // No inference: frames are taken as soon as they wait.
    onFrame: () => void (taken += runner.take(16).length),
    onStatus: (s) => statuses.push({ ...s, at: Date.now() }),
    logger: createLogger({ level: 'debug', destination: sink }),
    metrics,
  });
  return {
    runner,
    statuses,
    logs,
    metrics,
    frames: () => taken,
    async waitFor(state, timeoutMs, after = 0) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const hit = statuses.find((s) => s.state === state && s.at >= after);
        if (hit) return hit.at;
        if (Date.now() > until) throw new Error(`no "${state}" within ${timeoutMs} ms; statuses: ${JSON.stringify(statuses)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}
