/**
 * WebSocket fan-out benchmark: one WsGateway in a child process (so that its
 * CPU time and memory are read from /proc, apart from the clients'), N real
 * `ws` clients in this process spread over the streams, results published in
 * the child at `fps` per stream. Two phases of `seconds` each:
 *   normal  every client reads;
 *   slow    `slowClients` of them stop reading (their sockets are paused).
 * Both phases report, for the clients that keep reading: frame messages/s
 * delivered, p50/p99 delay from publish to receipt, gateway RSS and CPU %.
 * The slow clients first ask for a replay of the stored results with
 * embeddings (~11 KB a message) so that, within a short run, the kernel's
 * socket buffers fill and the gateway's per-client bounds are reached; the
 * report says how much was dropped and queued for them.
 *
 * Standalone: `node --import tsx bench/ws-fanout.ts [--quick] [--clients N]
 * [--streams N] [--fps N] [--seconds N] [--slow N] [--json-out FILE]` prints a
 * table, then one JSON line (the last line of stdout).
 */
import { DEFAULTS } from '../src/config/schema.ts';
import { wsGatewaySettings } from '../src/gateway/server-settings.ts';
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type ClientRequestArgs } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { z } from 'zod';
import type { FrameResult, StreamInfo } from '../src/contracts/results.ts';
import { WsGateway } from '../src/gateway/ws-gateway.ts';
import { createLogger } from '../src/shared/logger.ts';
import type { Measurement } from './report.ts';
import { readStatusMemory } from './rss-sampler.ts';

export interface WsFanoutOptions {
  /** WebSocket clients, count (default 1000). */
  clients?: number;
  /** Streams the clients are spread over, count (default 4). */
  streams?: number;
  /** Results published per stream, per second (default 5). */
  fps?: number;
  /** Length of each measured phase, seconds (default 10). */
  seconds?: number;
  /** Clients that stop reading in the second phase, count (default 10). */
  slowClients?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface WsFanoutPhase {
  /** Frame messages received per second by the clients that keep reading. */
  messagesPerSecond: number;
  /** What they should receive per second: results published x readers per stream. */
  expectedPerSecond: number;
  /** Results the gateway process published per second (all streams). */
  publishedPerSecond: number;
  /** Largest lateness of a publish tick, ms: how long the gateway's event loop was busy at once. */
  maxPublishLagMs: number;
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  /** `dropped` counts received by the clients that keep reading (should be 0). */
  droppedForReaders: number;
  gatewayRssMiB: number;
  /** Of one core: 100 = one core busy. */
  gatewayCpuPercent: number;
  /** Frame messages dropped by the gateway for the slow clients. */
  droppedForSlow: number;
  /** Largest per-client queue and socket buffer in the gateway at the end of the phase, bytes. */
  maxQueuedBytes: number;
  maxSocketBufferedBytes: number;
}

export interface WsFanoutResult {
  settings: Required<Omit<WsFanoutOptions, 'log'>>;
  normal: WsFanoutPhase;
  slow: WsFanoutPhase;
  measurements: Measurement[];
}

/** Child to parent. */
const ChildMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), port: z.number().int() }),
  z.object({
    type: z.literal('stats'),
    clients: z.number().int(),
    published: z.number().int(),
    maxTickLagMs: z.number(),
    droppedByClient: z.array(z.number().int()),
    maxQueuedBytes: z.number(),
    maxSocketBufferedBytes: z.number(),
  }),
]);
type ChildMessage = z.infer<typeof ChildMessageSchema>;
/** Parent to child. */
const ParentMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('publish'), streams: z.number().int().positive(), fps: z.number().positive() }),
  z.object({ type: z.literal('stats') }),
  z.object({ type: z.literal('stop') }),
]);
type ParentMessage = z.infer<typeof ParentMessageSchema>;

const EMBEDDING_DIM = 2048;
const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux.
/** Replays each slow client asks for before it stops reading. */
const SLOW_REPLAYS = 8;

/** Epoch milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/* ------------------------------------------------------------------ child */

