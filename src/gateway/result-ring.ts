/**
 * The recent results of each stream, kept for `replay`, and the memory of
 * which frame identities were already published, so that a result delivered
 * twice (at-least-once delivery) is published once.
 */
import type { FrameResult } from '../contracts/results.ts';

export interface ResultRingOptions {
  /** Results kept per stream for replay, count (config `server.replayLimit`; 0 keeps none). */
  capacity: number;
  /**
   * Frame identities remembered per stream to recognise duplicates, count
   * (default max(capacity, 1024)): a redelivery later than this many newer
   * results of its stream is published again.
   */
  identityCapacity?: number;
}

const DEFAULT_IDENTITY_CAPACITY = 1024;

interface StreamRing {
  /** Sorted oldest first (see `before`). */
  results: FrameResult[];
  identities: Set<string>;
  /** Insertion order of `identities`, for eviction. */
  identityOrder: string[];
  identityHead: number;
}

/** Frame order within a stream: by seq within a run; runs by capture time (a new run starts later). */
function before(a: FrameResult, b: FrameResult): boolean {
  return a.run === b.run ? a.seq < b.seq : a.capturedAt < b.capturedAt;
}

function identityOf(r: FrameResult): string {
  // JSON keeps the separator unambiguous whatever characters the run id holds.
  return JSON.stringify([r.run, r.seq]);
}

export class ResultRing {
  readonly capacity: number;
  readonly identityCapacity: number;
  private readonly streams = new Map<string, StreamRing>();

  constructor(options: ResultRingOptions) {
    this.capacity = options.capacity;
    this.identityCapacity = options.identityCapacity ?? Math.max(this.capacity, DEFAULT_IDENTITY_CAPACITY);
    if (!Number.isInteger(this.capacity) || this.capacity < 0) throw new RangeError(`capacity must be an integer >= 0, got ${this.capacity}`);
    if (!Number.isInteger(this.identityCapacity) || this.identityCapacity < Math.max(1, this.capacity)) {
      throw new RangeError(`identityCapacity must be an integer >= max(1, capacity), got ${this.identityCapacity}`);
    }
  }

  /**
   * Records a result. Returns false, and changes nothing, when its identity
   * (stream, run, seq) was seen already.
   */
  add(r: FrameResult): boolean {
    let ring = this.streams.get(r.stream);
    if (ring === undefined) {
      ring = { results: [], identities: new Set(), identityOrder: [], identityHead: 0 };
      this.streams.set(r.stream, ring);
    }
    const id = identityOf(r);
    if (ring.identities.has(id)) return false;
    ring.identities.add(id);
    ring.identityOrder.push(id);
    if (ring.identities.size > this.identityCapacity) {
      ring.identities.delete(ring.identityOrder[ring.identityHead]!);
      ring.identityHead++;
      if (ring.identityHead * 2 >= ring.identityOrder.length) {
        ring.identityOrder = ring.identityOrder.slice(ring.identityHead);
        ring.identityHead = 0;
      }
    }
    if (this.capacity > 0) this.insertSorted(ring.results, r);
    return true;
  }

  private insertSorted(results: FrameResult[], r: FrameResult): void {
    // Results nearly always arrive in order: search from the end.
    let i = results.length;
    while (i > 0 && before(r, results[i - 1]!)) i--;
    if (results.length >= this.capacity) {
      if (i === 0) return; // Older than everything kept, and no room.
      results.splice(i, 0, r);
      results.shift();
    } else {
      results.splice(i, 0, r);
    }
  }

  /** The last `n` results of a stream, oldest first. */
  recent(stream: string, n: number): readonly FrameResult[] {
    const results = this.streams.get(stream)?.results ?? [];
    return n >= results.length ? results.slice() : results.slice(results.length - n);
  }

  /** Stream ids with anything recorded. */
  streamIds(): string[] {
    return [...this.streams.keys()];
  }
}
