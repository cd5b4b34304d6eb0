/**
 * Frames the change gate did not send to inference (`--skip-unchanged`),
 * on their way to being published with the labels of the frame they
 * repeat. Pure: no clock, no timers (the caller passes the time).
 *
 * A reused frame names its reference: the seq (same run) of the last frame
 * its stream sent to inference. That result may still be in flight (a
 * batch running, a worker busy), and a reused frame published before it
 * would reach clients out of order and make the label event detector, which
 * ignores a seq not above the last one of its run, skip the reference. So a
 * reused frame waits here until its reference is published, or is known
 * never to come (dropped, failed), or it has waited `maxHoldMs`.
 */

/** A frame that repeats its stream's last result instead of being inferred. */
export interface ReusedFrame {
  stream: string;
  run: string;
  seq: number;
  ptsMs: number;
  capturedAt: number;
  /** seq, in the same run, of the inferred frame whose labels it repeats. */
  ref: number;
}

interface Held {
  frame: ReusedFrame;
  since: number;
}

interface StreamHold {
  run: string;
  /** The last seq published on `run` (inferred or reused); -1 before any. */
  lastSeq: number;
  held: Held[];
}

/** Released frames: those to publish before the frame just published, and those after it. */
export interface Released {
  before: ReusedFrame[];
  after: ReusedFrame[];
}

const NONE: Released = Object.freeze({ before: [], after: [] }) as Released;

export class ReusedFrames {
  private readonly streams = new Map<string, StreamHold>();

  /** @param maxHoldMs longest a reused frame waits for its reference, ms. */
  constructor(private readonly maxHoldMs: number) {
    if (!(maxHoldMs >= 0)) throw new RangeError(`maxHoldMs must be >= 0, got ${maxHoldMs}`);
  }

  /** Frames waiting, all streams. */
  get size(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.held.length;
    return n;
  }

  /** A reused frame: returned when it may be published now (its reference was), else held (empty array). */
  add(frame: ReusedFrame, now: number): ReusedFrame[] {
    const s = this.stream(frame.stream, frame.run);
    if (s.run === frame.run && s.lastSeq >= frame.ref && s.held.length === 0) {
      s.lastSeq = Math.max(s.lastSeq, frame.seq);
      return [frame];
    }
    s.held.push({ frame, since: now });
    s.held.sort((a, b) => a.frame.seq - b.frame.seq);
    return [];
  }

  /**
   * An inferred frame is being published: held frames of an older run, or
   * of this run with a lower seq, go before it (their reference is not
   * coming any more in order); those whose reference it is (or an older
   * one) go after it.
   */
  published(stream: string, run: string, seq: number): Released {
    const s = this.streams.get(stream);
    if (s === undefined) {
      this.streams.set(stream, { run, lastSeq: seq, held: [] });
      return NONE;
    }
    const before: ReusedFrame[] = [];
    const after: ReusedFrame[] = [];
    const kept: Held[] = [];
    for (const h of s.held) {
      const f = h.frame;
      if (f.run !== run || f.seq < seq) before.push(f);
      else if (f.ref <= seq) after.push(f);
      else kept.push(h);
    }
    s.held = kept;
    const previous = s.run === run ? s.lastSeq : -1;
    s.run = run;
    s.lastSeq = Math.max(previous, seq, ...after.map((f) => f.seq));
    return { before, after };
  }

  /** The inferred frame (stream, run, seq) will never be published (dropped, failed): frames repeating it go now. */
  abandoned(stream: string, run: string, seq: number): ReusedFrame[] {
    const s = this.streams.get(stream);
    if (s === undefined) return [];
    return this.release(s, (f) => f.run !== run || f.ref <= seq);
  }

  /** Frames held longer than maxHoldMs, and every frame held before them in their stream. */
  expired(now: number): ReusedFrame[] {
    const out: ReusedFrame[] = [];
    for (const s of this.streams.values()) {
      let last = -1;
      s.held.forEach((h, i) => {
        if (now - h.since >= this.maxHoldMs) last = i;
      });
      if (last < 0) continue;
      const seq = s.held[last]!.frame.seq;
      out.push(...this.release(s, (f) => f.seq <= seq));
    }
    return out;
  }

  /** When the oldest held frame expires, epoch ms; undefined when none is held. */
  nextExpiry(): number | undefined {
    let t: number | undefined;
    for (const s of this.streams.values()) for (const h of s.held) t = Math.min(t ?? Infinity, h.since + this.maxHoldMs);
    return t;
  }

  /** A stream removed: what it held is dropped. */
  forget(stream: string): void {
    this.streams.delete(stream);
  }

  private stream(id: string, run: string): StreamHold {
    let s = this.streams.get(id);
    if (s === undefined) this.streams.set(id, (s = { run, lastSeq: -1, held: [] }));
    return s;
  }

  private release(s: StreamHold, go: (f: ReusedFrame) => boolean): ReusedFrame[] {
    const out: ReusedFrame[] = [];
    const kept: Held[] = [];
    for (const h of s.held) {
      if (go(h.frame)) out.push(h.frame);
      else kept.push(h);
    }
    s.held = kept;
    for (const f of out) if (f.run === s.run) s.lastSeq = Math.max(s.lastSeq, f.seq);
    return out;
  }
}
