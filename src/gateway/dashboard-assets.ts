import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isWellFormedTarget, MALFORMED_TARGET_MESSAGE } from './request-target.ts';

/** The dashboard's static files: plain HTML, CSS and ES modules, no build step. */
export const DASHBOARD_DIR = fileURLToPath(new URL('./dashboard/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
};

/**
 * The page may talk to its own origin only (HTTP and, in CSP 3, ws/wss to the
 * same host). The token can sit in the page URL, so no Referer ever leaves it.
 */
const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

interface AssetTable {
  index: Asset;
  /** By bare file name, as requested under /dashboard/. */
  files: ReadonlyMap<string, Asset>;
}

/**
 * Reads every servable file of `dir` once. Request paths are only ever looked
 * up in this table, never joined onto a folder, so no request can reach a file
 * outside it (`..`, encoded slashes, links to elsewhere: all simply unknown).
 */
export function loadDashboardAssets(dir: string = DASHBOARD_DIR): AssetTable {
  const files = new Map<string, Asset>();
  let index: Asset | undefined;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const type = CONTENT_TYPES[extname(entry.name).toLowerCase()];
    if (!entry.isFile() || type === undefined || entry.name.startsWith('.')) continue;
    const body = readFileSync(join(dir, entry.name));
    const asset: Asset = { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
    if (entry.name === 'index.html') index = asset;
    // index.html only at `/`: its relative links (dashboard/app.js, ws, api/...) resolve from there.
    else files.set(entry.name, asset);
  }
  if (index === undefined) throw new Error(`dashboard: no index.html in ${dir}`);
  return { index, files };
}

let table: AssetTable | undefined;

/**
 * Answers `GET|HEAD /` (the dashboard page) and `GET|HEAD /dashboard/<file>`.
 * Returns false, touching nothing, when the path is not one of these, so the
 * caller can try its other routes.
 *
 * Files are not fingerprinted (there is no build step), so every response is
 * `Cache-Control: no-cache` with a strong ETag: a page left open all day
 * revalidates for a 304 instead of running stale code after an upgrade.
 */
export function serveDashboardAsset(req: IncomingMessage, res: ServerResponse): boolean {
  const path = pathOf(req.url);
  let name: string | undefined;
  if (path === '/') name = 'index.html';
  else if (path !== undefined && path.startsWith('/dashboard/')) name = path.slice('/dashboard/'.length);
  if (name === undefined) return false;
  // Names are never decoded here, but a malformed target is answered as by every other route.
  if (!isWellFormedTarget(req.url ?? '/')) {
    send(res, 400, { 'Content-Type': 'text/plain; charset=utf-8' }, `${MALFORMED_TARGET_MESSAGE}\n`, req.method === 'HEAD');
    return true;
  }

  table ??= loadDashboardAssets();
  const asset = name === 'index.html' && path === '/' ? table.index : table.files.get(name);
  if (asset === undefined) {
    send(res, 404, { 'Content-Type': 'text/plain; charset=utf-8' }, 'not found\n', req.method === 'HEAD');
    return true;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }, 'method not allowed\n', false);
    return true;
  }
  const headers: Record<string, string> = {
    'Content-Type': asset.type,
    'Cache-Control': 'no-cache',
    ETag: asset.etag,
    'X-Content-Type-Options': 'nosniff',
    ...(asset === table.index ? PAGE_HEADERS : {}),
  };
  if (etagMatches(req.headers['if-none-match'], asset.etag)) {
    send(res, 304, headers, undefined, true);
    return true;
  }
  headers['Content-Length'] = String(asset.body.length);
  send(res, 200, headers, asset.body, req.method === 'HEAD');
  return true;
}

/** The decoded-free path part of a request target; undefined for junk. */
function pathOf(url: string | undefined): string | undefined {
  if (url === undefined || !url.startsWith('/')) return undefined;
  const q = url.search(/[?#]/);
  return q === -1 ? url : url.slice(0, q);
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer | undefined, headOnly: boolean): void {
  res.writeHead(status, headers);
  res.end(headOnly ? undefined : body);
}
