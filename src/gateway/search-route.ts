/**
 * GET /api/search over an open index (DESIGN.md "HTTP"), with the options of
 * `streamsight search`: label=NAME | frame=VIDEO@SECONDS, video, limit,
 * minScore. Search by picture: POST /api/search with the picture's bytes as
 * the body (any format ffmpeg decodes) and video, limit, minScore in the
 * query string; the picture is decoded and embedded as `search --image`
 * does, one at a time. Thumbnails of hits: GET /api/search/thumbnails/FRAME_ID.jpg.
 * A server passes a ReusableImageEmbedder (image-embedder.ts) as `embedImage`
 * so one engine serves every picture, and closes it at shutdown.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { createImageEmbedder } from '../indexing/image-embedder.ts';
import { IndexSearcher } from '../indexing/index-searcher.ts';
import type { IndexStore } from '../indexing/index-store.ts';
import { DEFAULT_LIMIT, MAX_LIMIT, runSearch, type ImageEmbedder } from '../indexing/search-runner.ts';
import { isStreamSightError } from '../shared/errors.ts';

export interface SearchRouteOptions {
  /** Embeds a posted picture; default: the index's model, one CPU engine started and closed per query (createImageEmbedder). */
  embedImage?: ImageEmbedder;
  /** Largest picture accepted, bytes; default 16 MiB (413 above). */
  maxImageBytes?: number;
  /** Picture searches waiting behind the running one before 503 `busy`; default 4. */
  maxWaitingImages?: number;
}

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

/** The query string of POST /api/search (the picture is the body). */
export const ImageSearchParamsSchema = z
  .object({
    video: z.string().min(1).max(4096).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT),
    minScore: z.coerce.number().min(-1).max(1).optional(),
  })
  .strict();

class HttpProblem extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes) throw new HttpProblem(413, 'too_large', `picture over ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new HttpProblem(413, 'too_large', `picture over ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) throw new HttpProblem(400, 'bad_request', 'send the picture as the request body');
  return Buffer.concat(chunks);
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue?.path.join('.') || 'query'}: ${issue?.message ?? 'invalid'}`;
}

/** The error shape of http-api.ts: {"error":{"code","message"}}. */
function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export function createSearchRoute(store: IndexStore, options: SearchRouteOptions = {}): SearchRoute {
  const searcher = new IndexSearcher(store);
  const embed = options.embedImage ?? createImageEmbedder();
  const maxImageBytes = options.maxImageBytes ?? 16 * 1024 * 1024;
  const maxWaiting = options.maxWaitingImages ?? 4;
  // Picture searches run one at a time (each is a model run on the CPU); a bounded number wait.
  let imageQueue: Promise<unknown> = Promise.resolve();
  let waiting = 0;

  const searchByImage = async (req: IncomingMessage, url: URL): Promise<unknown> => {
    const parsed = ImageSearchParamsSchema.safeParse(Object.fromEntries(url.searchParams));
    if (!parsed.success) throw new HttpProblem(400, 'bad_request', firstIssue(parsed.error));
    if (waiting >= maxWaiting) throw new HttpProblem(503, 'busy', `${waiting} picture searches already waiting; retry later`);
    const body = await readBody(req, maxImageBytes);
    waiting++;
    const turn = imageQueue.then(async () => {
      waiting--;
      const dir = await mkdtemp(join(tmpdir(), 'ss-query-'));
      try {
        const file = join(dir, 'picture');
        await writeFile(file, body);
        try {
          const response = await runSearch(searcher, { image: file, ...parsed.data }, embed);
          return { ...response, query: { ...response.query, image: 'request body' } };
        } catch (err) {
          if (!isStreamSightError(err) || !err.userError || err.code === 'E_INPUT_NOT_FOUND') throw err;
          throw new HttpProblem(400, 'bad_picture', err.message.replaceAll(file, 'the picture'));
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
    imageQueue = turn.catch(() => undefined);
    return turn;
  };

  return async (req, res, url) => {
    const path = url.pathname;
    if (path !== '/api/search' && !path.startsWith('/api/search/')) return false;
    const post = req.method === 'POST' && path === '/api/search';
    if (req.method !== 'GET' && req.method !== 'HEAD' && !post) {
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
    try {
      if (post) {
        send(res, 200, await searchByImage(req, url));
        return true;
      }
      const parsed = SearchParamsSchema.safeParse(Object.fromEntries(url.searchParams));
      if (!parsed.success) throw new HttpProblem(400, 'bad_request', firstIssue(parsed.error));
      send(res, 200, await runSearch(searcher, parsed.data));
    } catch (err) {
      if (err instanceof HttpProblem) {
        // A body not read to its end (too large) would be left in the socket: close after answering.
        if (err.status === 413) res.setHeader('connection', 'close');
        send(res, err.status, { error: { code: err.code, message: err.message } });
        return true;
      }
      if (!isStreamSightError(err) || !err.userError) throw err;
      send(res, err.code === 'E_INPUT_NOT_FOUND' ? 404 : 400, { error: { code: err.code === 'E_INPUT_NOT_FOUND' ? 'not_found' : 'bad_request', message: err.message } });
    }
    return true;
  };
}
