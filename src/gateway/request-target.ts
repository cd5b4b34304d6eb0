/**
 * Request targets (`/api/streams/cam%201?token=T`) are percent-decoded in
 * several places (path segments, query parameters, the WebSocket upgrade).
 * One check up front, before any of them, turns a malformed escape (`%ZZ`,
 * a lone `%`, `%C3%28` which is not UTF-8) into a 400 instead of a URIError
 * thrown deep in a route. Pure.
 */

/** What a request with a malformed target is answered with: 400 `bad_request`. */
export const MALFORMED_TARGET_MESSAGE = 'malformed percent-encoding in the request URL';

/**
 * True when every `%` of the target starts a valid escape and the escapes
 * decode to UTF-8: then decoding any part of it (a path segment, a query
 * value) cannot throw.
 */
export function isWellFormedTarget(target: string): boolean {
  if (!target.includes('%')) return true;
  try {
    decodeURIComponent(target);
    return true;
  } catch (err) {
    if (err instanceof URIError) return false;
    throw err;
  }
}
