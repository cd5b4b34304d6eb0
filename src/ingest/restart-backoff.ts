/**
 * When to restart a source after a failure: exponential backoff with
 * jitter, capped, reset after a healthy stretch. Pure (the clock and the
 * random source are arguments), so it is tested without waiting.
 */

/** Every key required: the watchdog passes the config's `watchdog.backoff*` keys, resolved. */
export interface RestartBackoffOptions {
  /** First delay, ms (config `watchdog.backoffInitialMs`). */
  initialMs: number;
  /** Largest delay, ms (config `watchdog.backoffMaxMs`). */
  maxMs: number;
  /** Growth per consecutive failure (the watchdog doubles: 2). */
  multiplier: number;
  /**
   * Fraction of each delay that is random, 0..1 (config
   * `watchdog.backoffJitter`): a delay is drawn from [d * (1 - jitter), d].
   * Many cameras behind one switch that drops then come back at different
   * moments, not in lockstep.
   */
  jitter: number;
  /**
   * A run that has delivered frames for this long, ms, counts as healthy:
   * the next failure starts again at `initialMs` (config
   * `watchdog.healthyAfterMs`). A camera that connects, sends one frame and
   * drops still backs off.
   */
  healthyAfterMs: number;
}

export class RestartBackoff {
  private readonly o: Readonly<RestartBackoffOptions>;
  /** Consecutive failures since the last healthy stretch. */
  failures = 0;

  constructor(options: RestartBackoffOptions) {
    const { initialMs, maxMs, multiplier, jitter, healthyAfterMs } = options;
    this.o = Object.freeze({ initialMs, maxMs, multiplier, jitter, healthyAfterMs });
    if (!(initialMs >= 0) || !Number.isFinite(initialMs)) throw new RangeError(`initialMs must be a finite number >= 0, got ${initialMs}`);
    if (!(maxMs >= initialMs) || !Number.isFinite(maxMs)) throw new RangeError(`maxMs must be a finite number >= initialMs, got ${maxMs}`);
    if (!(multiplier >= 1) || !Number.isFinite(multiplier)) throw new RangeError(`multiplier must be >= 1, got ${multiplier}`);
    if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`jitter must be within 0..1, got ${jitter}`);
    if (!(healthyAfterMs >= 0)) throw new RangeError(`healthyAfterMs must be >= 0, got ${healthyAfterMs}`);
  }

  get options(): Readonly<RestartBackoffOptions> {
    return this.o;
  }

  /**
   * A run ended after delivering frames from `liveSinceMs` to `nowMs`
   * (wall clock, ms): a long enough stretch resets the backoff.
   */
  ranHealthy(liveSinceMs: number, nowMs: number): void {
    if (nowMs - liveSinceMs >= this.o.healthyAfterMs) this.failures = 0;
  }

  /** Records a failure and returns how long to wait before the next start, ms. */
  next(random: () => number = Math.random): number {
    const { initialMs, maxMs, multiplier, jitter } = this.o;
    // Capped before it can overflow: 2^1000 is Infinity.
    const base = Math.min(maxMs, initialMs * multiplier ** Math.min(this.failures, 64));
    this.failures++;
    return Math.round(base * (1 - jitter * random()));
  }

  reset(): void {
    this.failures = 0;
  }
}
