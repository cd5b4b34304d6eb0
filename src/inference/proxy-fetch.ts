/**
 * `fetch` for `models pull` behind a proxy. Node 20's fetch ignores
 * HTTPS_PROXY and friends, so when a proxy is configured requests are made
 * here with node:http: an http:// URL as an absolute-form request to the
 * proxy; an https:// URL through a CONNECT tunnel, TLS to the target running
 * inside it (the proxy sees the host name, never the bytes). Hosts matched by
 * NO_PROXY are fetched directly. Redirects are followed hop by hop, each hop
 * choosing proxy or not for its own host (GitHub's `raw/` redirects to
 * another host).
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { ProxySettings } from '../config/loader.ts';

export interface ProxyFetchOptions {
  /** Certificates (PEM) trusted for https targets instead of Node's bundled CAs: a private CA. */
  ca?: string | Buffer | undefined;
  /** Redirects followed before giving up. Default 10, as curl's and browsers' order of magnitude. */
  maxRedirects?: number;
}

export const DEFAULT_MAX_REDIRECTS = 10;

/** The proxy `url` goes through, or undefined for a direct connection. */
export function proxyFor(url: URL, settings: ProxySettings): URL | undefined {
  const proxy = url.protocol === 'https:' ? settings.https : url.protocol === 'http:' ? settings.http : undefined;
  return proxy === undefined || bypassesProxy(url, settings.noProxy) ? undefined : proxy;
}

/**
 * Whether a NO_PROXY list sends `url` past the proxy, as curl reads it: `*`
 * matches every host; `example.com`, `.example.com` and `*.example.com` each
 * match example.com and every name under it; an IP address matches itself,
 * `10.0.0.0/8` (or an IPv6 range) the addresses in it; `host:port` only that
 * port. Case does not matter.
 */
export function bypassesProxy(url: URL, noProxy: readonly string[]): boolean {
  const host = bareHost(url).toLowerCase().replace(/\.$/, '');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return noProxy.some((raw) => {
    const entry = parseNoProxyEntry(raw);
    if (entry === undefined) return false;
    if (entry.port !== undefined && entry.port !== port) return false;
    switch (entry.kind) {
      case 'any':
        return true;
      case 'range': {
        const family = isIP(host);
        return family !== 0 && entry.list.check(host, family === 4 ? 'ipv4' : 'ipv6');
      }
      case 'ip':
        return host === entry.host;
      case 'name':
        return host === entry.host || host.endsWith(`.${entry.host}`);
    }
  });
}

type NoProxyEntry =
  { kind: 'any'; port?: undefined } | { kind: 'range'; list: BlockList; port?: undefined } | { kind: 'ip' | 'name'; host: string; port: string | undefined };

function parseNoProxyEntry(raw: string): NoProxyEntry | undefined {
  const text = raw.trim().toLowerCase();
  if (text === '') return undefined;
  if (text === '*') return { kind: 'any' };
  const slash = text.indexOf('/');
  if (slash > 0) {
    const address = text.slice(0, slash).replace(/^\[(.*)\]$/, '$1');
    const prefix = Number(text.slice(slash + 1));
    const family = isIP(address);
    if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) return undefined;
    const list = new BlockList();
    list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
    return { kind: 'range', list };
  }
  let host = text;
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1] as string;
    port = bracketed[2];
  } else if (text.split(':').length === 2) {
    // One colon: host:port. More: a bare IPv6 address, which carries no port.
    [host, port] = text.split(':') as [string, string];
  }
  if (isIP(host) !== 0) return { kind: 'ip', host, port };
  host = host.replace(/^\*/, '').replace(/^\./, '').replace(/\.$/, '');
  return host === '' ? undefined : { kind: 'name', host, port };
}

/**
 * A fetch (GET and HEAD, `redirect` follow/manual/error, `signal`) that
 * honours `settings`. The Response it gives has the final URL in `url`; its
 * body is the raw bytes (no content decoding: ask for `identity`).
 */
