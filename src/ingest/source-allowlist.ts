import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { hostEntryAllows, hostMatches } from './host-guard.ts';
import { isV4l2Device } from './source-kind.ts';

export { hostMatches };

/**
 * What `POST /api/streams` may open. Nothing is allowed unless listed: an
 * HTTP API that lets anyone make the server read any file or reach any host
 * is a hole.
 */
export interface SourceAllowlist {
  /** URL schemes, e.g. ['rtsp', 'http', 'https']; 'file' for local paths. */
  schemes: readonly string[];
  /**
   * Host names or IPs for network URLs; '*.example.com' matches subdomains.
   * Without a port an entry allows every port of the host; `host:port`
   * (`[v6]:port`) allows that port only, a URL without a port counting as
   * its scheme's default one (rtsp 554, http 80, https 443, ...).
   */
  hosts: readonly string[];
  /** Folders local files must be inside, compared by real path (links resolved). */
  folders: readonly string[];
  /** V4L2 capture devices that may be opened, exact paths such as /dev/video0 (scheme 'v4l2' must be listed too). */
  devices?: readonly string[] | undefined;
}

export type AllowResult = { ok: true; url: string; scheme: string } | { ok: false; reason: string };

/** Schemes that only exist to combine or carve up other inputs: never from the API. */
const NEVER = new Set(['concat', 'subfile', 'crypto', 'data', 'pipe', 'fd', 'cache', 'async', 'tee', 'gopher', 'ftp', 'unix']);
const NETWORK = new Set(['rtsp', 'rtsps', 'http', 'https', 'srt', 'udp', 'rtmp', 'rtmps', 'tcp']);
/** The port a URL of this scheme reaches when it names none (ffmpeg's defaults); srt, udp and tcp have none. */
const DEFAULT_PORTS: Readonly<Record<string, number>> = { rtsp: 554, rtsps: 322, http: 80, https: 443, rtmp: 1935, rtmps: 443 };
const OUTSIDE = 'file is not inside an allowed folder';

/** Checks a source URL or path against the allowlist; returns the URL to open. */
export function checkSource(input: string, allow: SourceAllowlist | undefined): AllowResult {
  if (typeof input !== 'string' || input.trim() === '' || input.length > 4096) return { ok: false, reason: 'url must be a non-empty string' };
  if (/[\0\r\n]/.test(input)) return { ok: false, reason: 'url contains control characters' };
  if (!allow || allow.schemes.length === 0) return { ok: false, reason: 'adding sources at run time is disabled (no allowlist configured)' };
  const schemes = new Set(allow.schemes.map((s) => s.toLowerCase()));

  if (isV4l2Device(input)) {
    if (!schemes.has('v4l2') || !(allow.devices ?? []).includes(input)) return { ok: false, reason: `device ${input} is not in the allowlist` };
    return { ok: true, url: input, scheme: 'v4l2' };
  }
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(input);
  const scheme = match ? match[1]!.toLowerCase() : 'file';
  // ffmpeg reads a `+` scheme as a protocol stack (crypto+file:, subfile+...).
  if (scheme.includes('+')) return { ok: false, reason: `scheme "${scheme}:" stacks protocols and is never allowed` };
  if (NEVER.has(scheme)) return { ok: false, reason: `scheme "${scheme}:" is never allowed` };
  if (!schemes.has(scheme)) return { ok: false, reason: `scheme "${scheme}" is not in the allowlist` };

  if (scheme === 'file') {
    const path = match ? safeFileUrlPath(input) : input;
    if (path === undefined) return { ok: false, reason: 'malformed file URL' };
    if (!isAbsolute(path)) return { ok: false, reason: 'file sources must be absolute paths' };
    // `..` is resolved by the kernel after links, by path.resolve before them: refused, whatever the path, so the two never disagree.
    if (path.split(/[/\\]/).some((part) => part === '.' || part === '..')) return { ok: false, reason: 'file sources must be paths without . or .. segments' };
    // A path outside every allowed folder gets the same answer whether or not it exists,
    // so the API cannot be used to learn which files exist elsewhere.
    const real = realOrProjectedPath(path);
    const inside = real !== undefined && allow.folders.some((folder) => isInside(real.path, folder));
    if (!inside) return { ok: false, reason: OUTSIDE };
    if (!real.exists) return { ok: false, reason: 'file not found' };
    return { ok: true, url: real.path, scheme };
  }

  if (!NETWORK.has(scheme)) return { ok: false, reason: `scheme "${scheme}" is not a supported network source` };
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return { ok: false, reason: 'malformed URL' };
  }
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (!host) return { ok: false, reason: 'URL has no host' };
  // udp://@:1234 and similar listen on every interface rather than reach a host.
  if (input.slice(input.indexOf('://') + 3).startsWith('@')) return { ok: false, reason: 'URL has no host' };
  const port = url.port === '' ? DEFAULT_PORTS[scheme] : Number(url.port);
  if (!allow.hosts.some((h) => hostEntryAllows(h, host, port))) {
    return { ok: false, reason: `host "${host}"${url.port === '' ? '' : ` port ${url.port}`} is not in the allowlist` };
  }
  return { ok: true, url: url.toString(), scheme };
}

