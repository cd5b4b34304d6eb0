/**
 * Who may open the WebSocket: the token (when one is configured) and the
 * Origin allowlist (when one is configured), decided from the upgrade request
 * alone, before the handshake completes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface AuthPolicy {
  /** Shared secret; undefined = no token needed. */
  token?: string | undefined;
  /** Allowed `Origin` values (scheme://host[:port]); undefined = any. */
  allowedOrigins?: readonly string[] | undefined;
}

export type AuthDecision = { ok: true } | { ok: false; status: 401 | 403; code: 'unauthorized' | 'forbidden_origin'; message: string };

/**
 * The token a request carries: `Authorization: Bearer T` first, else the
 * `token` query parameter of `url` (the request target, e.g. `/ws?token=T`).
 */
export function extractToken(headers: IncomingHttpHeaders, url: string | undefined): string | undefined {
  const auth = headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
    if (m) return m[1];
  }
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams(url.slice(q + 1)).get('token') ?? undefined;
}

/**
 * Compares in time independent of where the strings differ and of the
 * expected token's length (both sides are hashed to 32 bytes first).
 */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

function normaliseOrigin(origin: string): string {
  return origin.trim().toLowerCase().replace(/\/+$/, '');
}

/**
 * True when the Origin is allowed. A request without an Origin header passes:
 * browsers always send one on a WebSocket handshake, and the allowlist exists
 * to stop other web pages from using a visitor's browser, not to stop
 * non-browser clients (the token does that).
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[] | undefined): boolean {
  if (allowed === undefined || origin === undefined) return true;
  const o = normaliseOrigin(origin);
  return allowed.some((a) => normaliseOrigin(a) === o);
}

/** The decision for one upgrade request. */
export function authorizeUpgrade(headers: IncomingHttpHeaders, url: string | undefined, policy: AuthPolicy): AuthDecision {
  if (!originAllowed(headers.origin, policy.allowedOrigins)) {
    return { ok: false, status: 403, code: 'forbidden_origin', message: 'origin not allowed' };
  }
  if (policy.token !== undefined) {
    const given = extractToken(headers, url);
    if (given === undefined) return { ok: false, status: 401, code: 'unauthorized', message: 'token required' };
    if (!tokensEqual(given, policy.token)) return { ok: false, status: 401, code: 'unauthorized', message: 'wrong token' };
  }
  return { ok: true };
}
