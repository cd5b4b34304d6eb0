/**
 * Label start/end events with hysteresis, per stream and per label. Pure: no
 * I/O, no clock; the caller feeds results and publishes what comes back.
 *
 * Semantics (the timeline a dashboard or a segment index shows):
 * - A label starts after `enterFrames` consecutive frames with score >=
 *   `enterScore`. The start event carries the FIRST frame of that run
 *   (ptsMs, capturedAt), so a segment covers the real beginning rather than
 *   the moment the detector became sure; it is emitted on the frame that
 *   completes the run. Its score is the peak score over the run.
 * - An open label ends after `exitFrames` consecutive frames with score <
 *   `exitScore`; a label missing from a frame's top-k counts as score 0. The
 *   end event carries the first frame of that run (the first frame the label
 *   was gone: segments are [start, end) on the ptsMs axis). Its score is the
 *   peak score over the whole segment, so a consumer that keeps only events
 *   (SegmentBuilder, the dashboard timeline) still knows the peak.
 * - Scores between exitScore and enterScore change nothing: an open label
 *   stays open, a closed one does not start (that is the hysteresis).
 * - Frames are taken as consecutive in arrival order; a gap in seq (frames
 *   dropped under overload on a live source) does not break a run.
 *
 * Identity (docs/ARCHITECTURE.md "Frame semantics"; delivery is at least once):
 * - Within a run, a frame whose seq is not above the last accepted seq is a
 *   duplicate or arrived late and is ignored: it never counts twice.
 * - A new run of a stream (the decoder restarted: a camera reconnect, a
 *   `--loop` restart) keeps the label state. A reconnect does not mean the
 *   scene changed, so an open label stays open and a run in progress goes on
 *   rather than emitting an end and a fresh start. Frames of a run the stream
 *   has already left are ignored (the last RETIRED_RUNS runs are
 *   remembered). Event times are ptsMs of whichever run the frame came from;
 *   capturedAt is the clock that is continuous across runs.
 *
 * Memory: per stream, state only for labels that are counting towards a
 * start, or open. A closed label that is not above enterScore costs nothing.
 * `forget(stream)` drops a stream that is gone for good.
 */
import type { FrameResult, LabelEvent } from '../contracts/results.ts';
import { HysteresisTable, type Hysteresis, type HysteresisOptions } from './hysteresis-config.ts';

export type { Hysteresis, HysteresisOptions } from './hysteresis-config.ts';

/** Runs of a stream remembered after it moved on, to refuse their late frames. */
const RETIRED_RUNS = 16;

interface FramePoint {
  ptsMs: number;
  capturedAt: number;
}

type LabelState =
  | { open: false; runLength: number; runStart: FramePoint; peak: number }
  | { open: true; start: FramePoint; peak: number; belowLength: number; belowStart: FramePoint | undefined };

interface StreamState {
  run: string;
  lastSeq: number;
  last: FramePoint;
  /** Oldest first, at most RETIRED_RUNS. */
  retired: string[];
  labels: Map<string, LabelState>;
}

export class LabelEventDetector {
  private readonly table: HysteresisTable;
  private readonly streams = new Map<string, StreamState>();

  /** Throws RangeError naming the option when a threshold is out of range. */
  constructor(options: HysteresisOptions) {
    this.table = new HysteresisTable(options);
  }

  /** The thresholds that apply to `label` (defaults or its override). */
  thresholds(label: string): Readonly<Hysteresis> {
    return this.table.for(label);
  }

