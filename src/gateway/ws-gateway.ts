/**
 * The WebSocket feed (docs/PROTOCOL.md, protocol version 1), attached to
 * an http.Server that someone else routes: it handles only the 'upgrade'
 * requests for its path, authorises them before the handshake completes, and
 * fans results, events and status out to the subscribed clients, each
 * through its own bounded queue (see ws-client.ts).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { FrameResult, LabelEvent, StreamInfo, StreamStatus } from '../contracts/results.ts';
import { PROTOCOL_VERSION, type ClientMessage, type ServerMessage } from '../contracts/ws-messages.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import { authorizeUpgrade } from './auth.ts';
import { parseClientMessage } from './client-message.ts';
import { DEFAULT_QUEUE_BYTES } from './client-queue.ts';
import { FrameEncoder, encodeMessage } from './frame-message.ts';
import { isWellFormedTarget, MALFORMED_TARGET_MESSAGE } from './request-target.ts';
import { ResultRing } from './result-ring.ts';
import { createSubscription, labelMatches, subscribesTo, withoutStreams } from './subscription.ts';
import { DEFAULT_SOCKET_HIGH_WATER_BYTES, WsClient, type WsClientStats } from './ws-client.ts';

export interface WsGatewayOptions {
  /** The server whose 'upgrade' requests are handled. */
  server: Server;
  /** Request path of the feed (default '/ws'); other paths are left to other 'upgrade' listeners. */
  path?: string;
  /** When set, clients must send it (`Authorization: Bearer T` or `?token=T`), else HTTP 401 before the upgrade. */
  token?: string;
  /** When set, a handshake with another `Origin` gets HTTP 403 (one without `Origin`, i.e. not a browser, passes). */
  allowedOrigins?: readonly string[];
  /** Largest client message, bytes (config `server.maxMessageBytes`); past it the connection is closed with 1009. */
  maxMessageBytes: number;
  /** Frame messages queued per client at most, count (config `server.clientQueueMessages`); the oldest go first. */
  clientQueueMessages: number;
  /** Bytes queued per client at most, bytes (default 4 MiB); the oldest frame messages go first. */
  clientQueueBytes?: number;
  /** Bytes waiting in a client's socket buffer before the queue holds messages back, bytes (default 64 KiB). */
  socketHighWaterBytes?: number;
  /**
   * WebSocket clients connected at once, count (config `server.maxClients`). The upgrade past it is answered HTTP 503 before the
   * handshake, so a flood of clients costs a refused request each, not a
   * queue and a socket held open.
   */
  maxClients: number;
  /** Ping period, milliseconds (config `server.heartbeatIntervalMs`); a client with no pong since the previous ping is terminated. 0 = no heartbeat. */
  heartbeatIntervalMs: number;
  /** Results kept per stream for `replay`, count (config `server.replayLimit`). */
  replayLimit: number;
  /** How long `close()` waits for clients to complete the closing handshake before cutting them off, milliseconds (default 2000). */
  closeTimeoutMs?: number;
  /** The streams as they are now (for `hello`, `*` and `unknown_stream`). */
  listStreams: () => StreamInfo[];
  logger: Logger;
  metrics?: Metrics;
}

type ErrorMessage = Extract<ServerMessage, { type: 'error' }>;

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' };

/** Answers an upgrade request with an HTTP error and closes the connection (the handshake never completes). */
function refuseUpgrade(socket: Duplex, status: number, body: ErrorMessage | { type: 'error'; code: string; message: string }): void {
  const json = JSON.stringify(body);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
  );
}

export class WsGateway {
  readonly path: string;
  private readonly options: WsGatewayOptions;
  private readonly wss: WebSocketServer;
  private readonly clients = new Map<number, WsClient>();
  private readonly ring: ResultRing;
  /**
   * The encoder of each result the ring keeps, so a replay reuses the
   * encodings made when it was published (and a client asking for replay
   * again and again costs queue pushes, not serialisation).
   */
  private readonly encoders = new WeakMap<FrameResult, FrameEncoder>();
  private readonly log: Logger;
  private readonly heartbeat: NodeJS.Timeout | undefined;
  /** prom-client children per message type, looked up once: the fan-out counts every message. */
  private readonly sentCounters = new Map<string, { inc: () => void }>();
  private readonly maxClients: number;
  /** True from the first upgrade refused for `maxClients` until a client leaves: one warning per time the cap is reached. */
  private capWarned = false;
  private nextClientId = 1;
  private closing: Promise<void> | undefined;
  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => this.handleUpgrade(req, socket, head);

