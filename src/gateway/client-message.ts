/**
 * Parsing and validation of what a client sends, as a pure function: the
 * message, or the error code and a short reason to answer with.
 */
import { ClientMessageSchema, type ClientMessage, type ErrorCode } from '../contracts/ws-messages.ts';

export type ParsedClientMessage = { ok: true; msg: ClientMessage } | { ok: false; code: Extract<ErrorCode, 'bad_message' | 'unknown_type'>; message: string };

const KNOWN_TYPES: ReadonlySet<string> = new Set(ClientMessageSchema.options.map((o) => o.shape.type.value));

/** Reasons echo at most this many characters of what the client sent. */
const ECHO_MAX = 64;

function echo(s: string): string {
  return JSON.stringify(s.length > ECHO_MAX ? `${s.slice(0, ECHO_MAX)}…` : s);
}

/**
 * Text of one WebSocket message -> a client message. Not JSON, not an object,
 * a missing or non-string `type`, or fields that do not match the schema:
 * `bad_message`. A string `type` the protocol does not have: `unknown_type`.
 */
export function parseClientMessage(text: string): ParsedClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: 'bad_message', message: `not JSON: ${err instanceof Error ? err.message.slice(0, 120) : 'parse error'}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'bad_message', message: 'a message must be a JSON object with a "type"' };
  }
  const type: unknown = (value as Record<string, unknown>).type;
  if (typeof type !== 'string') return { ok: false, code: 'bad_message', message: '"type" must be a string' };
  if (!KNOWN_TYPES.has(type)) {
    return { ok: false, code: 'unknown_type', message: `unknown message type ${echo(type)}; expected one of ${[...KNOWN_TYPES].join(', ')}` };
  }
  const parsed = ClientMessageSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.slice(0, 4).map(String).join('.') : 'message';
    return { ok: false, code: 'bad_message', message: `invalid ${type}: ${where}: ${(issue?.message ?? 'does not match the schema').slice(0, 160)}` };
  }
  return { ok: true, msg: parsed.data };
}