  /**
   * Feeds one frame's result; returns the events it completes (empty for a
   * duplicate or late frame), ordered by ptsMs, ends before starts.
   */
  push(result: FrameResult): LabelEvent[] {
    const state = this.accept(result);
    if (state === undefined) return [];
    const here: FramePoint = { ptsMs: result.ptsMs, capturedAt: result.capturedAt };
    state.last = here;

    const scores = new Map<string, number>();
    for (const { label, score } of result.labels) {
      const s = Number.isFinite(score) ? score : 0;
      scores.set(label, Math.max(s, scores.get(label) ?? 0));
    }

    const events: LabelEvent[] = [];
    const emit = (label: string, kind: LabelEvent['kind'], at: FramePoint, score: number): void => {
      events.push({ stream: result.stream, label, kind, ptsMs: at.ptsMs, capturedAt: at.capturedAt, score });
    };

    for (const [label, ls] of state.labels) {
      const score = scores.get(label) ?? 0;
      scores.delete(label);
      const h = this.table.for(label);
      if (!ls.open) {
        if (score < h.enterScore) {
          state.labels.delete(label);
          continue;
        }
        ls.runLength++;
        ls.peak = Math.max(ls.peak, score);
        if (ls.runLength >= h.enterFrames) {
          state.labels.set(label, { open: true, start: ls.runStart, peak: ls.peak, belowLength: 0, belowStart: undefined });
          emit(label, 'start', ls.runStart, ls.peak);
        }
      } else if (score < h.exitScore) {
        ls.belowLength++;
        ls.belowStart ??= here;
        if (ls.belowLength >= h.exitFrames) {
          state.labels.delete(label);
          emit(label, 'end', ls.belowStart, ls.peak);
        }
      } else {
        ls.belowLength = 0;
        ls.belowStart = undefined;
        ls.peak = Math.max(ls.peak, score);
      }
    }
    // Labels with no state yet: only a score at or above enter begins a run.
    for (const [label, score] of scores) {
      const h = this.table.for(label);
      if (score < h.enterScore) continue;
      if (h.enterFrames <= 1) {
        state.labels.set(label, { open: true, start: here, peak: score, belowLength: 0, belowStart: undefined });
        emit(label, 'start', here, score);
      } else {
        state.labels.set(label, { open: false, runLength: 1, runStart: here, peak: score });
      }
    }
    return sortEvents(events);
  }

  /**
   * The stream ended (end of a file, a source removed): ends every open
   * label and returns those events. A label already in an unfinished exit
   * run ends at the first frame of that run (it was gone from there on);
   * any other at the last frame seen, the last moment it was observed.
   * Runs still counting towards a start are dropped. The stream's identity
   * cursor is kept, so a late duplicate cannot reopen a label.
   */
  flush(stream: string): LabelEvent[] {
    const state = this.streams.get(stream);
    if (state === undefined) return [];
    const events: LabelEvent[] = [];
    for (const [label, ls] of state.labels) {
      if (!ls.open) continue;
      const at = ls.belowStart ?? state.last;
      events.push({ stream, label, kind: 'end', ptsMs: at.ptsMs, capturedAt: at.capturedAt, score: ls.peak });
    }
    state.labels.clear();
    return sortEvents(events);
  }

  /** Drops everything about a stream (no events). Idempotent. */
  forget(stream: string): void {
    this.streams.delete(stream);
  }

  /** Labels currently open on a stream, in the order they started. */
  openLabels(stream: string): string[] {
    const state = this.streams.get(stream);
    if (state === undefined) return [];
    return [...state.labels].filter(([, ls]) => ls.open).map(([label]) => label);
  }

  /** The stream's state when the frame is new; undefined for a duplicate or late frame. */
  private accept(result: FrameResult): StreamState | undefined {
    const state = this.streams.get(result.stream);
    const point = { ptsMs: result.ptsMs, capturedAt: result.capturedAt };
    if (state === undefined) {
      const fresh: StreamState = { run: result.run, lastSeq: result.seq, last: point, retired: [], labels: new Map() };
      this.streams.set(result.stream, fresh);
      return fresh;
    }
    if (state.run !== result.run) {
      if (state.retired.includes(result.run)) return undefined;
      state.retired.push(state.run);
      if (state.retired.length > RETIRED_RUNS) state.retired.shift();
      state.run = result.run;
    } else if (result.seq <= state.lastSeq) {
      return undefined;
    }
    state.lastSeq = result.seq;
    return state;
  }
}

const KIND_ORDER: Readonly<Record<LabelEvent['kind'], number>> = { end: 0, start: 1 };

function sortEvents(events: LabelEvent[]): LabelEvent[] {
  if (events.length < 2) return events;
  return events.sort((a, b) => a.ptsMs - b.ptsMs || KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
}
