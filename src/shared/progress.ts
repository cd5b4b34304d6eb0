/**
 * Progress for long commands (`models pull`, `analyze`): a redrawn bar on a
 * terminal, JSON lines for programs, or nothing. Formatting is pure and
 * tested apart; the reporter only decides when to write.
 */

export type ProgressMode = 'bar' | 'json' | 'none';
export type ProgressUnit = 'frames' | 'bytes';

export interface ProgressUpdate {
  /** Work done so far, in `unit`. */
  done: number;
  /** Total work, when known. */
  total?: number;
  unit: ProgressUnit;
  /** Units per second; measured from the updates when not given. */
  rate?: number;
}

/** What the reporter writes to: process.stderr, or anything shaped like it. */
export interface ProgressStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  /** Terminal width, characters. */
  columns?: number;
}

export interface ProgressOptions {
  /** `bar` falls back to `none` when the stream is not a terminal. */
  mode: ProgressMode;
  stream: ProgressStream;
  label: string;
  /** Least time between bar redraws, ms. Default 100 (10 redraws/s). */
  barIntervalMs?: number;
  /** Least time between JSON lines, ms. Default 500 (2 lines/s), plus the final one. */
  jsonIntervalMs?: number;
  /** Window the measured rate averages over, ms. Default 5 000. */
  rateWindowMs?: number;
  /** Clock in ms; for tests. Default performance.now. */
  now?: () => number;
}

export interface Progress {
  /** The mode in effect (`bar` becomes `none` off a terminal). */
  readonly mode: ProgressMode;
  update(update: ProgressUpdate): void;
  /** Writes the final state and ends the line. Idempotent; later updates are ignored. */
  finish(): void;
}

/** The same type under the name some callers use. */
export type ProgressReporter = Progress;

/** One progress line of JSON mode. */
export interface ProgressEvent {
  type: 'progress';
  label: string;
  unit: ProgressUnit;
  done: number;
  total: number | null;
  /** 0..100, one decimal; null without a total. */
  percent: number | null;
  /** Units per second, two decimals; null before it can be measured. */
  rate: number | null;
  etaSeconds: number | null;
  final: boolean;
}

export const DEFAULT_BAR_INTERVAL_MS = 100;
export const DEFAULT_JSON_INTERVAL_MS = 500;
export const DEFAULT_RATE_WINDOW_MS = 5_000;

/** Bytes in SI units, as download tools and the brief's "MB/s" use: `1.5 kB`, `97.7 MB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let i = 0;
  while (value >= 999.95 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return `${value.toFixed(1)} ${units[i]}`;
}

/** `12.3 MB/s` or `35.2 frames/s`; `-` when unknown. */
export function formatRate(rate: number | undefined, unit: ProgressUnit): string {
  if (rate === undefined || !Number.isFinite(rate) || rate < 0) return unit === 'bytes' ? '- B/s' : '- frames/s';
  return unit === 'bytes' ? `${formatBytes(rate)}/s` : `${rate.toFixed(1)} frames/s`;
}

