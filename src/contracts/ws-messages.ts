import { z } from 'zod';
import { LabelSchema, type Label } from './analyze-output.ts';
import type { LabelEventKind, StreamInfo, StreamState } from './results.ts';

/** WebSocket protocol version 1 (docs/PROTOCOL.md), path /ws. */
export const PROTOCOL_VERSION = 1;

const StreamId = z.string().min(1).max(200);

export const SubscribeSchema = z
  .object({
    type: z.literal('subscribe'),
    streams: z.union([z.literal('*'), z.array(StreamId).max(1000)]),
    labels: z.array(z.string().min(1).max(200)).max(1000).optional(),
    minScore: z.number().min(0).max(1).optional(),
    topK: z.number().int().min(1).max(100).optional(),
    embeddings: z.boolean().optional(),
    replay: z.number().int().min(0).max(1000).optional(),
  })
  .strict();

export const UnsubscribeSchema = z.object({ type: z.literal('unsubscribe'), streams: z.union([z.literal('*'), z.array(StreamId).max(1000)]) }).strict();

export const PingSchema = z.object({ type: z.literal('ping') }).strict();

export const ClientMessageSchema = z.discriminatedUnion('type', [SubscribeSchema, UnsubscribeSchema, PingSchema]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;
export type SubscribeMessage = z.infer<typeof SubscribeSchema>;

/**
 * `error.code` values. `unauthorized` and `forbidden_origin` are refusals of
 * the upgrade (HTTP 401 / 403 with a JSON body carrying the code), and
 * `too_large` is signalled by the close code 1009: ws closes the connection
 * before a message could be sent.
 */
export type ErrorCode = 'bad_message' | 'unknown_type' | 'unknown_stream' | 'unauthorized' | 'forbidden_origin' | 'too_large' | 'internal';

export type ServerMessage =
  | { type: 'hello'; version: number; streams: StreamInfo[] }
  | {
      type: 'frame';
      stream: string;
      run: string;
      seq: number;
      ptsMs: number;
      capturedAt: number;
      labels: Label[];
      latencyMs: number;
      /** True when the frame was not inferred: it repeats its stream's last inferred result (`--skip-unchanged`). */
      reused?: true;
      embedding?: { dim: number; dtype: 'float32'; b64: string };
    }
  | { type: 'event'; stream: string; label: string; kind: LabelEventKind; ptsMs: number; capturedAt: number; score: number }
  | { type: 'status'; stream: string; state: StreamState; detail?: string }
  | { type: 'dropped'; stream: string; count: number }
  | { type: 'error'; code: ErrorCode; message: string }
  | { type: 'pong' };

const StreamStateSchema = z.enum(['starting', 'live', 'reconnecting', 'ended', 'failed']);

/** Every message the server sends, for clients and tests to validate what they receive. */
export const ServerMessageSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('hello'),
      version: z.number().int(),
      streams: z.array(z.object({ id: z.string(), state: StreamStateSchema, model: z.string(), untrained: z.boolean().optional(), fps: z.number() }).strict()),
    })
    .strict(),
  z
    .object({
      type: z.literal('frame'),
      stream: z.string(),
      run: z.string(),
      seq: z.number().int().nonnegative(),
      ptsMs: z.number(),
      capturedAt: z.number(),
      labels: z.array(LabelSchema.strict()),
      latencyMs: z.number(),
      reused: z.literal(true).optional(),
      embedding: z
        .object({ dim: z.number().int().nonnegative(), dtype: z.literal('float32'), b64: z.string() })
        .strict()
        .optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('event'),
      stream: z.string(),
      label: z.string(),
      kind: z.enum(['start', 'end']),
      ptsMs: z.number(),
      capturedAt: z.number(),
      score: z.number(),
    })
    .strict(),
  z.object({ type: z.literal('status'), stream: z.string(), state: StreamStateSchema, detail: z.string().optional() }).strict(),
  z.object({ type: z.literal('dropped'), stream: z.string(), count: z.number().int().positive() }).strict(),
  z
    .object({
      type: z.literal('error'),
      code: z.enum(['bad_message', 'unknown_type', 'unknown_stream', 'unauthorized', 'forbidden_origin', 'too_large', 'internal']),
      message: z.string(),
    })
    .strict(),
  z.object({ type: z.literal('pong') }).strict(),
]);

/** The schema and the ServerMessage type describe the same messages (checked at compile time). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const serverSchemaMatchesType: Same<z.infer<typeof ServerMessageSchema>, ServerMessage> = true;
void serverSchemaMatchesType;
