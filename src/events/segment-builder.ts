/**
 * Turns label events into closed segments (analyze output, the index). Pure.
 *
 * A segment is [startMs, endMs) on the source's ptsMs axis: start is the
 * start event's ptsMs, end the end event's (the first frame the label was
 * gone, or the last frame seen when the stream was flushed). peakScore is the
 * larger of the two events' scores; with LabelEventDetector the end event
 * already carries the peak over every frame of the segment.
 *
 * Robust to what an at-least-once feed can deliver: a second start for a
 * label already open is ignored (the first start wins), an end with no open
 * start is ignored. Memory: one entry per open (stream, label).
 */
import type { LabelEvent, LabelSegment } from '../contracts/results.ts';

export class SegmentBuilder {
  private readonly open = new Map<string, LabelEvent>();

  /** Feeds one event; returns the segment it closes, if any. */
  push(event: LabelEvent): LabelSegment | undefined {
    const key = keyOf(event.stream, event.label);
    const start = this.open.get(key);
    if (event.kind === 'start') {
      if (start === undefined) this.open.set(key, event);
      return undefined;
    }
    if (start === undefined) return undefined;
    this.open.delete(key);
    return {
      stream: event.stream,
      label: event.label,
      startMs: start.ptsMs,
      endMs: event.ptsMs,
      peakScore: Math.max(start.score, event.score),
    };
  }

  /** Feeds events in order; returns the segments they close, in closing order. */
  pushAll(events: Iterable<LabelEvent>): LabelSegment[] {
    const out: LabelSegment[] = [];
    for (const e of events) {
      const segment = this.push(e);
      if (segment !== undefined) out.push(segment);
    }
    return out;
  }

  /** Labels started but not yet ended, for one stream or all. */
  openCount(stream?: string): number {
    if (stream === undefined) return this.open.size;
    let n = 0;
    for (const e of this.open.values()) if (e.stream === stream) n++;
    return n;
  }
}

// JSON of the pair: no separator a stream id or a label could contain.
const keyOf = (stream: string, label: string): string => JSON.stringify([stream, label]);
