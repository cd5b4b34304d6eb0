/**
 * Downloads a model file so that `dest` only ever holds a complete, verified
 * file: bytes go to `dest + '.part'`, an interrupted download resumes from
 * the .part with an HTTP Range request, the sha256 of the whole file is
 * checked, and only then is the .part renamed over `dest` (same folder, so
 * the rename is atomic).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ProxySettings } from '../config/loader.ts';
import { ChecksumMismatchError, DownloadError, OutputError } from '../shared/errors.ts';
import { createProxyFetch, proxyFor } from './proxy-fetch.ts';

export interface DownloadOptions {
  /** Expected sha256 of the whole file, hex. */
  sha256: string;
  /** Expected size in bytes; when given, a longer body is cut off early and a .part of this size is verified without a request. */
  bytes?: number;
  /** Called after every chunk with the bytes on disk so far (resumed bytes included) and the expected total, when known. */
  onProgress?: (received: number, total: number | undefined) => void;
  /** Aborting rejects with the signal's reason and keeps the .part for a later resume. */
  signal?: AbortSignal;
  /**
   * Proxies (config/loader.ts proxySettingsFromEnv): when one is set, requests
   * go through proxy-fetch.ts, which speaks to it (Node's fetch does not).
   */
  proxy?: ProxySettings | undefined;
  /** For tests; default the global fetch, or the proxy-aware one when `proxy` names a proxy. */
  fetchImpl?: typeof fetch;
  /** Give up when no data arrives for this long, ms: bounds the wait for headers and every gap between chunks. Default 30 000. */
  stallTimeoutMs?: number;
}

export interface DownloadResult {
  path: string;
  /** Size of the verified file, bytes. */
  bytes: number;
  /** Bytes this call fetched over the network (0 when dest was already good). */
  fetched: number;
  /** Bytes of an earlier .part that were kept, 0 for a fresh download. */
  resumedFrom: number;
  /** dest already held the right file; nothing was fetched. */
  alreadyPresent: boolean;
}

export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/**
 * Fetches `url` into `dest`, resuming and verifying as described above.
 * Throws ChecksumMismatchError (and removes the .part) when the bytes are
 * wrong, DownloadError (keeping the .part) when the network fails, and never
 * touches an existing `dest` unless a verified file replaces it.
 */
export async function downloadModel(url: string, dest: string, options: DownloadOptions): Promise<DownloadResult> {
  checkArguments(url, dest, options);
  const expected = options.sha256.toLowerCase();
  const part = `${dest}.part`;
  await mkdir(dirname(dest), { recursive: true });

  const existing = await sizeOf(dest);
  if (existing !== undefined && (options.bytes === undefined || existing === options.bytes)) {
    if ((await sha256File(dest)) === expected) {
      return { path: dest, bytes: existing, fetched: 0, resumedFrom: 0, alreadyPresent: true };
    }
  }

  // Two passes at most: when a resumed file fails verification the kept
  // prefix may be stale (the upstream file changed), so start once from zero.
  for (let pass = 0; ; pass++) {
    let offset = pass === 0 ? await usablePartSize(part, options.bytes) : 0;
    if (pass > 0) await rm(part, { force: true });

    let fetched = 0;
    if (options.bytes === undefined || offset < options.bytes) {
      const got = await fetchInto(url, part, offset, options);
      offset = got.resumedFrom;
      fetched = got.fetched;
    } else {
      options.onProgress?.(offset, options.bytes);
    }

    const size = (await sizeOf(part)) ?? 0;
    const actual = await sha256File(part);
    if (actual === expected && (options.bytes === undefined || size === options.bytes)) {
      try {
        await rename(part, dest);
      } catch (err) {
        throw new OutputError(`cannot move ${part} to ${dest}: ${errorCode(err)}`, { cause: err });
      }
      return { path: dest, bytes: size, fetched, resumedFrom: offset, alreadyPresent: false };
    }
    await rm(part, { force: true });
    if (offset > 0 && pass === 0) continue;
    throw new ChecksumMismatchError(
      `download from ${hostOf(url)} does not match the manifest: sha256 ${actual} (${size} bytes), expected ${expected}` +
        (options.bytes === undefined ? '' : ` (${options.bytes} bytes)`),
      { hint: 'the file was removed; try again, and if it persists the source or the manifest changed' },
    );
  }
}

interface FetchOutcome {
  /** Bytes of the .part kept from before (0 when the server restarted us from zero). */
  resumedFrom: number;
  fetched: number;
}

