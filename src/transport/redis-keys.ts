/**
 * Pure: every Redis name the distributed mode uses. BullMQ forbids `:` in a
 * queue name, so a queue is `{prefix.name}`: the braces are a Redis Cluster
 * hash tag, which keeps all of one queue's keys on one slot. Frame keys are
 * tagged by run so that one job's frames can be fetched with one MGET.
 */
export interface RedisNames {
  /** BullMQ's key prefix (its keys are `prefix:{prefix.frames}:wait`, ...). */
  readonly prefix: string;
  /** The inference queue. */
  readonly framesQueue: string;
  /** Results of live streams and of `ingest`, read by gateways. */
  readonly resultsStream: string;
  /** A frame's pixels for one send of it: a re-sent frame gets new keys, so a stale job finishing late cannot delete them. */
  frameKey(run: string, seq: number, send?: number): string;
  /** A private results stream (one `analyze` run reads only its own). */
  replyStream(token: string): string;
}

const PREFIX = /^[A-Za-z0-9_.-]{1,32}$/;

export function redisNames(prefix: string): RedisNames {
  if (!PREFIX.test(prefix)) throw new RangeError(`prefix: 1-32 letters, digits, _ . -, got "${prefix}"`);
  return {
    prefix,
    framesQueue: `{${prefix}.frames}`,
    resultsStream: `${prefix}:{${prefix}.results}`,
    frameKey: (run, seq, send = 1) => `${prefix}:frame:{${run}}:${seq}.${send}`,
    replyStream: (token) => `${prefix}:reply:{${token}}`,
  };
}

/** A BullMQ job id: no `:` allowed, unique per (run, first seq, send). */
export function jobIdFor(run: string, firstSeq: number, send: number): string {
  return `${run.replace(/:/g, '_')}.${firstSeq}.${send}`;
}

/** A URL for logs: the password replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}
