import { z } from 'zod';
import type { Label } from './analyze-output.ts';
import type { LabelEventKind, StreamInfo, StreamState } from './results.ts';

/** WebSocket protocol version 1 (DESIGN.md), path /ws. */
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

export const UnsubscribeSchema = z
  .object({ type: z.literal('unsubscribe'), streams: z.union([z.literal('*'), z.array(StreamId).max(1000)]) })
  .strict();

export const PingSchema = z.object({ type: z.literal('ping') }).strict();

export const ClientMessageSchema = z.discriminatedUnion('type', [SubscribeSchema, UnsubscribeSchema, PingSchema]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;
export type SubscribeMessage = z.infer<typeof SubscribeSchema>;

export type ErrorCode = 'bad_message' | 'unknown_type' | 'unknown_stream' | 'unauthorized' | 'too_large' | 'internal';

export type ServerMessage =
  | { type: 'hello'; version: number; streams: StreamInfo[] }
  | {
      type: 'frame'; stream: string; run: string; seq: number; ptsMs: number; capturedAt: number;
      labels: Label[]; latencyMs: number; embedding?: { dim: number; dtype: 'float32'; b64: string };
    }
  | { type: 'event'; stream: string; label: string; kind: LabelEventKind; ptsMs: number; capturedAt: number; score: number }
  | { type: 'status'; stream: string; state: StreamState; detail?: string }
  | { type: 'dropped'; stream: string; count: number }
  | { type: 'error'; code: ErrorCode; message: string }
  | { type: 'pong' };
