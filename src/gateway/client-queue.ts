/**
 * The bounded outbound queue of one WebSocket client. Frame messages are
 * droppable: past either bound the OLDEST frame messages go first, and are
 * counted per stream so the client can be told (`dropped`). Everything else
 * (hello, event, status, error, pong, dropped) is never dropped; if those
 * alone exceed the byte bound the client is hopeless (it neither reads nor
 * stops sending) and `overflowed` tells the owner to disconnect it.
 */

export interface QueuedMessage {
  /** Serialised once per publish and shared by every client it goes to. */
  readonly data: Buffer;
  /** The message's `type`, for metrics. */
  readonly type: string;
  /** Set on frame messages only: the stream counted when the message is dropped. */
  readonly frameOf?: string;
}

export interface ClientQueueOptions {
  /** Frame messages queued at most, count (config `server.clientQueueMessages`). */
  maxFrames: number;
  /** Bytes queued at most (frames and the rest together), bytes (default 4 MiB). */
  maxBytes?: number;
}

export const DEFAULT_QUEUE_BYTES = 4 * 1024 * 1024;

interface Entry {
  readonly msg: QueuedMessage;
  /** Arrival order across both lanes, so `shift` keeps the order messages were queued in. */
  readonly order: number;
}

/** A FIFO with O(1) push and shift: a growing array read from a head index, compacted now and then. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.head++;
    // Compact once the dead prefix is half the array: amortised O(1).
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    } else if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return item;
  }
}

export class ClientQueue {
  readonly maxFrames: number;
  readonly maxBytes: number;
  private readonly frames = new Fifo<Entry>();
  private readonly others = new Fifo<Entry>();
  private nextOrder = 0;
  private queuedBytes = 0;
  private readonly droppedByStream = new Map<string, number>();
  private droppedSum = 0;

  constructor(options: ClientQueueOptions) {
    this.maxFrames = options.maxFrames;
    this.maxBytes = options.maxBytes ?? DEFAULT_QUEUE_BYTES;
    if (!Number.isInteger(this.maxFrames) || this.maxFrames < 1) throw new RangeError(`maxFrames must be an integer >= 1, got ${this.maxFrames}`);
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < 1) throw new RangeError(`maxBytes must be an integer >= 1, got ${this.maxBytes}`);
  }

  /** Messages queued. */
  get length(): number {
    return this.frames.length + this.others.length;
  }

  /** Frame messages queued. */
  get frameCount(): number {
    return this.frames.length;
  }

  /** Bytes queued. */
  get bytes(): number {
    return this.queuedBytes;
  }

  /** Frame messages dropped since the queue was made. */
  get droppedTotal(): number {
    return this.droppedSum;
  }

  /** True when the never-dropped messages alone exceed `maxBytes`. */
  get overflowed(): boolean {
    return this.queuedBytes > this.maxBytes && this.frames.length === 0;
  }

  /** True when drops are waiting to be announced. */
  get hasDropped(): boolean {
    return this.droppedByStream.size > 0;
  }

  /**
   * Queues a message, then drops the oldest frame messages while a bound is
   * exceeded. Returns how many frame messages were dropped by this push (a
   * frame larger than `maxBytes` drops itself).
   */
  push(msg: QueuedMessage): number {
    const entry: Entry = { msg, order: this.nextOrder++ };
    (msg.frameOf === undefined ? this.others : this.frames).push(entry);
    this.queuedBytes += msg.data.length;
    let dropped = 0;
    while (this.frames.length > 0 && (this.frames.length > this.maxFrames || this.queuedBytes > this.maxBytes)) {
      const old = this.frames.shift()!;
      this.queuedBytes -= old.msg.data.length;
      const stream = old.msg.frameOf!;
      this.droppedByStream.set(stream, (this.droppedByStream.get(stream) ?? 0) + 1);
      this.droppedSum++;
      dropped++;
    }
    return dropped;
  }

  /** The oldest queued message, in the order they were pushed. */
  shift(): QueuedMessage | undefined {
    const f = this.frames.peek();
    const o = this.others.peek();
    let lane: Fifo<Entry>;
    if (f === undefined) {
      if (o === undefined) return undefined;
      lane = this.others;
    } else {
      lane = o !== undefined && o.order < f.order ? this.others : this.frames;
    }
    const entry = lane.shift()!;
    this.queuedBytes -= entry.msg.data.length;
    return entry.msg;
  }

  /** Drops not yet announced, per stream (in the order streams first dropped); resets them. */
  takeDropped(): Array<{ stream: string; count: number }> {
    const out = [...this.droppedByStream].map(([stream, count]) => ({ stream, count }));
    this.droppedByStream.clear();
    return out;
  }

  /** Empties the queue (the client is gone); drop counts are kept. */
  clear(): void {
    while (this.shift() !== undefined);
  }
}
