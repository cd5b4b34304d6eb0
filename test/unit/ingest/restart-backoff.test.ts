import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS } from '../../../src/config/schema.ts';
import { RestartBackoff, type RestartBackoffOptions } from '../../../src/ingest/restart-backoff.ts';

/** The config's default backoff (as the watchdog builds it), `options` over it. */
const backoff = (options: Partial<RestartBackoffOptions>): RestartBackoff =>
  new RestartBackoff({
    initialMs: DEFAULTS.watchdog.backoffInitialMs,
    maxMs: DEFAULTS.watchdog.backoffMaxMs,
    multiplier: 2,
    jitter: DEFAULTS.watchdog.backoffJitter,
    healthyAfterMs: DEFAULTS.watchdog.healthyAfterMs,
    ...options,
  });

test('delays double per failure in a row, up to the cap', () => {
  const b = backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => b.next()),
    [100, 200, 400, 800, 1000, 1000],
  );
  assert.equal(b.failures, 6);
});

test('jitter draws each delay from [d * (1 - jitter), d]', () => {
  const lo = backoff({ initialMs: 1000, jitter: 0.5 });
  const hi = backoff({ initialMs: 1000, jitter: 0.5 });
  assert.equal(
    lo.next(() => 0.999999),
    500,
  );
  assert.equal(
    hi.next(() => 0),
    1000,
  );
  const many = backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.5 });
  const seen = Array.from({ length: 200 }, () => many.next());
  assert.ok(seen.every((d) => d >= 500 && d <= 1000));
  assert.ok(new Set(seen).size > 50, 'delays are spread, not in lockstep');
});

test('a healthy stretch resets the backoff; a short one does not', () => {
  const b = backoff({ initialMs: 100, maxMs: 10_000, jitter: 0, healthyAfterMs: 5000 });
  b.next();
  b.next();
  b.ranHealthy(0, 4999);
  assert.equal(b.next(), 400, 'one frame then a drop keeps backing off');
  b.ranHealthy(0, 5000);
  assert.equal(b.next(), 100);
});

test('bad options are RangeErrors naming the option', () => {
  assert.throws(() => backoff({ initialMs: -1 }), /initialMs/);
  assert.throws(() => backoff({ initialMs: 10, maxMs: 5 }), /maxMs/);
  assert.throws(() => backoff({ jitter: 2 }), /jitter/);
  assert.throws(() => backoff({ multiplier: 0.5 }), /multiplier/);
  // Every option is required (the watchdog resolves them from the config): a JavaScript caller that leaves one out is told which.
  assert.throws(() => new RestartBackoff({ initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0 } as RestartBackoffOptions), /healthyAfterMs/);
});
