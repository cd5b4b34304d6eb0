/**
 * Hysteresis thresholds for label start/end detection, their validation, and
 * the per-label overrides (matched case-insensitively on the
 * label name or any of its comma-separated synonyms: ImageNet names such as
 * "tabby, tabby cat").
 */

/** The thresholds; their defaults are the config's `events` section (src/config/schema.ts). */
export interface Hysteresis {
  /** A label counts towards a start on frames with score >= this, in (0, 1]. */
  enterScore: number;
  /** A label counts towards an end on frames with score < this, in (0, enterScore]. */
  exitScore: number;
  /** Consecutive frames at or above enterScore that start a label. */
  enterFrames: number;
  /** Consecutive frames below exitScore that end a label. */
  exitFrames: number;
}

/** Resolved thresholds (config `events`, or `DEFAULTS.events`) and the per-label overrides. */
export interface HysteresisOptions extends Hysteresis {
  /**
   * Per-label overrides, keyed by a label name or one synonym of it
   * (case-insensitive). Unset fields fall back to the thresholds above.
   */
  labels?: Readonly<Record<string, Partial<Hysteresis>>>;
}

/**
 * `partial` over `base`, every value checked; throws RangeError naming the
 * option (`exitScore`, `labels["person"].enterFrames`, ...).
 */
export function resolveHysteresis(partial: Partial<Hysteresis>, base: Readonly<Hysteresis>, path = ''): Hysteresis {
  return checkHysteresis(
    {
      enterScore: partial.enterScore ?? base.enterScore,
      exitScore: partial.exitScore ?? base.exitScore,
      enterFrames: partial.enterFrames ?? base.enterFrames,
      exitFrames: partial.exitFrames ?? base.exitFrames,
    },
    path,
  );
}

function checkHysteresis(h: Hysteresis, path = ''): Hysteresis {
  checkScore(`${path}enterScore`, h.enterScore);
  checkScore(`${path}exitScore`, h.exitScore);
  if (h.exitScore > h.enterScore) {
    throw new RangeError(`${path}exitScore: must be <= enterScore (${h.enterScore}), got ${h.exitScore}`);
  }
  checkFrames(`${path}enterFrames`, h.enterFrames);
  checkFrames(`${path}exitFrames`, h.exitFrames);
  return h;
}

function checkScore(name: string, value: number): void {
  // 0 is refused: only the top-k labels of a frame are seen, so a threshold
  // of 0 would make every class of the model "present" (enter) or none ever
  // leave (exit: an absent label scores 0, never below 0).
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 1) {
    throw new RangeError(`${name}: must be a number in (0, 1], got ${String(value)}`);
  }
}

function checkFrames(name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 1_000_000) {
    throw new RangeError(`${name}: must be an integer in [1, 1000000], got ${String(value)}`);
  }
}

const normalize = (name: string): string => name.trim().toLowerCase();

/**
 * Resolved thresholds per label. Lookup order for a label: an override keyed
 * by its full name, then one keyed by each synonym in the label's own order.
 */
export class HysteresisTable {
  readonly defaults: Readonly<Hysteresis>;
  private readonly overrides = new Map<string, Readonly<Hysteresis>>();

  constructor(options: HysteresisOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('options: must be an object');
    const { enterScore, exitScore, enterFrames, exitFrames } = options;
    this.defaults = Object.freeze(checkHysteresis({ enterScore, exitScore, enterFrames, exitFrames }));
    for (const [key, value] of Object.entries(options.labels ?? {})) {
      const name = `labels[${JSON.stringify(key)}]`;
      const k = normalize(key);
      if (k === '') throw new RangeError(`${name}: label name must not be empty`);
      if (this.overrides.has(k)) throw new RangeError(`${name}: given twice (label names are case-insensitive)`);
      if (value === null || typeof value !== 'object') throw new RangeError(`${name}: must be an object`);
      this.overrides.set(k, Object.freeze(resolveHysteresis(value, this.defaults, `${name}.`)));
    }
  }

  /** The thresholds that apply to `label`. */
  for(label: string): Readonly<Hysteresis> {
    if (this.overrides.size === 0) return this.defaults;
    const full = this.overrides.get(normalize(label));
    if (full) return full;
    if (label.includes(',')) {
      for (const synonym of label.split(',')) {
        const hit = this.overrides.get(normalize(synonym));
        if (hit) return hit;
      }
    }
    return this.defaults;
  }
}
