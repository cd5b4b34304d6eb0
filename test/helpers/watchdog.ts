/**
 * Watchdog tuning for tests that build a SourceWatchdog, StreamRunner or
 * plan defaults themselves: the schema's defaults (config `watchdog`) with
 * the test's keys on top, backoff merged key by key (as source-plan.ts
 * merges a source's overrides). Test support only.
 */
import { DEFAULTS } from '../../src/config/schema.ts';
import { tuningFromSettings, type BackoffTuning, type WatchdogTuning } from '../../src/ingest/source-watchdog.ts';

/** Any subset of the tuning; unlike a source's overrides, tests may set maxStartsPerMinute too. */
export type TestWatchdogTuning = Partial<Omit<WatchdogTuning, 'backoff'>> & { backoff?: Partial<BackoffTuning> };

export function watchdogTuning(over: TestWatchdogTuning = {}): WatchdogTuning {
  const base = tuningFromSettings(DEFAULTS.watchdog);
  return { ...base, ...over, backoff: { ...base.backoff, ...over.backoff } };
}
