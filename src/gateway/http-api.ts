import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StreamInfo } from '../contracts/results.ts';
import { AddStreamSchema, type AddStreamRequest } from '../contracts/stream-request.ts';
import { redactRequestTarget } from '../ingest/url-redaction.ts';
import { StreamExistsError, UnknownStreamError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { HttpProblem, problemOf } from './http-problem.ts';
import { isWellFormedTarget, MALFORMED_TARGET_MESSAGE } from './request-target.ts';
import type { SearchRoute } from './search-route.ts';

/** What the HTTP routes need from the running server (pipeline/stream-registry.ts, or a test's stand-in). */
export interface HttpBackend {
  listStreams(): StreamInfo[];
  /** Adds a source; throws the catalogue's errors for a refused request (http-problem.ts answers them). */
  addStream(request: AddStreamRequest): Promise<StreamInfo>;
  /** False when no such stream. */
  removeStream(id: string): Promise<boolean>;
  /** The latest frame as JPEG; undefined when the stream has none yet or is unknown. */
  snapshot(id: string): Promise<Buffer | undefined>;
  hasStream(id: string): boolean;
  /** Model loaded, Redis reachable where used; reasons when not. */
  readiness(): { ready: boolean; reasons: string[] };
  metrics: Metrics;
}

export interface HttpApiOptions {
  backend: HttpBackend;
  /** True when the request carries the configured token (or none is configured). */
  authorize: (req: IncomingMessage) => boolean;
  /** Serves the dashboard's files; false when the path is not one of them. */
  serveAsset?: (req: IncomingMessage, res: ServerResponse) => boolean;
  logger: Logger;
  /** Request bodies larger than this are refused, bytes; default 16 KiB. */
  maxBodyBytes?: number;
  /** GET and POST /api/search (and its thumbnails) when an index is open; absent: 404 `no_index`. */
  search?: SearchRoute;
}

/** Routes of docs/ARCHITECTURE.md "HTTP routes" (answers and codes: docs/PROTOCOL.md). The WebSocket upgrade on /ws is handled by the gateway. */
export function createHttpHandler(opts: HttpApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { backend } = opts;
  const maxBody = opts.maxBodyBytes ?? 16 * 1024;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Checked once here: past this line no decoding of the path or the query can throw.
    if (!isWellFormedTarget(req.url ?? '/')) throw new HttpProblem(400, 'bad_request', MALFORMED_TARGET_MESSAGE);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const method = req.method ?? 'GET';

    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const r = backend.readiness();
      return json(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', reasons: r.reasons });
    }
    if (path === '/metrics') {
      const { contentType, body } = await backend.metrics.render();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    if (path === '/api/streams') {
      if (method === 'GET') return json(res, 200, backend.listStreams());
      if (method === 'POST') {
        requireAuth(req);
        const body = await readJson(req, maxBody);
        const parsed = AddStreamSchema.safeParse(body);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          throw new HttpProblem(400, 'bad_request', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
        }
        if (backend.hasStream(parsed.data.id)) throw new StreamExistsError(`stream "${parsed.data.id}" already exists`);
        return json(res, 201, await backend.addStream(parsed.data));
      }
      throw new HttpProblem(405, 'method_not_allowed', `${method} not allowed on ${path}`);
    }
    const one = /^\/api\/streams\/([^/]+)(\/snapshot\.jpg)?$/.exec(path);
    if (one) {
      const id = decodeURIComponent(one[1]!);
      if (one[2]) {
        if (method !== 'GET') throw new HttpProblem(405, 'method_not_allowed', `${method} not allowed on ${path}`);
        if (!backend.hasStream(id)) throw new UnknownStreamError(`no stream "${id}"`);
        const jpeg = await backend.snapshot(id);
        if (!jpeg) throw new HttpProblem(404, 'no_frame', `stream "${id}" has no frame yet`);
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length, 'cache-control': 'no-store' });
        res.end(jpeg);
        return;
      }
      if (method === 'GET') {
        const s = backend.listStreams().find((x) => x.id === id);
        if (!s) throw new UnknownStreamError(`no stream "${id}"`);
        return json(res, 200, s);
      }
      if (method === 'DELETE') {
        requireAuth(req);
        if (!(await backend.removeStream(id))) throw new UnknownStreamError(`no stream "${id}"`);
        res.writeHead(204).end();
        return;
      }
      throw new HttpProblem(405, 'method_not_allowed', `${method} not allowed on ${path}`);
    }
    if (path === '/api/search' || path.startsWith('/api/search/')) {
      // Said apart from an unknown route, so a page can tell the user what is missing.
      if (!opts.search) throw new HttpProblem(404, 'no_index', 'this server has no index open (start it with --index FILE)');
      // Reads are open as GET /api/streams is; a search by picture runs the model, so it takes the token as writes do.
      if (method === 'POST') requireAuth(req);
      if (await opts.search(req, res, url)) return;
    }
    if (method === 'GET' && opts.serveAsset?.(req, res)) return;
    throw new HttpProblem(404, 'not_found', `no route ${method} ${path}`);
  }

  function requireAuth(req: IncomingMessage): void {
    if (!opts.authorize(req)) throw new HttpProblem(401, 'unauthorized', 'missing or wrong token (Authorization: Bearer TOKEN or ?token=TOKEN)');
  }

  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      const problem = problemOf(err);
      if (problem) {
        // Refused before its body was read (401 on a POST, 413, 415, a busy picture search): close, so Node does not read
        // and throw away whatever the client still sends on this connection.
        if (!req.complete && !res.headersSent) res.setHeader('connection', 'close');
        if (!res.headersSent) json(res, problem.status, { error: { code: problem.code, message: problem.message } });
        else res.destroy();
        return;
      }
      // The target may carry ?token=; headers (Authorization) are never logged.
      opts.logger.error({ err, method: req.method, url: redactRequestTarget(req.url ?? '/') }, 'HTTP handler failed');
      if (!res.headersSent) json(res, 500, { error: { code: 'internal', message: 'internal error' } });
      else res.destroy();
    });
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new HttpProblem(415, 'unsupported_media_type', 'send the body as application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new HttpProblem(413, 'too_large', `request body over ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpProblem(400, 'bad_json', 'request body is not valid JSON');
  }
}
