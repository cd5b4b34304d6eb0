/**
 * A forward HTTP proxy on 127.0.0.1 that the ffmpeg of one http(s) source
 * is made to use (`-http_proxy`), so that every request it makes, the
 * playlist's segments, variant playlists, keys and redirects included, is
 * checked against the source's host rules (host-guard.ts). ffmpeg's
 * protocol whitelist cannot do this: it tells protocols apart, not hosts.
 *
 * - Absolute-URI requests (`GET http://host:port/path`), forwarded with
 *   keep-alive upstream; bodies are streamed, never buffered (an MJPEG
 *   response never ends), playlists excepted (below).
 * - https sources: ffmpeg is given the URL over plain http
 *   (host-guard.ts `downgradeHttpsUrl`) and the proxy speaks TLS to the
 *   targets in `tlsTargets`. ffmpeg's own TLS through a proxy would need
 *   its `httpproxy` protocol whitelisted, and a playlist could then name a
 *   `httpproxy://other-host/` segment that connects there directly
 *   (checked: Debian's ffmpeg 5.1 opens it). So https:// URLs in HLS
 *   playlists (body up to `maxPlaylistBytes`) and in redirects are
 *   rewritten to http:// for ffmpeg to ask the proxy; the allowed ones
 *   join `tlsTargets`, the others are refused like any host. Certificates
 *   are not verified, as ffmpeg 5.1 does not by default (`tls_verify` 0).
 * - CONNECT is answered too (checked the same way), for a client that
 *   tunnels its own TLS.
 * - A target not allowed gets 403, and `onRefused` is called so the
 *   stream can stop the run at once with a clear reason, rather than wait
 *   for ffmpeg to give up on segment after segment.
 *
 * `close()` destroys every socket, both sides, and the upstream pool.
 */