async function runGatewayChild(): Promise<void> {
  const send = (m: ChildMessage): void => {
    process.send!(m);
  };
  const server = createServer((_req, res) => {
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let streamInfos: StreamInfo[] = [];
  const gateway = new WsGateway({
    ...wsGatewaySettings(DEFAULTS.server),
    server,
    listStreams: () => streamInfos,
    logger: createLogger({ level: 'silent' }),
    // The bench's slow clients must be measured while slow, not cut off as dead.
    heartbeatIntervalMs: 0,
    // `--clients N` may ask for more than the default cap (1000): the bench measures fan-out, not the cap.
    maxClients: 100_000,
  });
  const timers: NodeJS.Timeout[] = [];
  const embedding = new Float32Array(EMBEDDING_DIM).map((_, i) => Math.sin(i));
  let published = 0;
  /** Largest lateness of a publish tick since the last stats, ms: the gateway's event loop being busy. */
  let maxTickLagMs = 0;
  process.on('message', (raw) => {
    const msg: ParentMessage = ParentMessageSchema.parse(raw);
    if (msg.type === 'publish') {
      streamInfos = Array.from({ length: msg.streams }, (_, i) => ({ id: `cam${i}`, state: 'live' as const, model: 'resnet50', fps: msg.fps }));
      const periodMs = 1000 / msg.fps;
      streamInfos.forEach((s, i) => {
        let seq = 0;
        // Streams start staggered over one period, as cameras would.
        timers.push(
          setTimeout(
            () => {
              let due = performance.now() + periodMs;
              timers.push(
                setInterval(() => {
                  const now = performance.now();
                  maxTickLagMs = Math.max(maxTickLagMs, now - due);
                  due = Math.max(due + periodMs, now);
                  published++;
                  const r: FrameResult = {
                    stream: s.id,
                    run: 'bench',
                    seq: seq++,
                    ptsMs: seq * periodMs,
                    capturedAt: nowMs(),
                    latencyMs: 40,
                    model: 'resnet50',
                    embedding,
                    labels: [
                      { index: 281, label: 'tabby, tabby cat', score: 0.61 },
                      { index: 285, label: 'Egyptian cat', score: 0.2 },
                      { index: 282, label: 'tiger cat', score: 0.1 },
                      { index: 287, label: 'lynx, catamount', score: 0.05 },
                      { index: 657, label: 'missile', score: 0.01 },
                    ],
                  };
                  gateway.publishFrame(r);
                }, periodMs),
              );
            },
            (i * periodMs) / msg.streams,
          ),
        );
      });
    } else if (msg.type === 'stats') {
      const stats = gateway.clientStats();
      send({
        type: 'stats',
        clients: stats.length,
        published,
        maxTickLagMs,
        droppedByClient: stats.map((s) => s.droppedTotal),
        maxQueuedBytes: Math.max(0, ...stats.map((s) => s.queuedBytes)),
        maxSocketBufferedBytes: Math.max(0, ...stats.map((s) => s.socketBufferedBytes)),
      });
      maxTickLagMs = 0;
    } else {
      for (const t of timers) clearInterval(t);
      server.closeAllConnections();
      void gateway.close().then(() => server.close(() => process.exit(0)));
    }
  });
  send({ type: 'ready', port: (server.address() as AddressInfo).port });
}

/* ----------------------------------------------------------------- parent */

class ChildLink {
  private waiters: Array<(m: ChildMessage) => void> = [];
  constructor(readonly child: ChildProcess) {
    child.on('message', (raw) => {
      const m = ChildMessageSchema.parse(raw);
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f(m);
    });
  }

  send(m: ParentMessage): void {
    this.child.send(m);
  }

  next<T extends ChildMessage['type']>(type: T, timeoutMs = 30_000): Promise<Extract<ChildMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`gateway child sent no ${type} in ${timeoutMs} ms`)), timeoutMs);
      const wait = (m: ChildMessage): void => {
        if (m.type === type) {
          clearTimeout(t);
          resolve(m as Extract<ChildMessage, { type: T }>);
        } else {
          this.waiters.push(wait);
        }
      };
      this.waiters.push(wait);
    });
  }
}

