/**
 * Polling with a deadline: the one way tests here wait for something another
 * process, socket or thread will do (a server answering, frames arriving, a
 * child exiting). Test support only.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** A probe answers the awaited value, or `undefined`, `null` or `false` for "not yet". */
export type Probe<T> = () => T | undefined | null | false | Promise<T | undefined | null | false>;

export interface WaitOptions {
  /** Give up after this many ms. Default 60_000: a cold ffmpeg and ONNX Runtime start on 2 shared cores; the test's own timeout still bounds it. */
  timeoutMs?: number;
  /** Ms between probes. Default 50. */
  intervalMs?: number;
  /** Treat a probe that throws as "not yet" (a server not listening yet); the last error is the timeout's `cause`. Default false: a throwing probe fails the wait at once. */
  retryErrors?: boolean;
  /** Called on timeout; what it returns (text as is, anything else as JSON) follows the message: a child's stderr, the states seen. */
  detail?: () => unknown;
}

/**
 * Polls `probe` until it answers something other than `undefined`, `null` or
 * `false`, and returns that; after `timeoutMs` throws
 * `Error("timed out after N ms waiting for WHAT")`. `options` may be the
 * timeout alone, in ms.
 */
export async function waitFor<T>(what: string, probe: Probe<T>, options: WaitOptions | number = {}): Promise<T> {
  const { timeoutMs = 60_000, intervalMs = 50, retryErrors = false, detail } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (err) {
      if (!retryErrors) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const extra = detail?.();
      const text = extra === undefined ? '' : `\n${typeof extra === 'string' ? extra : JSON.stringify(extra)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${text}`, lastError === undefined ? undefined : { cause: lastError });
    }
    await sleep(intervalMs);
  }
}