/** One HTTP request: appends to (206) or rewrites (200) the .part. */
async function fetchInto(url: string, part: string, offset: number, options: DownloadOptions): Promise<FetchOutcome> {
  const proxy = options.proxy;
  const fetchImpl = options.fetchImpl ?? (proxy?.http !== undefined || proxy?.https !== undefined ? createProxyFetch(proxy) : fetch);
  const stallMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  const controller = new AbortController();
  const userSignal = options.signal;
  const onUserAbort = (): void => controller.abort(userSignal?.reason);
  if (userSignal?.aborted) throw userSignal.reason;
  userSignal?.addEventListener('abort', onUserAbort, { once: true });
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      controller.abort(new Error(`no data for ${stallMs} ms`));
    }, stallMs);
  };
  let host = describeHost(url, proxy);
  const networkError = (err: unknown, context: string): unknown => {
    if (userSignal?.aborted) return userSignal.reason;
    const reason = stalled ? `stalled, no data for ${formatSeconds(stallMs)}` : describeNetworkError(err);
    return new DownloadError(`download from ${host} failed${context}: ${reason}`, {
      cause: err,
      hint: 'run the same command again to resume',
    });
  };

  try {
    arm();
    // identity: a compressed body has no byte offsets a Range could resume from.
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    let res: Response;
    try {
      res = await fetchImpl(url, { headers, redirect: 'follow', signal: controller.signal });
    } catch (err) {
      throw networkError(err, '');
    }
    if (res.url) host = describeHost(res.url, proxy);

    if (offset > 0 && res.status === 416) {
      // The .part already reaches the end (or is longer than the file): verify it.
      await res.body?.cancel();
      return { resumedFrom: offset, fetched: 0 };
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new DownloadError(`download from ${host} failed: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`, {
        hint: res.status >= 500 ? 'the server had a problem; try again later' : undefined,
      });
    }
    let start = 0;
    let total = options.bytes;
    if (res.status === 206) {
      const range = parseContentRange(res.headers.get('content-range'));
      if (!range || range.start !== offset) {
        // A range we did not ask for cannot be appended; fetch the whole file.
        await res.body?.cancel();
        return await fetchInto(url, part, 0, options);
      }
      start = offset;
      total ??= range.total;
    } else {
      // 200 to a Range request: the server ignores ranges, so the body is the whole file.
      const length = Number(res.headers.get('content-length') ?? NaN);
      total ??= Number.isFinite(length) ? length : undefined;
    }
    if (!res.body) throw networkError(new Error('empty response body'), '');

    const fh = await openPart(part, start === 0 ? 'w' : 'a');
    let received = start;
    const reader = res.body.getReader();
    try {
      options.onProgress?.(received, total);
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (err) {
          throw networkError(err, ` after ${received} bytes`);
        }
        if (chunk.done) break;
        arm();
        if (options.bytes !== undefined && received + chunk.value.byteLength > options.bytes) {
          await rm(part, { force: true });
          throw new ChecksumMismatchError(`download from ${host} is longer than the manifest's ${options.bytes} bytes; the file was removed`);
        }
        try {
          await fh.write(chunk.value);
        } catch (err) {
          throw new OutputError(`cannot write ${part}: ${errorCode(err)}`, { cause: err });
        }
        received += chunk.value.byteLength;
        options.onProgress?.(received, total);
      }
    } finally {
      await fh.close();
    }
    if (total !== undefined && received < total) {
      throw new DownloadError(`download from ${host} failed: connection closed after ${received} of ${total} bytes`, {
        hint: 'run the same command again to resume',
      });
    }
    return { resumedFrom: start, fetched: received - start };
  } finally {
    clearTimeout(timer);
    userSignal?.removeEventListener('abort', onUserAbort);
    // Releases the socket of a body we stopped reading.
    if (!controller.signal.aborted) controller.abort();
  }
}

/** `bytes 100-199/200` -> { start: 100, total: 200 }; total undefined for `/*`. */
export function parseContentRange(header: string | null): { start: number; end: number; total: number | undefined } | undefined {
  const m = header ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(header.trim()) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** One short reason for a failed fetch, from undici's error and its cause. */
export function describeNetworkError(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const code = (cause as { code?: unknown } | null)?.code ?? (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found (no network?)';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
    case 'EPIPE':
      return 'connection cut';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connection timed out';
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return 'network unreachable';
    default: {
      const message = cause instanceof Error ? cause.message : String(cause);
      return typeof code === 'string' ? `${message} (${code})` : message;
    }
  }
}

function checkArguments(url: string, dest: string, options: DownloadOptions): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`url must be an absolute http(s) URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TypeError(`url must be http or https, got ${parsed.protocol}`);
  }
  if (typeof dest !== 'string' || dest === '') throw new TypeError('dest must be a file path');
  if (typeof options?.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(options.sha256)) {
    throw new TypeError('options.sha256 must be 64 hex digits');
  }
  if (options.bytes !== undefined && !(Number.isSafeInteger(options.bytes) && options.bytes > 0)) {
    throw new RangeError(`options.bytes must be a positive integer, got ${options.bytes}`);
  }
  if (options.stallTimeoutMs !== undefined && !(options.stallTimeoutMs > 0)) {
    throw new RangeError(`options.stallTimeoutMs must be > 0 ms, got ${options.stallTimeoutMs}`);
  }
}

/** Size of a .part worth resuming; a .part longer than the file is removed. */
async function usablePartSize(part: string, bytes: number | undefined): Promise<number> {
  const size = await sizeOf(part);
  if (size === undefined) return 0;
  if (bytes !== undefined && size > bytes) {
    await rm(part, { force: true });
    return 0;
  }
  return size;
}

async function openPart(part: string, flags: 'w' | 'a') {
  try {
    return await open(part, flags);
  } catch (err) {
    throw new OutputError(`cannot write ${part}: ${errorCode(err)}`, { cause: err });
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** `host`, or `host via proxy proxyhost:port` (never the proxy's credentials). */
function describeHost(url: string, proxy: ProxySettings | undefined): string {
  const through = proxy === undefined ? undefined : URL.canParse(url) ? proxyFor(new URL(url), proxy) : undefined;
  return through === undefined ? hostOf(url) : `${hostOf(url)} via proxy ${through.host}`;
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
}

function formatSeconds(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}