/** `m:ss` or `h:mm:ss`; `--:--` when unknown. */
export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.ceil(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** `[#####-----]`, `width` characters inside the brackets; fraction clamped to 0..1. */
export function renderBar(fraction: number, width: number): string {
  const w = Math.max(0, Math.floor(width));
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.floor(f * w);
  return `[${'#'.repeat(filled)}${'-'.repeat(w - filled)}]`;
}

/** Seconds left at `rate`, or undefined when it cannot be known. */
export function etaSeconds(done: number, total: number | undefined, rate: number | undefined): number | undefined {
  if (total === undefined || rate === undefined || !(rate > 0)) return undefined;
  return Math.max(0, total - done) / rate;
}

function formatAmount(value: number, unit: ProgressUnit): string {
  return unit === 'bytes' ? formatBytes(value) : String(Math.round(value));
}

export interface ProgressLineState {
  label: string;
  done: number;
  total?: number;
  unit: ProgressUnit;
  rate?: number;
}

/**
 * One bar line, at most `columns - 1` characters (the last column would wrap
 * on some terminals): `resnet50  42% [####------] 41.0 MB/97.7 MB  12.3 MB/s  ETA 0:05`.
 * The bar shrinks first; the line is cut only when even a 10-wide bar does not fit.
 */
export function formatProgressLine(state: ProgressLineState, columns = 80): string {
  const { label, done, total, unit, rate } = state;
  const amount =
    total === undefined
      ? `${formatAmount(done, unit)}${unit === 'frames' ? ' frames' : ''}`
      : `${formatAmount(done, unit)}/${formatAmount(total, unit)}${unit === 'frames' ? ' frames' : ''}`;
  const speed = formatRate(rate, unit);
  const max = Math.max(10, columns - 1);
  if (total === undefined || !(total > 0)) {
    return truncate(`${label}  ${amount}  ${speed}`, max);
  }
  const fraction = done / total;
  const percent = `${String(Math.floor(Math.min(1, Math.max(0, fraction)) * 100)).padStart(3)}%`;
  const eta = `ETA ${formatEta(etaSeconds(done, total, rate))}`;
  const rest = `${amount}  ${speed}  ${eta}`;
  const fixed = `${label} ${percent}  ${rest}`.length + 1; // +1: space after the bar
  const barWidth = Math.min(30, max - fixed - 2);
  if (barWidth < 10) return truncate(`${label} ${percent} ${rest}`, max);
  return `${label} ${percent} ${renderBar(fraction, barWidth)} ${rest}`;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, Math.max(0, max - 1))}…`;
}

/** The JSON-mode object for one state. */
export function progressEvent(state: ProgressLineState, final: boolean): ProgressEvent {
  const { label, done, total, unit, rate } = state;
  const eta = etaSeconds(done, total, rate);
  return {
    type: 'progress',
    label,
    unit,
    done,
    total: total ?? null,
    percent: total !== undefined && total > 0 ? Math.round((done / total) * 1000) / 10 : null,
    rate: rate !== undefined && Number.isFinite(rate) ? Math.round(rate * 100) / 100 : null,
    etaSeconds: eta === undefined ? null : Math.round(eta * 10) / 10,
    final,
  };
}

/**
 * Units per second over the last `windowMs`: recent enough to follow a
 * changing speed, long enough that one slow chunk does not swing the ETA.
 */
export class RateMeter {
  private readonly samples: { t: number; done: number }[] = [];

  constructor(private readonly windowMs: number = DEFAULT_RATE_WINDOW_MS) {}

  /** Records `done` at time `t` (ms) and returns the rate, or undefined until two samples span time. */
  add(t: number, done: number): number | undefined {
    this.samples.push({ t, done });
    // Keep one sample older than the window so the span covers all of it.
    while (this.samples.length > 2 && t - (this.samples[1]?.t ?? t) >= this.windowMs) this.samples.shift();
    const first = this.samples[0];
    if (!first || t <= first.t) return undefined;
    return (done - first.done) / ((t - first.t) / 1000);
  }
}

const NONE: Progress = Object.freeze({ mode: 'none' as const, update: () => undefined, finish: () => undefined });

export function createProgress(options: ProgressOptions): Progress {
  const mode: ProgressMode = options.mode === 'bar' && !options.stream.isTTY ? 'none' : options.mode;
  if (mode === 'none') return NONE;
  return new Reporter(mode, options);
}

class Reporter implements Progress {
  private readonly meter: RateMeter;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private state: ProgressLineState | undefined;
  private lastWrite = -Infinity;
  private finished = false;

  constructor(
    readonly mode: 'bar' | 'json',
    private readonly options: ProgressOptions,
  ) {
    this.meter = new RateMeter(options.rateWindowMs ?? DEFAULT_RATE_WINDOW_MS);
    this.now = options.now ?? (() => performance.now());
    this.intervalMs = mode === 'bar' ? (options.barIntervalMs ?? DEFAULT_BAR_INTERVAL_MS) : (options.jsonIntervalMs ?? DEFAULT_JSON_INTERVAL_MS);
  }

  update(update: ProgressUpdate): void {
    if (this.finished) return;
    const t = this.now();
    const measured = this.meter.add(t, update.done);
    this.state = {
      label: this.options.label,
      done: update.done,
      total: update.total,
      unit: update.unit,
      rate: update.rate ?? measured,
    };
    const complete = update.total !== undefined && update.done >= update.total;
    // Completion is not drawn early in JSON mode: finish() writes it as the final line.
    if (t - this.lastWrite >= this.intervalMs || (complete && this.mode === 'bar')) {
      this.write(false);
      this.lastWrite = t;
    }
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.state) return;
    this.write(true);
    if (this.mode === 'bar') this.options.stream.write('\n');
  }

  private write(final: boolean): void {
    const state = this.state;
    if (!state) return;
    if (this.mode === 'bar') {
      // \r back to column 0, then erase what a longer previous line left.
      this.options.stream.write(`\r${formatProgressLine(state, this.options.stream.columns ?? 80)}\x1b[K`);
    } else {
      this.options.stream.write(`${JSON.stringify(progressEvent(state, final))}\n`);
    }
  }
}
