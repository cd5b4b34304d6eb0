/**
 * One connected WebSocket client on the server side: its subscription, its
 * bounded outbound queue, and the pump that moves messages from the queue to
 * the socket only while the socket's own buffer is small. A client that reads
 * slowly therefore holds at most `socketHighWaterBytes` (+ one message) in its
 * socket buffer and its queue's bounds in the queue, loses its oldest frame
 * messages past them, and costs the other clients nothing.
 */
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { ClientQueue, type ClientQueueOptions, type QueuedMessage } from './client-queue.ts';
import { encodeMessage } from './frame-message.ts';
import { EMPTY_SUBSCRIPTION, type Subscription } from './subscription.ts';

export interface WsClientOptions {
  queue: ClientQueueOptions;
  /**
   * Messages are handed to the socket only while fewer than this many bytes
   * wait in its buffer, bytes (default 64 KiB).
   */
  socketHighWaterBytes?: number;
  /** Called per message handed to the socket, with its type. */
  onSent?: (type: string) => void;
  /** Called with the number of frame messages dropped for this client. */
  onDropped?: (count: number) => void;
  /** Called when the never-dropped messages alone exceed the byte bound: the client has been terminated. */
  onOverflow?: () => void;
}

export const DEFAULT_SOCKET_HIGH_WATER_BYTES = 64 * 1024;
/** A server-to-client WebSocket frame header is at most 10 bytes. */
const FRAME_HEADER_MAX_BYTES = 10;

/** A snapshot of one client's buffers, for tests, metrics and the dashboard. */
export interface WsClientStats {
  id: number;
  /** Messages in the outbound queue. */
  queuedMessages: number;
  /** Bytes in the outbound queue. */
  queuedBytes: number;
  /** Bytes handed to the socket and not yet written to the kernel. */
  socketBufferedBytes: number;
  /** Frame messages dropped for this client since it connected. */
  droppedTotal: number;
}

export class WsClient {
  subscription: Subscription = EMPTY_SUBSCRIPTION;
  /** False from a ping until its pong: a client still false at the next ping is dead. */
  alive = true;
  private readonly queue: ClientQueue;
  private readonly highWater: number;
  private readonly onWritten = (err?: Error): void => {
    // An error here means the socket is closing or closed; the 'close'
    // handler cleans up, so there is nothing more to send.
    if (err === undefined || err === null) this.pump();
  };

  /**
   * @param socket the connection the upgrade came on (the one `ws` wraps):
   *   its 'drain' resumes the pump after writes the client was slow to take.
   */
  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    socket: Duplex,
    private readonly options: WsClientOptions,
  ) {
    this.queue = new ClientQueue(options.queue);
    this.highWater = options.socketHighWaterBytes ?? DEFAULT_SOCKET_HIGH_WATER_BYTES;
    socket.on('drain', () => this.pump());
  }

  /** Queues a message and writes what the socket can take now. */
  send(msg: QueuedMessage): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const dropped = this.queue.push(msg);
    if (dropped > 0) this.options.onDropped?.(dropped);
    if (this.queue.overflowed) {
      this.queue.clear();
      this.ws.terminate();
      this.options.onOverflow?.();
      return;
    }
    this.pump();
  }

  stats(): WsClientStats {
    return {
      id: this.id,
      queuedMessages: this.queue.length,
      queuedBytes: this.queue.bytes,
      socketBufferedBytes: this.ws.bufferedAmount,
      droppedTotal: this.queue.droppedTotal,
    };
  }

  /** The client is gone: release what it queued. */
  dispose(): void {
    this.queue.clear();
  }

  private pump(): void {
    while (this.ws.readyState === WebSocket.OPEN) {
      const buffered = this.ws.bufferedAmount;
      if (buffered >= this.highWater) return; // The callback of the write that crossed the mark resumes us.
      if (this.queue.hasDropped) {
        // Announce drops first: they were older than anything still queued.
        for (const d of this.queue.takeDropped())
          this.write({ data: encodeMessage({ type: 'dropped', stream: d.stream, count: d.count }), type: 'dropped' }, buffered);
        continue;
      }
      const msg = this.queue.shift();
      if (msg === undefined) return;
      this.write(msg, buffered);
    }
  }

  private write(msg: QueuedMessage, bufferedBefore: number): void {
    // Only a write that may take the buffer past the mark needs to tell us
    // when it is flushed (by then the whole buffer is); the others go without
    // a callback, which keeps the fast path cheap. The margin covers the frame
    // header; pings and pongs written by ws itself are covered by 'drain'.
    const crosses = bufferedBefore + msg.data.length + FRAME_HEADER_MAX_BYTES >= this.highWater;
    this.ws.send(msg.data, { binary: false }, crosses ? this.onWritten : undefined);
    this.options.onSent?.(msg.type);
  }
}
