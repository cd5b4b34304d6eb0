/**
 * Serialisation of server messages, once per published result rather than
 * once per client: a frame's message only differs between clients by the
 * labels their filters keep and by the embedding, so the encodings are
 * memoised per (filter, embeddings) for the lifetime of one publish.
 */
import { endianness } from 'node:os';
import type { Label } from '../contracts/analyze-output.ts';
import type { FrameResult } from '../contracts/results.ts';
import type { ServerMessage } from '../contracts/ws-messages.ts';
import { selectLabels, type Subscription } from './subscription.ts';

type FrameMessage = Extract<ServerMessage, { type: 'frame' }>;
export type EmbeddingPayload = NonNullable<FrameMessage['embedding']>;

const LITTLE_ENDIAN = endianness() === 'LE';

/** `{dim, dtype:'float32', b64}`: base64 of the little-endian float32 bytes. */
export function encodeEmbedding(v: Float32Array): EmbeddingPayload {
  let bytes: Buffer;
  if (LITTLE_ENDIAN) {
    bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  } else {
    bytes = Buffer.alloc(v.byteLength);
    for (let i = 0; i < v.length; i++) bytes.writeFloatLE(v[i]!, i * 4);
  }
  return { dim: v.length, dtype: 'float32', b64: bytes.toString('base64') };
}

/** The inverse of `encodeEmbedding` (for clients and tests). */
export function decodeEmbedding(e: EmbeddingPayload): Float32Array {
  const bytes = Buffer.from(e.b64, 'base64');
  if (bytes.length !== e.dim * 4) throw new RangeError(`embedding b64 holds ${bytes.length} bytes, dim ${e.dim} needs ${e.dim * 4}`);
  const out = new Float32Array(e.dim);
  for (let i = 0; i < e.dim; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

/** A server message as the bytes of one text frame. */
export function encodeMessage(msg: ServerMessage): Buffer {
  return Buffer.from(JSON.stringify(msg), 'utf8');
}

/** The frame message with the fields in docs/PROTOCOL.md's order ("Server to client"). */
export function frameMessage(r: FrameResult, labels: readonly Label[], embedding: EmbeddingPayload | undefined): FrameMessage {
  const msg: FrameMessage = {
    type: 'frame',
    stream: r.stream,
    run: r.run,
    seq: r.seq,
    ptsMs: r.ptsMs,
    capturedAt: r.capturedAt,
    labels: labels.map((l) => ({ index: l.index, label: l.label, score: l.score })),
    latencyMs: r.latencyMs,
  };
  if (r.reused) msg.reused = true;
  if (embedding !== undefined) msg.embedding = embedding;
  return msg;
}

/**
 * Encodings kept per result, count: clients with more distinct filters than
 * this are served by encoding again (a bound on memory, since encoders of
 * stored results live as long as the replay ring keeps them).
 */
const MAX_CACHED_VARIANTS = 16;

/** The encodings of one published frame result, per subscription filter. */
export class FrameEncoder {
  /** filterKey + embeddings flag -> bytes, or null when the filter keeps no label. */
  private readonly cache = new Map<string, Buffer | null>();
  private embedding: EmbeddingPayload | undefined;

  constructor(readonly result: FrameResult) {}

  /** The message bytes for this subscriber, or null when its filter passes no label. */
  encodeFor(sub: Subscription): Buffer | null {
    const withEmbedding = sub.embeddings && this.result.embedding !== undefined;
    const key = withEmbedding ? `e${sub.filterKey}` : sub.filterKey;
    let bytes = this.cache.get(key);
    if (bytes === undefined) {
      const labels = selectLabels(sub, this.result.labels);
      if (labels === null) {
        bytes = null;
      } else {
        if (withEmbedding) this.embedding ??= encodeEmbedding(this.result.embedding!);
        bytes = encodeMessage(frameMessage(this.result, labels, withEmbedding ? this.embedding : undefined));
      }
      if (this.cache.size < MAX_CACHED_VARIANTS) this.cache.set(key, bytes);
    }
    return bytes;
  }
}
