/**
 * Shared pieces of the gateway integration tests: a real http.Server on port
 * 0 with a WsGateway, a `ws` client that collects and validates what it
 * receives, and a raw TCP client that does the WebSocket handshake by hand
 * (so a test controls exactly when, and whether, it reads).
 */
import { DEFAULTS } from '../../../src/config/schema.ts';
import { wsGatewaySettings } from '../../../src/gateway/server-settings.ts';
import { createServer, type Server } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocket, type ClientOptions } from 'ws';
import type { FrameResult, StreamInfo } from '../../../src/contracts/results.ts';
import { ServerMessageSchema, type ServerMessage } from '../../../src/contracts/ws-messages.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { WsGateway, type WsGatewayOptions } from '../../../src/gateway/ws-gateway.ts';
import { waitFor } from '../../helpers/wait.ts';

export const STREAMS: StreamInfo[] = [
  { id: 'cam1', state: 'live', model: 'resnet50', fps: 5 },
  { id: 'cam2', state: 'live', model: 'resnet50', fps: 5 },
  { id: 'file.mp4', state: 'starting', model: 'resnet18', fps: 1 },
];

export interface Harness {
  server: Server;
  gateway: WsGateway;
  port: number;
  url: string;
  streams: StreamInfo[];
  close: () => Promise<void>;
}

export async function startGateway(options: Partial<Omit<WsGatewayOptions, 'server'>> = {}): Promise<Harness> {
  const server = createServer((_req, res) => {
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const streams = STREAMS.map((s) => ({ ...s }));
  // The config's defaults (server section), then the test's own.
  const defaults = { ...wsGatewaySettings(DEFAULTS.server), maxClients: DEFAULTS.server.maxClients };
  const gateway = new WsGateway({ ...defaults, server, listStreams: () => streams, logger: createLogger({ level: 'silent' }), ...definedOnly(options) });
  return {
    server,
    gateway,
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    streams,
    close: async () => {
      await gateway.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let nextSeq = 0;

/** A frame result with five labels, best first. */
export function makeResult(stream: string, overrides: Partial<FrameResult> = {}): FrameResult {
  return {
    stream,
    run: 'run-a',
    seq: nextSeq++,
    ptsMs: 200,
    capturedAt: Date.now(),
    latencyMs: 12,
    model: 'resnet50',
    labels: [
      { index: 281, label: 'tabby, tabby cat', score: 0.61 },
      { index: 285, label: 'Egyptian cat', score: 0.2 },
      { index: 282, label: 'tiger cat', score: 0.1 },
      { index: 287, label: 'lynx, catamount', score: 0.05 },
      { index: 657, label: 'missile', score: 0.01 },
    ],
    ...overrides,
  };
}

/** A `ws` client that validates every message against the protocol schema and keeps them in order. */
export class TestClient {
  readonly messages: ServerMessage[] = [];
  /** Receipt time of each message, `Date.now()` ms. */
  readonly receivedAt: number[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) throw new Error('server sent a binary message');
      const parsed = ServerMessageSchema.parse(JSON.parse(data.toString()));
      this.messages.push(parsed);
      this.receivedAt.push(Date.now());
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      }),
    );
  }

  static async open(url: string, options: ClientOptions = {}): Promise<TestClient> {
    const ws = new WebSocket(url, options);
    const c = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('error', () => undefined);
    await c.waitFor((m) => m.type === 'hello');
    return c;
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  ofType<T extends ServerMessage['type']>(type: T): Array<Extract<ServerMessage, { type: T }>> {
    return this.messages.filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type);
  }

  /** Resolves with the first message (from index `from`) passing `pred`. */
  async waitFor(pred: (m: ServerMessage) => boolean, timeoutMs = 5000, from = 0): Promise<ServerMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.messages.length; i++) if (pred(this.messages[i]!)) return this.messages[i]!;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('connection closed while waiting');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(this.messages.slice(-3))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits until `count` messages in all were received. */
  async waitForCount(count: number, timeoutMs = 5000): Promise<void> {
    await this.waitFor(() => this.messages.length >= count, timeoutMs);
  }

  /**
   * Sends a ping and waits for its pong: the server handles a client's
   * messages in order, so everything sent before was handled by then.
   * Returns the messages that arrived between the call and the pong.
   */
  async barrier(timeoutMs = 5000): Promise<ServerMessage[]> {
    const from = this.messages.length;
    this.send({ type: 'ping' });
    const pong = await this.waitFor((m) => m.type === 'pong', timeoutMs, from);
    const end = this.messages.indexOf(pong, from);
    return this.messages.slice(from, end);
  }

  async close(): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) {
      this.ws.close();
      await this.closed;
    }
  }
}