  constructor(options: WsGatewayOptions) {
    this.options = options;
    this.path = options.path ?? '/ws';
    this.log = options.logger.child({ component: 'ws-gateway' });
    const maxPayload = options.maxMessageBytes;
    if (!Number.isInteger(maxPayload) || maxPayload < 1) throw new RangeError(`maxMessageBytes must be an integer >= 1, got ${maxPayload}`);
    const heartbeatMs = options.heartbeatIntervalMs;
    if (!(heartbeatMs >= 0)) throw new RangeError(`heartbeatIntervalMs must be >= 0, got ${heartbeatMs}`);
    this.maxClients = options.maxClients;
    if (!(this.maxClients >= 1)) throw new RangeError(`maxClients must be >= 1, got ${this.maxClients}`);
    this.ring = new ResultRing({ capacity: options.replayLimit });
    // No compression: it would cost CPU per client per message and hide the
    // bytes actually queued from the bounds.
    this.wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false, clientTracking: false });
    options.server.on('upgrade', this.onUpgrade);
    if (heartbeatMs > 0) {
      this.heartbeat = setInterval(() => this.beat(), heartbeatMs);
      this.heartbeat.unref();
    }
  }

  /** Connected clients. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Buffers and drops of every connected client. */
  clientStats(): WsClientStats[] {
    return [...this.clients.values()].map((c) => c.stats());
  }

  /**
   * Sends a frame result to every client whose subscription it passes.
   * Idempotent on (stream, run, seq): a result seen already is ignored.
   * Latency is measured by the publisher (pipeline/live-result-publisher.ts), once per frame.
   */
  publishFrame(r: FrameResult): void {
    if (this.closing !== undefined) return;
    if (!this.ring.add(r)) return;
    const encoder = new FrameEncoder(r);
    this.encoders.set(r, encoder);
    for (const c of this.clients.values()) {
      if (!subscribesTo(c.subscription, r.stream)) continue;
      const data = encoder.encodeFor(c.subscription);
      if (data !== null) c.send({ data, type: 'frame', frameOf: r.stream });
    }
  }

  /** Sends a label event to the clients subscribed to its stream whose label filter (if any) names the label. */
  publishEvent(e: LabelEvent): void {
    if (this.closing !== undefined) return;
    const data = encodeMessage({ type: 'event', stream: e.stream, label: e.label, kind: e.kind, ptsMs: e.ptsMs, capturedAt: e.capturedAt, score: e.score });
    for (const c of this.clients.values()) {
      if (subscribesTo(c.subscription, e.stream) && labelMatches(c.subscription, e.label)) c.send({ data, type: 'event' });
    }
  }

  /** Sends a stream's state to every client subscribed to the stream. */
  publishStatus(s: StreamStatus): void {
    if (this.closing !== undefined) return;
    const msg: ServerMessage = { type: 'status', stream: s.stream, state: s.state };
    if (s.detail !== undefined) msg.detail = s.detail;
    const data = encodeMessage(msg);
    for (const c of this.clients.values()) {
      if (subscribesTo(c.subscription, s.stream)) c.send({ data, type: 'status' });
    }
  }

  /**
   * Stops accepting connections and the heartbeat, closes every client with
   * 1001 and resolves when they are gone (cut off after `closeTimeoutMs`).
   * Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.closeClients();
    return this.closing;
  }

  private async closeClients(): Promise<void> {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.options.server.off('upgrade', this.onUpgrade);
    const pending = [...this.clients.values()].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === WebSocket.CLOSED) return resolve();
          c.ws.once('close', () => resolve());
          c.ws.close(1001, 'server shutting down');
        }),
    );
    const timeoutMs = this.options.closeTimeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        for (const c of this.clients.values()) c.ws.terminate();
        resolve();
      }, timeoutMs);
    });
    await Promise.race([Promise.all(pending), timedOut]);
    clearTimeout(timer);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const wellFormed = isWellFormedTarget(req.url ?? '/');
    if (pathOf(req.url) !== this.path) {
      // Another listener may own that path; answer only when nobody else can.
      if (this.options.server.listenerCount('upgrade') !== 1) return;
      if (wellFormed) refuseUpgrade(socket, 404, { type: 'error', code: 'not_found', message: `no WebSocket at ${pathOf(req.url).slice(0, 100)}` });
      else refuseUpgrade(socket, 400, { type: 'error', code: 'bad_request', message: MALFORMED_TARGET_MESSAGE });
      return;
    }
    socket.on('error', (err) => this.log.debug({ err }, 'upgrade socket error'));
    if (this.closing !== undefined) {
      refuseUpgrade(socket, 503, { type: 'error', code: 'internal', message: 'server shutting down' });
      return;
    }
    if (!wellFormed) {
      refuseUpgrade(socket, 400, { type: 'error', code: 'bad_request', message: MALFORMED_TARGET_MESSAGE });
      return;
    }
    const decision = authorizeUpgrade(req.headers, req.url, { token: this.options.token, allowedOrigins: this.options.allowedOrigins });
    if (!decision.ok) {
      this.log.info({ remote: req.socket.remoteAddress, code: decision.code }, 'WebSocket upgrade refused');
      refuseUpgrade(socket, decision.status, { type: 'error', code: decision.code, message: decision.message });
      return;
    }
    // ws completes the handshake synchronously (no verifyClient), so the count cannot be passed by upgrades in flight.
    if (this.clients.size >= this.maxClients) {
      if (!this.capWarned) this.log.warn({ maxClients: this.maxClients }, 'WebSocket client limit reached: new clients are refused (503) until one leaves');
      this.capWarned = true;
      refuseUpgrade(socket, 503, {
        type: 'error',
        code: 'too_many_clients',
        message: `server full: ${this.maxClients} WebSocket clients connected; retry later`,
      });
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, socket, req));
  }

  private onConnection(ws: WebSocket, socket: Duplex, req: IncomingMessage): void {
    const id = this.nextClientId++;
    const metrics = this.options.metrics;
    const client = new WsClient(id, ws, socket, {
      queue: { maxFrames: this.options.clientQueueMessages, maxBytes: this.options.clientQueueBytes ?? DEFAULT_QUEUE_BYTES },
      socketHighWaterBytes: this.options.socketHighWaterBytes ?? DEFAULT_SOCKET_HIGH_WATER_BYTES,
      onSent: metrics ? (type) => this.sentCounter(type).inc() : undefined,
      onDropped: metrics ? (n) => metrics.wsDroppedMessages.inc(n) : undefined,
      onOverflow: () => this.log.warn({ client: id }, 'client neither reads nor stops sending: disconnected'),
    });
    this.clients.set(id, client);
    metrics?.wsClients.set(this.clients.size);
    this.log.debug({ client: id, remote: req.socket.remoteAddress }, 'client connected');

    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('message', (data, isBinary) => this.onMessage(client, data, isBinary));
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes the connection itself (1009 past maxMessageBytes, 1007 bad UTF-8, 1002 protocol errors).
      this.log.debug({ client: id, code: err.code, err: err.message }, 'client connection error');
    });
    ws.on('close', (code) => {
      this.clients.delete(id);
      if (this.clients.size < this.maxClients) this.capWarned = false;
      client.dispose();
      metrics?.wsClients.set(this.clients.size);
      this.log.debug({ client: id, code }, 'client disconnected');
    });
    if (this.closing !== undefined) {
      ws.close(1001, 'server shutting down');
      return;
    }
    this.reply(client, { type: 'hello', version: PROTOCOL_VERSION, streams: this.options.listStreams() });
  }

  private sentCounter(type: string): { inc: () => void } {
    let c = this.sentCounters.get(type);
    if (c === undefined) {
      c = this.options.metrics!.wsMessagesSent.labels(type);
      this.sentCounters.set(type, c);
    }
    return c;
  }

  private reply(client: WsClient, msg: ServerMessage): void {
    client.send({ data: encodeMessage(msg), type: msg.type });
  }

  private error(client: WsClient, code: ErrorMessage['code'], message: string): void {
    this.reply(client, { type: 'error', code, message });
  }

  private onMessage(client: WsClient, data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.error(client, 'bad_message', 'binary messages are not part of the protocol; send JSON text');
      return;
    }
    const text = Buffer.isBuffer(data)
      ? data.toString('utf8')
      : Array.isArray(data)
        ? Buffer.concat(data).toString('utf8')
        : Buffer.from(data).toString('utf8');
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      this.error(client, parsed.code, parsed.message);
      return;
    }
    this.handle(client, parsed.msg);
  }

  private handle(client: WsClient, msg: ClientMessage): void {
    switch (msg.type) {
      case 'ping':
        this.reply(client, { type: 'pong' });
        return;
      case 'unsubscribe':
        client.subscription = withoutStreams(
          client.subscription,
          msg.streams,
          this.options.listStreams().map((s) => s.id),
        );
        return;
      case 'subscribe': {
        const known = new Set(this.options.listStreams().map((s) => s.id));
        if (msg.streams !== '*') {
          const unknown = [...new Set(msg.streams.filter((s) => !known.has(s)))];
          if (unknown.length > 0) {
            const shown = unknown
              .slice(0, 5)
              .map((s) => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s))
              .join(', ');
            this.error(client, 'unknown_stream', `no such stream: ${shown}${unknown.length > 5 ? ` and ${unknown.length - 5} more` : ''}`);
          }
        }
        client.subscription = createSubscription(msg, known);
        if (msg.replay !== undefined && msg.replay > 0) this.replay(client, msg.replay, known);
        return;
      }
    }
  }

  /** The last `n` stored results of each subscribed stream, oldest first, filtered like live ones. */
  private replay(client: WsClient, n: number, known: ReadonlySet<string>): void {
    const sub = client.subscription;
    const streams = sub.streams === '*' ? new Set([...known, ...this.ring.streamIds()]) : sub.streams;
    for (const stream of streams) {
      for (const r of this.ring.recent(stream, n)) {
        let encoder = this.encoders.get(r);
        if (encoder === undefined) {
          encoder = new FrameEncoder(r);
          this.encoders.set(r, encoder);
        }
        const data = encoder.encodeFor(sub);
        if (data !== null) client.send({ data, type: 'frame', frameOf: stream });
      }
    }
  }

  private beat(): void {
    for (const c of this.clients.values()) {
      if (!c.alive) {
        this.log.info({ client: c.id }, 'no pong since the last ping: connection terminated');
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }
}
