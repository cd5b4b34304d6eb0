/* global WebSocket, setTimeout, clearTimeout, setInterval, clearInterval */
// A WebSocket that comes back by itself: the gateway restarts, networks drop,
// and the page is left open all day.

/**
 * States: 'connecting' (a socket is opening), 'open' (the server has spoken),
 * 'waiting' (closed; the next try is at `retryAt`).
 *
 * Options, all milliseconds:
 * - minDelayMs (1000) .. maxDelayMs (10000): backoff between tries, doubling, +-20 % jitter
 *   so that many pages do not hit a restarted gateway in the same instant.
 * - pingEveryMs (15000): a protocol `ping` when nothing else was sent.
 * - idleLimitMs (40000): nothing received for this long and the socket is
 *   taken for dead (a half-open TCP connection never fires `close` by itself).
 */
export class ReconnectingSocket {
  state = 'connecting';
  /** Consecutive failed tries; 0 once a server has answered. */
  failures = 0;
  retryAt = 0;
  lastCloseCode = 0;
  /** Whether the last try got as far as an open socket (false: refused, or nothing listening). */
  lastTryOpened = false;

  #url;
  #opts;
  #ws = null;
  #retryTimer = null;
  #heartbeat = null;
  #lastReceived = 0;
  #closed = false;

  /**
   * @param {() => string} url called before each try (the token or host may change)
   * @param {{ onOpen?: () => void, onMessage?: (msg: object) => void, onState?: (state: string) => void,
   *           minDelayMs?: number, maxDelayMs?: number, pingEveryMs?: number, idleLimitMs?: number,
   *           now?: () => number }} opts
   */
  constructor(url, opts) {
    this.#url = url;
    this.#opts = { minDelayMs: 1000, maxDelayMs: 10_000, pingEveryMs: 15_000, idleLimitMs: 40_000, now: Date.now, ...opts };
  }

  start() {
    this.#connect();
  }

  /** Sends a protocol message; false when there is no open socket to take it. */
  send(msg) {
    if (this.#ws === null || this.#ws.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify(msg));
    return true;
  }

  /** Skips the rest of the backoff wait (a button, the browser coming back online). */
  retryNow() {
    if (this.state !== 'waiting' || this.#closed) return;
    clearTimeout(this.#retryTimer);
    this.#connect();
  }

  close() {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#heartbeat);
    if (this.#ws !== null) this.#drop(this.#ws);
  }

  #connect() {
    this.#setState('connecting');
    this.lastTryOpened = false;
    let ws;
    try {
      ws = new WebSocket(this.#url());
    } catch (err) {
      // A malformed URL throws synchronously; treat it as a failed try, visibly.
      this.#opts.onError?.(err);
      this.#scheduleRetry();
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      this.lastTryOpened = true;
      this.#lastReceived = this.#opts.now();
      this.#opts.onOpen?.();
    };
    ws.onmessage = (e) => {
      this.#lastReceived = this.#opts.now();
      if (this.state !== 'open') {
        this.failures = 0;
        this.#setState('open');
      }
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch (err) {
        this.#opts.onError?.(err);
        return;
      }
      if (msg !== null && typeof msg === 'object') this.#opts.onMessage?.(msg);
    };
    ws.onclose = (e) => {
      if (this.#ws !== ws) return;
      this.lastCloseCode = e.code;
      this.#lost();
    };
    // An error is always followed by close; the close does the work.
    ws.onerror = () => {};
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => this.#beat(), Math.min(this.#opts.pingEveryMs, 5_000));
  }

  #beat() {
    const ws = this.#ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return;
    const quiet = this.#opts.now() - this.#lastReceived;
    if (quiet > this.#opts.idleLimitMs) {
      this.lastCloseCode = 4000;
      this.#drop(ws);
      this.#lost();
    } else if (quiet > this.#opts.pingEveryMs) {
      ws.send('{"type":"ping"}');
    }
  }

  #lost() {
    clearInterval(this.#heartbeat);
    this.#ws = null;
    if (!this.#closed) this.#scheduleRetry();
  }

  #scheduleRetry() {
    this.failures += 1;
    const base = Math.min(this.#opts.maxDelayMs, this.#opts.minDelayMs * 2 ** (this.failures - 1));
    const delay = Math.min(this.#opts.maxDelayMs, Math.max(this.#opts.minDelayMs, base * (0.8 + Math.random() * 0.4)));
    this.retryAt = this.#opts.now() + delay;
    this.#setState('waiting');
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  #drop(ws) {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close();
    } catch (err) {
      // close() only throws for bad arguments; there are none here, so this is a bug worth seeing.
      this.#opts.onError?.(err);
    }
  }

  #setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.#opts.onState?.(state);
  }
}