/** One frame of the server's stream as a raw client parses it. */
export interface RawFrame {
  opcode: number;
  payload: Buffer;
}

/**
 * A WebSocket client on a bare TCP socket: the handshake is done by hand and
 * the socket is then paused, so the server sees a peer that stops reading
 * (or, with `ignore`, one that never answers anything).
 */
export class RawClient {
  readonly frames: RawFrame[] = [];
  private pending: Buffer = Buffer.alloc(0);
  private constructor(readonly socket: Socket) {}

  static async open(
    port: number,
    path = '/ws',
    headers: Record<string, string> = {},
  ): Promise<{ client: RawClient; status: number; head: string; body: string }> {
    const socket = netConnect({ port, host: '127.0.0.1' });
    const key = randomBytes(16).toString('base64');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
    );
    const client = new RawClient(socket);
    const { head, rest } = await new Promise<{ head: string; rest: Buffer }>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        buf = Buffer.concat([buf, chunk]);
        const end = buf.indexOf('\r\n\r\n');
        if (end >= 0) {
          socket.off('data', onData);
          socket.pause();
          resolve({ head: buf.subarray(0, end).toString('latin1'), rest: buf.subarray(end + 4) });
        }
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('end', () => resolve({ head: buf.toString('latin1'), rest: Buffer.alloc(0) }));
    });
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    client.pending = rest;
    return { client, status, head, body: rest.toString('utf8') };
  }

  private reading = false;
  private answerPings = true;
  private onFrame: (() => void) | undefined;

  /** Starts reading again and parsing frames; pings are answered unless `answerPings` is false. */
  resume(answerPings = true): void {
    this.answerPings = answerPings;
    if (!this.reading) {
      this.reading = true;
      this.socket.on('data', (chunk: Buffer) => {
        this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
        this.parse(this.answerPings);
      });
    }
    this.parse(answerPings);
    this.socket.resume();
  }

  /** Stops reading: the server's writes pile up in the kernel, then in its own buffers. */
  pause(): void {
    this.socket.pause();
  }

  /** Sends a client message as a masked text frame. */
  send(value: unknown): void {
    this.sendFrame(1, Buffer.from(JSON.stringify(value)));
  }

  /** Waits (reading) until `cond()` holds, re-checked on every frame. */
  async waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting on a raw client');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.onFrame = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Text messages received so far, parsed. */
  messages(): ServerMessage[] {
    return this.frames.filter((f) => f.opcode === 1).map((f) => ServerMessageSchema.parse(JSON.parse(f.payload.toString('utf8'))));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private parse(answerPings: boolean): void {
    for (;;) {
      const b = this.pending;
      if (b.length < 2) return;
      const opcode = b[0]! & 0x0f;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b.length < off + len) return;
      const payload = Buffer.from(b.subarray(off, off + len));
      this.pending = b.subarray(off + len);
      this.frames.push({ opcode, payload });
      const f = this.onFrame;
      this.onFrame = undefined;
      f?.();
      if (opcode === 9 && answerPings && !this.socket.destroyed) this.sendFrame(0xa, payload);
    }
  }

  /** Sends one masked frame (clients must mask). */
  sendFrame(opcode: number, payload: Buffer): void {
    const mask = randomBytes(4);
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i & 3]!;
    let header: Buffer;
    if (payload.length < 126) {
      header = Buffer.from([0x80 | opcode, 0x80 | payload.length]);
    } else if (payload.length < 65536) {
      header = Buffer.alloc(4);
      header[0] = 0x80 | opcode;
      header[1] = 0x80 | 126;
      header.writeUInt16BE(payload.length, 2);
    } else {
      header = Buffer.alloc(10);
      header[0] = 0x80 | opcode;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    this.socket.write(Buffer.concat([header, mask, masked]));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `cond()` holds, polling every 10 ms (`waitFor` of test/helpers/wait.ts, in the argument order these tests use). */
export async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  await waitFor(what, cond, { timeoutMs, intervalMs: 10 });
}

/** The keys of `o` whose value is not undefined (a test's `{ replayLimit: undefined }` keeps the default). */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
