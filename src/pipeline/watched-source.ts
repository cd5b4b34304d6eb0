import type { StreamState } from '../contracts/results.ts';
import { SourceWatchdog, type SourceWatchdogOptions, type WatchdogTuning } from '../ingest/source-watchdog.ts';
import { WatchdogTuningError } from '../shared/errors.ts';
import type { Metrics } from '../shared/metrics.ts';

const STATES: readonly StreamState[] = ['starting', 'live', 'reconnecting', 'ended', 'failed'];

export type WatchedSourceOptions = Omit<SourceWatchdogOptions, keyof WatchdogTuning | 'onRestart'> & {
  /** Stall detection, stop grace, restart backoff: the server's with the stream's overrides on top (source-plan.ts). */
  watchdog: WatchdogTuning;
  metrics?: Metrics | undefined;
};

/**
 * A source's ffmpeg watchdog as both modes wire it (StreamRunner in
 * embedded serve, ingestStream in distributed ingest): decoded frames and
 * restarts counted, and the state gauge of `streamsight_stream_state` set
 * (1 for the current state, 0 for the others). Throws WatchdogTuningError
 * (`watchdog: ...`) for a tuning the watchdog refuses: a stream's own
 * overrides can disagree with the server's (e.g. a backoff maximum below
 * the configured initial delay).
 */
export function watchSource(opts: WatchedSourceOptions): SourceWatchdog {
  const { watchdog, metrics: m, ...rest } = opts;
  try {
    return new SourceWatchdog({
      ...watchdog,
      ...rest,
      onFrame: (frame) => {
        m?.framesDecoded.inc({ stream: opts.id });
        return opts.onFrame(frame);
      },
      onState: (state, detail) => {
        if (m) setStateGauge(m, opts.id, state);
        opts.onState(state, detail);
      },
      onRestart: () => m?.decoderRestarts.inc({ stream: opts.id }),
    });
  } catch (err) {
    // The watchdog checks its tuning with RangeErrors naming the value (onnxruntime's habit); here it is the stream's request.
    if (err instanceof RangeError) throw new WatchdogTuningError(`watchdog: ${err.message}`, { cause: err });
    throw err;
  }
}

/** `streamsight_stream_state{stream,state}`: 1 for the stream's state, 0 for the others. */
export function setStateGauge(metrics: Metrics, stream: string, state: StreamState): void {
  for (const s of STATES) metrics.streamState.set({ stream, state: s }, s === state ? 1 : 0);
}