/** CPU seconds (user + system) of a process so far, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

interface BenchClient {
  ws: WebSocket;
  socket: Socket;
  slow: boolean;
}

interface Recorder {
  recording: boolean;
  frames: number;
  dropped: number;
  delays: number[];
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function openClient(port: number, stream: string, slow: boolean, rec: Recorder): Promise<BenchClient> {
  let socket: Socket | undefined;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, {
    perMessageDeflate: false,
    // Our own socket, so a slow client can stop reading by pausing it (public net.Socket API).
    createConnection: (opts: ClientRequestArgs) => {
      socket = netConnect({ host: opts.host ?? '127.0.0.1', port: Number(opts.port) });
      return socket;
    },
  });
  ws.on('message', (data) => {
    if (slow || !rec.recording) return;
    const text = data.toString();
    const m = JSON.parse(text) as { type: string; capturedAt?: number; count?: number };
    if (m.type === 'frame') {
      rec.frames++;
      rec.delays.push(nowMs() - m.capturedAt!);
    } else if (m.type === 'dropped') {
      rec.dropped += m.count!;
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => undefined); // A slow client may be cut off at the end; the figures say what happened.
  ws.send(JSON.stringify({ type: 'subscribe', streams: [stream] }));
  return { ws, socket: socket!, slow };
}

async function measurePhase(
  link: ChildLink,
  pid: number,
  rec: Recorder,
  seconds: number,
  readers: number,
  streams: number,
  slowIds: ReadonlySet<number>,
): Promise<WsFanoutPhase> {
  link.send({ type: 'stats' });
  const before = await link.next('stats');
  rec.frames = 0;
  rec.dropped = 0;
  rec.delays = [];
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  let maxRss = 0;
  rec.recording = true;
  const sampler = setInterval(() => {
    maxRss = Math.max(maxRss, readStatusMemory(pid)?.rss ?? 0);
  }, 200);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  rec.recording = false;
  clearInterval(sampler);
  const wallS = (performance.now() - t0) / 1000;
  const cpuS = cpuSeconds(pid) - cpu0;
  maxRss = Math.max(maxRss, readStatusMemory(pid)?.rss ?? 0);
  link.send({ type: 'stats' });
  const stats = await link.next('stats');
  const delays = rec.delays.sort((a, b) => a - b);
  const publishedPerSecond = (stats.published - before.published) / wallS;
  return {
    messagesPerSecond: rec.frames / wallS,
    expectedPerSecond: (publishedPerSecond * readers) / streams,
    publishedPerSecond,
    maxPublishLagMs: stats.maxTickLagMs,
    delayP50Ms: percentile(delays, 50),
    delayP99Ms: percentile(delays, 99),
    delayMaxMs: delays.at(-1) ?? NaN,
    droppedForReaders: rec.dropped,
    gatewayRssMiB: maxRss / 2 ** 20,
    gatewayCpuPercent: (cpuS / wallS) * 100,
    // Clients are listed in connection order, ids 0.. as connected here.
    droppedForSlow: stats.droppedByClient.reduce((n, d, i) => n + (slowIds.has(i) ? d : 0), 0),
    maxQueuedBytes: stats.maxQueuedBytes,
    maxSocketBufferedBytes: stats.maxSocketBufferedBytes,
  };
}

export async function runWsFanoutBench(options: WsFanoutOptions = {}): Promise<WsFanoutResult> {
  const settings = {
    clients: options.clients ?? 1000,
    streams: options.streams ?? 4,
    fps: options.fps ?? 5,
    seconds: options.seconds ?? 10,
    slowClients: options.slowClients ?? 10,
  };
  if (settings.slowClients >= settings.clients) throw new RangeError(`slowClients (${settings.slowClients}) must be fewer than clients (${settings.clients})`);
  const log = options.log ?? ((): void => undefined);
  const child = fork(fileURLToPath(import.meta.url), ['--gateway-child'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const link = new ChildLink(child);
  const clients: BenchClient[] = [];
  try {
    const { port } = await link.next('ready');
    link.send({ type: 'publish', streams: settings.streams, fps: settings.fps });
    const rec: Recorder = { recording: false, frames: 0, dropped: 0, delays: [] };
    // Slow clients are spread over the list like the others; they read normally in the first phase.
    const every = Math.max(1, Math.floor(settings.clients / Math.max(1, settings.slowClients)));
    const slowIds = new Set(Array.from({ length: settings.slowClients }, (_, k) => k * every));
    log(`connecting ${settings.clients} clients`);
    const BATCH = 100;
    for (let i = 0; i < settings.clients; i += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, settings.clients - i) }, (_, k) => i + k);
      // Connected in order, so the gateway lists them in the same order as `clients`.
      for (const id of batch) clients.push(await openClient(port, `cam${id % settings.streams}`, false, rec));
    }
    const readers = settings.clients - settings.slowClients;
    // Only the readers' messages are recorded, in both phases, so the two compare like for like.
    for (const id of slowIds) {
      const c = clients[id]!;
      c.ws.removeAllListeners('message');
      c.slow = true;
    }
    for (const [id, c] of clients.entries()) {
      if (!slowIds.has(id)) continue;
      c.ws.on('message', () => undefined);
    }
    log('warming up (2 s)');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    log(`phase normal: ${settings.seconds} s`);
    const normal = await measurePhase(link, child.pid!, rec, settings.seconds, readers, settings.streams, slowIds);

    for (const id of slowIds) {
      const c = clients[id]!;
      // Each replay is up to 100 results x streams x ~11 KB: a few of them
      // overflow the kernel's socket buffers (several MiB on loopback).
      for (let k = 0; k < SLOW_REPLAYS; k++) c.ws.send(JSON.stringify({ type: 'subscribe', streams: '*', embeddings: true, replay: 100 }));
      c.socket.pause();
    }
    log(`phase slow: ${settings.slowClients} clients stop reading, ${settings.seconds} s`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const slow = await measurePhase(link, child.pid!, rec, settings.seconds, readers, settings.streams, slowIds);

    const measurements: Measurement[] = [];
    const detail = `${settings.clients} clients over ${settings.streams} streams at ${settings.fps} fps`;
    for (const [name, p, what] of [
      ['normal', normal, `${detail}, all reading`],
      ['slow', slow, `${detail}, ${settings.slowClients} not reading; figures for the rest`],
    ] as const) {
      measurements.push(
        {
          name: `ws.${name}.messagesPerSecond`,
          value: p.messagesPerSecond,
          unit: 'msg/s',
          detail: `${what} (${p.expectedPerSecond.toFixed(0)} expected from what was published)`,
        },
        {
          name: `ws.${name}.publishedPerSecond`,
          value: p.publishedPerSecond,
          unit: 'results/s',
          detail: `results published by the gateway process (${settings.streams * settings.fps} planned)`,
        },
        { name: `ws.${name}.maxPublishLagMs`, value: p.maxPublishLagMs, unit: 'ms', detail: 'largest lateness of a publish timer in the gateway process' },
        { name: `ws.${name}.delayP50Ms`, value: p.delayP50Ms, unit: 'ms', detail: `publish to receipt, ${what}` },
        { name: `ws.${name}.delayP99Ms`, value: p.delayP99Ms, unit: 'ms', detail: `publish to receipt, ${what}` },
        { name: `ws.${name}.droppedForReaders`, value: p.droppedForReaders, unit: 'messages', detail: 'dropped announced to clients that read' },
        { name: `ws.${name}.gatewayRssMiB`, value: p.gatewayRssMiB, unit: 'MiB', detail: 'gateway process, peak sampled VmRSS' },
        { name: `ws.${name}.gatewayCpuPercent`, value: p.gatewayCpuPercent, unit: '% of a core', detail: 'gateway process, user + system' },
      );
    }
    measurements.push(
      { name: 'ws.slow.droppedForSlow', value: slow.droppedForSlow, unit: 'messages', detail: 'frame messages the gateway dropped for the slow clients' },
      {
        name: 'ws.slow.maxQueuedKiB',
        value: slow.maxQueuedBytes / 1024,
        unit: 'KiB',
        detail: 'largest per-client queue at the end (bounds: 256 frame messages, 4096 KiB)',
      },
      {
        name: 'ws.slow.maxSocketBufferedKiB',
        value: slow.maxSocketBufferedBytes / 1024,
        unit: 'KiB',
        detail: 'largest per-client socket buffer at the end (mark 64 KiB)',
      },
    );
    return { settings, normal, slow, measurements };
  } finally {
    for (const c of clients) c.ws.terminate();
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      link.send({ type: 'stop' });
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
  }
}

/* ------------------------------------------------------------- standalone */