export function createProxyFetch(settings: ProxySettings, options: ProxyFetchOptions = {}): typeof fetch {
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    let url = new URL(input instanceof Request ? input.url : input);
    const method = (init?.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') throw new TypeError(`only GET and HEAD are supported, got ${method}`);
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, name) => (headers[name] = value));
    const signal = init?.signal ?? undefined;
    for (let hop = 0; ; hop++) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`cannot fetch ${url.protocol} URLs`);
      const res = await requestOnce(url, method, headers, signal, settings, options);
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(status) || location === undefined || init?.redirect === 'manual') {
        return toResponse(res, url, method);
      }
      res.resume();
      if (init?.redirect === 'error') throw new TypeError(`redirect from ${url.host} refused (redirect: 'error')`);
      if (hop >= maxRedirects) throw new Error(`more than ${maxRedirects} redirects, the last from ${url.host}`);
      url = new URL(location, url);
    }
  };
}

/** One request, direct or through the proxy; resolves at the response's headers. */
function requestOnce(
  url: URL,
  method: string,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
  settings: ProxySettings,
  options: ProxyFetchOptions,
): Promise<IncomingMessage> {
  const proxy = proxyFor(url, settings);
  const target: OutgoingHttpHeaders = { ...headers, host: url.host };
  if (proxy === undefined) {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return awaitResponse(send(url, { method, headers: target, signal, agent: false, ...(options.ca === undefined ? {} : { ca: options.ca }) }));
  }
  if (url.protocol === 'http:') {
    // Absolute-form request line: the proxy fetches the URL for us.
    return awaitResponse(
      httpRequest({
        host: bareHost(proxy),
        port: proxy.port || 80,
        method,
        path: url.href,
        headers: { ...target, ...proxyAuthorization(proxy) },
        signal,
        agent: false,
      }),
    );
  }
  return openTunnel(proxy, url, signal).then((socket) => {
    const host = bareHost(url);
    const tls = tlsConnect({
      socket,
      host,
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ALPNProtocols: ['http/1.1'],
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
    return awaitResponse(
      httpRequest({
        host,
        port: url.port || 443,
        method,
        path: `${url.pathname}${url.search}`,
        headers: target,
        signal,
        createConnection: () => tls,
      }),
    );
  });
}

/** A TCP connection to `target`'s host and port through the proxy (HTTP CONNECT). */
function openTunnel(proxy: URL, target: URL, signal: AbortSignal | undefined): Promise<Socket> {
  const authority = `${target.hostname}:${target.port || 443}`;
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: bareHost(proxy),
      port: proxy.port || 80,
      method: 'CONNECT',
      path: authority,
      headers: { host: authority, ...proxyAuthorization(proxy) },
      signal,
      agent: false,
    });
    req.once('connect', (res, socket, head) => {
      if (res.statusCode === 200) {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
        return;
      }
      socket.destroy();
      reject(
        new Error(`proxy ${proxy.host} refused to connect to ${authority}: HTTP ${res.statusCode ?? '?'}${res.statusMessage ? ` ${res.statusMessage}` : ''}`),
      );
    });
    req.once('error', reject);
    req.end();
  });
}

function awaitResponse(req: ClientRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
}

function toResponse(res: IncomingMessage, url: URL, method: string): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  const status = res.statusCode ?? 0;
  const noBody = method === 'HEAD' || status === 204 || status === 205 || status === 304;
  if (noBody) res.resume();
  const body = noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
  const response = new Response(body, { status, statusText: res.statusMessage ?? '', headers });
  // A constructed Response has an empty url; callers name the host that answered.
  Object.defineProperty(response, 'url', { value: url.href });
  return response;
}

function proxyAuthorization(proxy: URL): Record<string, string> {
  if (proxy.username === '' && proxy.password === '') return {};
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { 'proxy-authorization': `Basic ${Buffer.from(credentials).toString('base64')}` };
}

/** The host name without IPv6 brackets, as sockets want it. */
function bareHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}
