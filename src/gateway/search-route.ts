/**
 * GET /api/search over an open index (docs/PROTOCOL.md "Searching the index over HTTP"), with the options of
 * `streamsight search`: label=NAME | frame=VIDEO@SECONDS, video, limit,
 * minScore. Search by picture: POST /api/search with the picture's bytes as
 * the body (JPEG, PNG, WebP, BMP, TIFF, GIF; picture-decoder.ts) and video,
 * limit, minScore in the query string; the picture is decoded and embedded as
 * `search --image` does, one at a time. Both take `token` in the query string
 * (checked by http-api.ts, as on every route). Thumbnails of hits:
 * GET /api/search/thumbnails/FRAME_ID.jpg.
 * A server passes a ReusableImageEmbedder (image-embedder.ts) as `embedImage`
 * so one engine serves every picture, and closes it at shutdown.
 *
 * Bounds of search by picture: at most `maxPendingImages` requests at once,
 * counted from the moment the request arrives, before its body is read (the
 * next ones get 503 `busy` at once, their bodies unread); each body at most
 * `maxImageBytes` (413 `too_large`); each picture at most `maxPixels`, read
 * from its header before it is decoded (413 `too_many_pixels`). Memory held
 * for pictures is at most maxPendingImages x maxImageBytes, and one decode.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { createImageEmbedder } from '../indexing/image-embedder.ts';
import { IndexSearcher } from '../indexing/index-searcher.ts';
import type { IndexStore } from '../indexing/index-store.ts';
import { DEFAULT_LIMIT, MAX_LIMIT, runSearch, type ImageEmbedder } from '../indexing/search-runner.ts';
import { inspectPicture } from '../ingest/picture-decoder.ts';
import { BadPictureError, isStreamSightError } from '../shared/errors.ts';
import { HttpProblem } from './http-problem.ts';

export interface SearchRouteOptions {
  /** Embeds a posted picture; default: the index's model, one CPU engine started and closed per query (createImageEmbedder). */
  embedImage?: ImageEmbedder;
  /** Largest picture accepted, bytes (search.maxImageBytes; 413 `too_large` above). */
  maxImageBytes: number;
  /**
   * Largest picture decoded, pixels, width x height from its header
   * (decode.maxPixels; 413 `too_many_pixels` above, before anything is
   * decoded). Give the embedder the same limit.
   */
  maxPixels: number;
  /**
   * Picture searches at once (search.maxPendingImages): running, waiting,
   * or still sending their body, each counted from its arrival, before its
   * body is read. One more gets 503 `busy` at once, its body unread and its
   * connection closed.
   */
  maxPendingImages: number;
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
    /** Checked by http-api.ts (authorize), as on every route; taken here so that it is no unknown key. */
    token: z.string().optional(),
  })
  .strict()
  .refine((p) => (p.label === undefined) !== (p.frame === undefined), { message: 'give exactly one of label, frame' });

/** The query string of POST /api/search (the picture is the body). */
export const ImageSearchParamsSchema = z
  .object({
    video: z.string().min(1).max(4096).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT),
    minScore: z.coerce.number().min(-1).max(1).optional(),
    /** Checked by http-api.ts (authorize), as on every route. */
    token: z.string().optional(),
  })
  .strict();

async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes) throw new HttpProblem(413, 'too_large', `picture over ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) throw new HttpProblem(413, 'too_large', `picture over ${maxBytes} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof HttpProblem) throw err;
    // The client went away mid-body (`aborted`): nobody reads the answer, but the slot is given back.
    throw new HttpProblem(400, 'bad_request', `the picture was cut short: ${(err as Error).message}`);
  }
  if (size === 0) throw new HttpProblem(400, 'bad_request', 'send the picture as the request body');
  return Buffer.concat(chunks);
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue?.path.join('.') || 'query'}: ${issue?.message ?? 'invalid'}`;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** Without `token`: the search's own options. */
function withoutToken<T extends { token?: string | undefined }>(params: T): Omit<T, 'token'> {
  const { token: _token, ...rest } = params;
  return rest;
}

export function createSearchRoute(store: IndexStore, options: SearchRouteOptions): SearchRoute {
  const searcher = new IndexSearcher(store);
  const { maxPixels, maxImageBytes, maxPendingImages: maxPending } = options;
  const embed = options.embedImage ?? createImageEmbedder({ maxPixels, maxBytes: maxImageBytes });
  // Picture searches run one at a time (each is a model run on the CPU); the others wait in arrival order.
  let imageQueue: Promise<unknown> = Promise.resolve();
  // Requests counted from their arrival to their answer: the one running, those waiting, those still sending.
  let pending = 0;

  const searchByImage = async (req: IncomingMessage, url: URL): Promise<unknown> => {
    const parsed = ImageSearchParamsSchema.safeParse(Object.fromEntries(url.searchParams));
    if (!parsed.success) throw new HttpProblem(400, 'bad_request', firstIssue(parsed.error));
    // Checked and counted in the same tick, before any byte of the body is read: a burst cannot pass together.
    if (pending >= maxPending) throw new HttpProblem(503, 'busy', `${pending} picture searches already running or waiting; retry later`);
    pending++;
    try {
      const body = await readBody(req, maxImageBytes);
      try {
        // The header alone, before the picture waits its turn: refused at once, the engine not started.
        inspectPicture(body, maxPixels, 'the request body');
        const turn = imageQueue.then(() => runSearch(searcher, { image: body, ...withoutToken(parsed.data) }, embed));
        imageQueue = turn.catch(() => undefined);
        const response = await turn;
        return { ...response, query: { ...response.query, image: 'request body' } };
      } catch (err) {
        // A picture that cannot be read or embedded is the request's fault; a too large one keeps its own code.
        if (isStreamSightError(err) && err.userError && err.code !== 'E_INPUT_NOT_FOUND' && err.code !== 'E_TOO_MANY_PIXELS') {
          throw new BadPictureError(err.message, { cause: err });
        }
        throw err;
      }
    } finally {
      pending--;
    }
  };

  return async (req, res, url) => {
    const path = url.pathname;
    if (path !== '/api/search' && !path.startsWith('/api/search/')) return false;
    const post = req.method === 'POST' && path === '/api/search';
    if (req.method !== 'GET' && req.method !== 'HEAD' && !post) throw new HttpProblem(405, 'method_not_allowed', `${req.method ?? ''} not allowed on ${path}`);
    const thumb = /^\/api\/search\/thumbnails\/(\d{1,15})\.jpg$/.exec(path);
    if (thumb) {
      const jpeg = store.thumbnail(Number(thumb[1]));
      if (!jpeg) throw new HttpProblem(404, 'no_thumbnail', `no thumbnail for frame ${thumb[1]}`);
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length, 'cache-control': 'public, max-age=3600' });
      res.end(req.method === 'HEAD' ? undefined : jpeg);
      return true;
    }
    if (path !== '/api/search') return false;
    // Errors go to http-api.ts, which answers every route's the same way (http-problem.ts).
    if (post) {
      send(res, 200, await searchByImage(req, url));
      return true;
    }
    const parsed = SearchParamsSchema.safeParse(Object.fromEntries(url.searchParams));
    if (!parsed.success) throw new HttpProblem(400, 'bad_request', firstIssue(parsed.error));
    send(res, 200, await runSearch(searcher, withoutToken(parsed.data)));
    return true;
  };
}