function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (value === 0) return '0';
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 100) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

export function formatWsFanoutTable(result: WsFanoutResult): string {
  const rows = [['measurement', 'value', 'unit', 'what'], ...result.measurements.map((m) => [m.name, fmt(m.value), m.unit, m.detail])];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (c === 1 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      clients: { type: 'string' },
      streams: { type: 'string' },
      fps: { type: 'string' },
      seconds: { type: 'string' },
      slow: { type: 'string' },
      'json-out': { type: 'string' },
    },
  });
  const num = (v: string | undefined, name: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new RangeError(`--${name} must be a positive number, got ${v}`);
    return n;
  };
  const quick = values.quick ?? false;
  const started = Date.now();
  const load = loadavg()[0]!;
  const result = await runWsFanoutBench({
    clients: num(values.clients, 'clients') ?? (quick ? 200 : 1000),
    streams: num(values.streams, 'streams'),
    fps: num(values.fps, 'fps'),
    seconds: num(values.seconds, 'seconds') ?? (quick ? 3 : 10),
    slowClients: num(values.slow, 'slow') ?? (quick ? 5 : 10),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const s = result.settings;
  process.stdout.write(
    `WebSocket fan-out${quick ? ' (--quick: smoke run, not benchmark numbers)' : ''} · ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''} · node ${process.version} · load average ${load.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after\n`,
  );
  process.stdout.write(`${s.clients} clients · ${s.streams} streams · ${s.fps} fps · ${s.seconds} s per phase · ${s.slowClients} slow\n\n`);
  process.stdout.write(`${formatWsFanoutTable(result)}\n`);
  const json = JSON.stringify({
    type: 'bench-ws-fanout',
    version: 1,
    quick,
    startedAt: new Date(started).toISOString(),
    totalSeconds: (Date.now() - started) / 1000,
    settings: s,
    measurements: result.measurements,
  });
  if (values['json-out'] !== undefined) writeFileSync(values['json-out'], `${json}\n`);
  process.stdout.write(`${json}\n`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--gateway-child')) {
    void runGatewayChild();
  } else {
    main(process.argv.slice(2)).then(
      (code) => process.exit(code),
      (err: unknown) => {
        process.stderr.write(`ws-fanout: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        process.exit(1);
      },
    );
  }
}
