/**
 * Progress of `streamsight index`: the current file's bar and an overall
 * bar below it (two lines redrawn in place on a terminal), or JSON lines
 * (`{"type":"progress","label":FILE|"overall",...}`), or nothing.
 * The overall fraction is by bytes of video (files differ in length);
 * frames/s and the ETA are measured over the last seconds.
 */
import { formatEta, formatProgressLine, progressEvent, RateMeter, renderBar, type ProgressMode, type ProgressStream } from '../shared/progress.ts';

export interface IndexProgressOptions {
  mode: ProgressMode;
  stream: ProgressStream;
  /** Total bytes of all files to index. */
  totalBytes: number;
  totalFiles: number;
  /** Least time between redraws, ms; default 100 (bar) / 500 (json). */
  intervalMs?: number;
  now?: () => number;
}

export class IndexProgress {
  readonly mode: ProgressMode;
  private readonly now: () => number;
  private readonly interval: number;
  private readonly started: number;
  private fileMeter = new RateMeter();
  private readonly overallMeter = new RateMeter();
  private file = { label: '', done: 0, total: undefined as number | undefined, bytes: 0 };
  private filesDone = 0;
  private bytesDone = 0;
  private framesDone = 0;
  private lastDraw = -Infinity;
  private drawn = false;

  constructor(private readonly opts: IndexProgressOptions) {
    this.mode = opts.mode === 'bar' && !opts.stream.isTTY ? 'none' : opts.mode;
    this.now = opts.now ?? (() => performance.now());
    this.interval = opts.intervalMs ?? (this.mode === 'json' ? 500 : 100);
    this.started = this.now();
  }

  startFile(label: string, sizeBytes: number, totalFrames: number | undefined): void {
    this.file = { label, done: 0, total: totalFrames, bytes: sizeBytes };
    this.fileMeter = new RateMeter();
    this.draw(true);
  }

  /** `done`: frames of the current file finished (resumed ones included); `added`: new frames since the last call. */
  update(done: number, added: number): void {
    this.file.done = done;
    this.framesDone += added;
    this.draw(false);
  }

  endFile(): void {
    this.filesDone++;
    this.bytesDone += this.file.bytes;
    this.draw(true);
    if (this.mode === 'bar') {
      // Keep the finished file's line; the overall line is redrawn under it.
      this.opts.stream.write(`\r\x1b[2K${this.fileLine()}\n\x1b[2K`);
      this.drawn = false;
    }
  }

  finish(): void {
    this.draw(true);
    if (this.mode === 'bar' && this.drawn) this.opts.stream.write('\n\n');
  }

  private fraction(): number {
    const total = this.opts.totalBytes;
    if (!(total > 0)) return this.opts.totalFiles > 0 ? this.filesDone / this.opts.totalFiles : 1;
    const inFile = this.file.total ? Math.min(1, this.file.done / this.file.total) : 0;
    return Math.min(1, (this.bytesDone + inFile * this.file.bytes) / total);
  }

  private fileLine(): string {
    const t = this.now();
    const rate = this.fileMeter.add(t, this.file.done);
    return formatProgressLine(
      { label: this.file.label, done: this.file.done, total: this.file.total, unit: 'frames', ...(rate === undefined ? {} : { rate }) },
      this.opts.stream.columns ?? 80,
    );
  }

  private overallLine(): { line: string; rate: number | undefined; eta: number | undefined; fraction: number } {
    const t = this.now();
    const rate = this.overallMeter.add(t, this.framesDone);
    const fraction = this.fraction();
    const elapsed = (t - this.started) / 1000;
    const eta = fraction > 0 && fraction < 1 ? (elapsed / fraction) * (1 - fraction) : fraction >= 1 ? 0 : undefined;
    const pct = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
    const line =
      `overall ${pct} ${renderBar(fraction, 20)} ${this.filesDone}/${this.opts.totalFiles} files  ${this.framesDone} frames  ` +
      `${rate === undefined ? '-' : rate.toFixed(1)} frames/s  ETA ${formatEta(eta)}`;
    return { line: line.slice(0, Math.max(10, (this.opts.stream.columns ?? 80) - 1)), rate, eta, fraction };
  }

  private draw(force: boolean): void {
    if (this.mode === 'none') return;
    const t = this.now();
    if (!force && t - this.lastDraw < this.interval) return;
    this.lastDraw = t;
    if (this.mode === 'bar') {
      const overall = this.overallLine();
      this.opts.stream.write(`\r\x1b[2K${this.fileLine()}\n\x1b[2K${overall.line}\x1b[1A\r`);
      this.drawn = true;
      return;
    }
    const rate = this.fileMeter.add(t, this.file.done);
    const fileEvent = progressEvent(
      { label: this.file.label, done: this.file.done, total: this.file.total, unit: 'frames', ...(rate === undefined ? {} : { rate }) },
      false,
    );
    const o = this.overallLine();
    const overall = {
      type: 'progress',
      label: 'overall',
      unit: 'frames',
      done: this.framesDone,
      files: this.filesDone,
      totalFiles: this.opts.totalFiles,
      percent: Math.round(o.fraction * 1000) / 10,
      rate: o.rate === undefined ? null : Math.round(o.rate * 100) / 100,
      etaSeconds: o.eta === undefined ? null : Math.round(o.eta * 10) / 10,
    };
    this.opts.stream.write(`${JSON.stringify(fileEvent)}\n${JSON.stringify(overall)}\n`);
  }
}
