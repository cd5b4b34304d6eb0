/**
 * Reads presentation timestamps from the log lines of ffmpeg's `showinfo`
 * filter. Pure: feed it stderr lines, it returns one entry per frame line.
 *
 * Why `pts` and not `pts_time`: showinfo prints `pts_time` with 6
 * significant digits (`%.6g`), so past 10 000 s it loses sub-second
 * precision. The integer `pts` is exact; its time base comes from the
 * filter's `config in time_base: N/D` line, printed whenever the filter is
 * (re)configured. `pts_time` is only the fallback when no time base is known.
 */

export interface ShowinfoFrame {
  /** showinfo's own frame counter (`n:`), from 0. */
  n: number;
  /** Presentation time in ms, microsecond precision; null when ffmpeg has none (NOPTS). */
  ptsMs: number | null;
}

const CONFIG_RE = /\bconfig in time_base:\s*(\d+)\/(\d+)/;
const FRAME_RE = /\bn:\s*(\d+)\s+pts:\s*(-?\d+|NOPTS)\s+pts_time:\s*(\S+)/;

/** Rounds to the microsecond so exact times print as exact numbers (33.333, 1000). */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export class ShowinfoParser {
  private timeBase: { num: number; den: number } | null = null;

  /**
   * Parses one stderr line. Returns the frame it describes, or null for any
   * other line (including showinfo's side-data lines).
   */
  push(line: string): ShowinfoFrame | null {
    if (!line.includes('showinfo')) return null;
    const config = CONFIG_RE.exec(line);
    if (config) {
      const num = Number(config[1]);
      const den = Number(config[2]);
      this.timeBase = num > 0 && den > 0 ? { num, den } : this.timeBase;
      return null;
    }
    const frame = FRAME_RE.exec(line);
    if (!frame) return null;
    const n = Number(frame[1]);
    const ptsText = frame[2] ?? 'NOPTS';
    const ptsTimeText = frame[3] ?? 'NOPTS';
    if (ptsText === 'NOPTS') return { n, ptsMs: null };
    if (this.timeBase) {
      const pts = Number(ptsText);
      return { n, ptsMs: roundMs((pts * this.timeBase.num * 1000) / this.timeBase.den) };
    }
    const seconds = Number(ptsTimeText);
    return { n, ptsMs: Number.isFinite(seconds) ? roundMs(seconds * 1000) : null };
  }
}

/** Parses a whole stderr text; convenience for tests and one-shot runs. */
export function parseShowinfoLog(text: string): ShowinfoFrame[] {
  const parser = new ShowinfoParser();
  const frames: ShowinfoFrame[] = [];
  for (const line of text.split(/\r?\n/)) {
    const frame = parser.push(line);
    if (frame) frames.push(frame);
  }
  return frames;
}
