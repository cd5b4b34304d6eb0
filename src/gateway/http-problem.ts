/**
 * The one error answer of every HTTP route: `{"error":{"code","message"}}`
 * with a status. Domain code throws the catalogue's errors
 * (src/shared/errors.ts); this file alone says which status and wire code
 * each one is (the wire codes are docs/PROTOCOL.md's and do not change).
 */
import { isStreamSightError } from '../shared/errors.ts';

/** An answer of the HTTP protocol itself (401, 404 route, 405, 413 body, 415, bad JSON): thrown by the routes. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Catalogue code -> HTTP status and wire code. */
const BY_CODE: Readonly<Record<string, { status: number; code: string }>> = {
  E_SOURCE_REFUSED: { status: 403, code: 'forbidden_source' },
  E_FORBIDDEN_MODEL: { status: 403, code: 'forbidden_model' },
  E_STREAM_EXISTS: { status: 409, code: 'exists' },
  E_STDIN_TAKEN: { status: 409, code: 'stdin_taken' },
  E_STREAM_ELSEWHERE: { status: 409, code: 'not_here' },
  E_READ_ONLY: { status: 405, code: 'not_here' },
  E_UNKNOWN_STREAM: { status: 404, code: 'unknown_stream' },
  E_MODEL_UNAVAILABLE: { status: 422, code: 'model_unavailable' },
  E_MODEL_NOT_SERVED: { status: 400, code: 'bad_request' },
  E_WATCHDOG_TUNING: { status: 400, code: 'bad_request' },
  E_CLOSING: { status: 503, code: 'closing' },
  E_NOT_LISTENING: { status: 503, code: 'not_listening' },
  E_INPUT_NOT_FOUND: { status: 404, code: 'not_found' },
  E_TOO_MANY_PIXELS: { status: 413, code: 'too_many_pixels' },
  E_BAD_PICTURE: { status: 400, code: 'bad_picture' },
};

/**
 * The answer to an error thrown by a route: an HttpProblem as it is, a
 * catalogue error by its code (another user error: 400 `bad_request`);
 * undefined for a bug (the caller logs it and answers 500 `internal`).
 */
export function problemOf(err: unknown): HttpProblem | undefined {
  if (err instanceof HttpProblem) return err;
  if (!isStreamSightError(err)) return undefined;
  const mapped = BY_CODE[err.code] ?? (err.userError ? { status: 400, code: 'bad_request' } : undefined);
  return mapped && new HttpProblem(mapped.status, mapped.code, err.message);
}