import {
  Agent,
  createServer,
  request as httpRequest,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { StreamSightError } from '../shared/errors.ts';
import {
  downgradeHttpsUrls,
  formatTarget,
  isTargetAllowed,
  parseAuthority,
  targetKey,
  targetOfUrl,
  type HostGuardRules,
  type HostTarget,
} from './host-guard.ts';

/** A request of the source's ffmpeg went to a host the source may not reach. */
export class HostRefusedError extends StreamSightError {
  readonly code = 'E_SOURCE_HOST_REFUSED';
  override readonly exitCode = 5;
}

export interface HostGuardProxyOptions {
  rules: HostGuardRules;
  /** Targets reached over TLS (an https source's own); more join from rewritten playlists and redirects. */
  tlsTargets?: readonly HostTarget[] | undefined;
  /** Playlists (HLS) larger than this are passed on unrewritten, bytes; default 1 MiB. */
  maxPlaylistBytes?: number | undefined;
  /** Each refused request, with its target (`host:port`) and the URL or authority asked for. */
  onRefused?: ((target: string, asked: string) => void) | undefined;
  /** An allowed target could not be reached (connect error, reset). */
  onUpstreamError?: ((target: string, error: Error) => void) | undefined;
  /** Each playlist relayed whole, with the URL ffmpeg asked for and its text as the server sent it. */
  onPlaylist?: ((url: string, text: string) => void) | undefined;
}

/** Headers that concern one connection, not the message (RFC 9110 7.6.1), and the proxy's own. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? '')
      .toLowerCase()
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(k) && !named.has(k) && v !== undefined) out[k] = v;
  }
  return out;
}

/** An HLS playlist, by its content type or, failing that, its extension. */
function isPlaylist(path: string, contentType: string | string[] | undefined): boolean {
  const type = String(contentType ?? '').toLowerCase();
  if (/mpegurl/.test(type)) return true;
  return /\.m3u8?$/i.test(path) && !/^(video|audio|image)\//.test(type);
}

/** A 200, or a 206 that holds the whole body (`bytes 0-N/N+1`, what `Range: bytes=0-` gets). */
function isWholeBody(status: number | undefined, contentRange: string | string[] | undefined): boolean {
  if (status === 200) return true;
  const m = status === 206 ? /^bytes 0-(\d+)\/(\d+)$/.exec(String(contentRange ?? '')) : null;
  return m !== null && Number(m[1]) + 1 === Number(m[2]);
}

export class HostGuardProxy {
  /** Requests refused so far (plain and CONNECT). */
  refusedCount = 0;
  private readonly server: Server;
  private readonly agent = new Agent({ keepAlive: true, maxFreeSockets: 4 });
  // rejectUnauthorized false: what ffmpeg 5.1 does over https by default (cameras carry self-signed certificates).
  private readonly tlsAgent = new HttpsAgent({ keepAlive: true, maxFreeSockets: 4, rejectUnauthorized: false });
  private readonly tls = new Set<string>();
  /** Client sockets (ffmpeg's) and upstream sockets of tunnels and requests in flight. */
  private readonly sockets = new Set<Duplex>();
  private address: string | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: HostGuardProxyOptions) {
    for (const t of opts.tlsTargets ?? []) this.tls.add(targetKey(t));
    this.server = createServer({ noDelay: true, keepAlive: true });
    this.server.on('connection', (s: Socket) => this.track(s));
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
    this.server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onConnect(req, socket, head));
    // A client that sends junk gets 400 from node:http; nothing to report.
    this.server.on('clientError', (_err: Error, socket: Duplex) => socket.destroy());
  }

  /** Listens on 127.0.0.1 (a free port); resolves to the proxy's URL, `http://127.0.0.1:PORT`. */
  async start(): Promise<string> {
    if (this.address) return this.address;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const { port } = this.server.address() as { port: number };
    this.address = `http://127.0.0.1:${port}`;
    return this.address;
  }

  /** The proxy's URL; throws before start(). */
  get url(): string {
    if (!this.address) throw new Error('HostGuardProxy not started');
    return this.address;
  }

  /** Sockets open now, both sides (for leak checks). */
  get openSockets(): number {
    return this.sockets.size;
  }

  /** Idempotent: stops listening, destroys every socket and the upstream pool. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
      this.agent.destroy();
      this.tlsAgent.destroy();
    });
    return this.closing;
  }

  private track(s: Duplex): void {
    if (this.closing) {
      s.destroy();
      return;
    }
    // A pooled upstream socket comes back for each request it carries: one listener is enough.
    if (this.sockets.has(s)) return;
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  private refuse(target: HostTarget, asked: string): string {
    this.refusedCount++;
    const shown = formatTarget(target);
    this.opts.onRefused?.(shown, asked);
    return `host guard: ${shown} is not allowed for this stream\n`;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const asked = req.url ?? '';
    // Only absolute http:// URIs are proxy requests; https comes as CONNECT.
    const target = /^http:\/\//i.test(asked) ? targetOfUrl(asked) : undefined;
    if (!target) {
      res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' }).end('host guard: only absolute http:// requests and CONNECT are proxied\n');
      return;
    }
    if (!isTargetAllowed(this.opts.rules, target)) {
      res.writeHead(403, { 'content-type': 'text/plain', connection: 'close' }).end(this.refuse(target, asked));
      return;
    }
    const url = new URL(asked);
    const headers = endToEnd(req.headers);
    headers.host ??= url.host;
    // RFC 9110 7.6.3: a proxy says so (and tests see that a request came through the guard).
    headers.via = `${headers.via ? `${String(headers.via)}, ` : ''}1.1 streamsight-host-guard`;
    const overTls = this.tls.has(targetKey(target));
    const common = { host: target.host, port: target.port, method: req.method, path: `${url.pathname}${url.search}`, headers, setHost: false };
    const upstream: ClientRequest = overTls
      ? httpsRequest({ ...common, agent: this.tlsAgent, ...(isIP(target.host) === 0 ? { servername: target.host } : {}) })
      : httpRequest({ ...common, agent: this.agent });
    upstream.on('socket', (s: Socket) => {
      s.setNoDelay(true);
      this.track(s);
    });
    upstream.on('response', (up: IncomingMessage) => {
      const out = endToEnd(up.headers);
      if (typeof out.location === 'string') out.location = this.downgrade(out.location);
      up.once('aborted', () => res.destroy());
      up.once('error', () => res.destroy());
      // A compressed body cannot be rewritten as text: it goes on as it is.
      if (isPlaylist(url.pathname, out['content-type']) && isWholeBody(up.statusCode, out['content-range']) && out['content-encoding'] === undefined) {
        // ffmpeg asks for `Range: bytes=0-`; a 206 of the whole body is sent on as the 200 it amounts to.
        delete out['content-range'];
        this.relayPlaylist(asked, up, res, out);
        return;
      }
      res.writeHead(up.statusCode ?? 502, up.statusMessage, out);
      // Streamed as it comes: an MJPEG body never ends.
      up.pipe(res);
    });
    upstream.on('error', (err: Error) => {
      this.opts.onUpstreamError?.(formatTarget(target), err);
      if (!res.headersSent) {
        res
          .writeHead(502, { 'content-type': 'text/plain', connection: 'close' })
          .end(`host guard: ${formatTarget(target)} cannot be reached: ${(err as NodeJS.ErrnoException).code ?? err.message}\n`);
      } else {
        res.destroy();
      }
    });
    // ffmpeg went away (stopped, killed) mid-response: drop the upstream request too.
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  /** https:// URLs in `text` turned into http:// ones for ffmpeg; the allowed targets are then reached over TLS. */
  private downgrade(text: string): string {
    const d = downgradeHttpsUrls(text, this.opts.rules);
    for (const t of d.tls) this.tls.add(targetKey(t));
    return d.text;
  }

  /** A playlist is read whole (it is small), its https:// URLs rewritten, then sent on. */
  private relayPlaylist(asked: string, up: IncomingMessage, res: ServerResponse, headers: IncomingHttpHeaders): void {
    const max = this.opts.maxPlaylistBytes ?? 1024 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    const passOn = (): void => {
      // Too large for a playlist: sent on as it is (its https:// URLs, if any, then fail the protocol whitelist).
      res.writeHead(200, up.statusMessage, headers);
      for (const c of chunks) res.write(c);
      up.pipe(res);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > max) {
        up.off('data', onData).off('end', onEnd);
        up.pause();
        passOn();
      }
    };
    const onEnd = (): void => {
      const text = Buffer.concat(chunks).toString('utf8');
      this.opts.onPlaylist?.(asked, text);
      const body = Buffer.from(this.downgrade(text), 'utf8');
      res.writeHead(200, up.statusMessage, { ...headers, 'content-length': String(body.length) });
      res.end(body);
    };
    up.on('data', onData).once('end', onEnd);
  }

  private onConnect(req: IncomingMessage, client: Duplex, head: Buffer): void {
    const asked = req.url ?? '';
    const target = parseAuthority(asked);
    client.on('error', () => client.destroy());
    if (!target) {
      client.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (!isTargetAllowed(this.opts.rules, target)) {
      const body = this.refuse(target, asked);
      client.end(`HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      return;
    }
    const upstream = netConnect({ host: target.host, port: target.port, noDelay: true });
    this.track(upstream);
    let established = false;
    upstream.once('connect', () => {
      established = true;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', (err: Error) => {
      this.opts.onUpstreamError?.(formatTarget(target), err);
      if (!established) client.end(`HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      else client.destroy();
    });
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
  }
}
