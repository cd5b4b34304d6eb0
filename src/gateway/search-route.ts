/**
 * GET /api/search over an open index (DESIGN.md "HTTP"), with the options of
 * `streamsight search`: label=NAME | frame=VIDEO@SECONDS, video, limit,
 * minScore. Search by picture needs a file on the server, so it is a CLI
 * feature only. Thumbnails of hits: GET /api/search/thumbnails/FRAME_ID.jpg.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { IndexSearcher } from '../indexing/index-searcher.ts';
import type { IndexStore } from '../indexing/index-store.ts';
import { DEFAULT_LIMIT, MAX_LIMIT, runSearch } from '../indexing/search-runner.ts';
import { isStreamSightError } from '../shared/errors.ts';

/** Answers a request under /api/search; false when the path is not one of its routes. */
export type SearchRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

/** The query string of GET /api/search. */
export const SearchParamsSchema = z
  .object({
    label: z.string().min(1).max(200).optional(),
    frame: z.string().min(3).max(4096).optional(),
    video: z.string().min(1).max(4096).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT),
    minScore: z.coerce.number().min(-1).max(1).optional(),
  })
  .strict()
  .refine((p) => (p.label === undefined) !== (p.frame === undefined), { message: 'give exactly one of label, frame' });

/** The error shape of http-api.ts: {"error":{"code","message"}}. */
function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export function createSearchRoute(store: IndexStore): SearchRoute {
  const searcher = new IndexSearcher(store);
  return async (req, res, url) => {
    const path = url.pathname;
    if (path !== '/api/search' && !path.startsWith('/api/search/')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, { error: { code: 'method_not_allowed', message: `${req.method ?? ''} not allowed on ${path}` } });
      return true;
    }
    const thumb = /^\/api\/search\/thumbnails\/(\d{1,15})\.jpg$/.exec(path);
    if (thumb) {
      const jpeg = store.thumbnail(Number(thumb[1]));
      if (!jpeg) {
        send(res, 404, { error: { code: 'no_thumbnail', message: `no thumbnail for frame ${thumb[1]}` } });
        return true;
      }
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length, 'cache-control': 'public, max-age=3600' });
      res.end(req.method === 'HEAD' ? undefined : jpeg);
      return true;
    }
    if (path !== '/api/search') return false;
    const parsed = SearchParamsSchema.safeParse(Object.fromEntries(url.searchParams));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      send(res, 400, { error: { code: 'bad_request', message: `${issue?.path.join('.') || 'query'}: ${issue?.message ?? 'invalid'}` } });
      return true;
    }
    try {
      send(res, 200, await runSearch(searcher, parsed.data));
    } catch (err) {
      if (!isStreamSightError(err) || !err.userError) throw err;
      send(res, err.code === 'E_INPUT_NOT_FOUND' ? 404 : 400, { error: { code: err.code === 'E_INPUT_NOT_FOUND' ? 'not_found' : 'bad_request', message: err.message } });
    }
    return true;
  };
}