/** True when real path `real` lies strictly inside `folder` (compared by real path; a folder that does not exist holds nothing). */
function isInside(real: string, folder: string): boolean {
  let root: string;
  try {
    root = realpathSync(resolve(folder));
  } catch {
    return false;
  }
  const rel = relative(root, real);
  return rel !== '' && !isAbsolute(rel) && rel.split(sep)[0] !== '..';
}

/**
 * The real path of `path`; for a path that does not exist, the real path of
 * its deepest existing ancestor with the rest appended, which is where it
 * would be (so a missing name behind a link to /etc is judged as under
 * /etc). Undefined when no ancestor can be resolved.
 */
function realOrProjectedPath(path: string): { path: string; exists: boolean } | undefined {
  try {
    return { path: realpathSync(path), exists: true };
  } catch {
    // Walk up to an ancestor that resolves.
  }
  const rest: string[] = [];
  let current = resolve(path);
  for (;;) {
    const parent = dirname(current);
    rest.unshift(basename(current));
    if (parent === current) return undefined;
    current = parent;
    try {
      return { path: join(realpathSync(current), ...rest), exists: false };
    } catch {
      // keep walking up
    }
  }
}

function safeFileUrlPath(input: string): string | undefined {
  try {
    const url = new URL(input);
    if (url.host !== '' && url.host !== 'localhost') return undefined;
    return decodeURIComponent(url.pathname);
  } catch {
    return undefined;
  }
}

/**
 * ffmpeg's -protocol_whitelist for a source of this scheme: what it may
 * open, and nothing else. Nested opens (HLS segments and variant
 * playlists, redirects) inherit it, so an http playlist cannot make
 * ffmpeg read file:, concat: or subfile: inputs. Hosts are not its
 * business: http(s) sources go through the host guard proxy
 * (ingest/host-guard-proxy.ts), over plain http and tcp for https too.
 */
export function protocolWhitelistFor(scheme: string): string[] {
  switch (scheme) {
    case 'file':
      return ['file'];
    case 'v4l2':
      return ['file'];
    // crypto: AES-128 HLS segments (crypto+http://...), still only over http.
    case 'http':
      return ['http', 'tcp', 'crypto'];
    // Opened as http://host:443/... through the host guard proxy, which speaks TLS: ffmpeg needs
    // neither tls nor httpproxy (a playlist naming httpproxy://elsewhere/ would connect there directly).
    case 'https':
      return ['http', 'tcp', 'crypto'];
    case 'rtsp':
      return ['rtsp', 'rtp', 'udp', 'tcp'];
    case 'rtsps':
      return ['rtsps', 'rtsp', 'rtp', 'udp', 'tcp', 'tls'];
    case 'srt':
      return ['srt', 'udp'];
    case 'udp':
      return ['udp', 'rtp'];
    case 'rtmp':
      return ['rtmp', 'tcp'];
    case 'rtmps':
      return ['rtmps', 'rtmp', 'tcp', 'tls'];
    default:
      return [scheme];
  }
}
