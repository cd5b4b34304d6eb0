/**
 * Idempotence on (stream, run, seq), bounded: remembers the last `capacity`
 * frame identities and forgets the oldest first. A duplicate older than that
 * is let through, which BullMQ's redelivery window never comes near.
 */
export class SeenFrames {
  private readonly seen = new Set<string>();

  constructor(private readonly capacity = 100_000) {}

  /** True the first time an identity is offered. */
  firstTime(stream: string, run: string, seq: number): boolean {
    const key = `${stream}\u0000${run}\u0000${seq}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    if (this.seen.size > this.capacity) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return true;
  }
}
