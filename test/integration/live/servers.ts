/**
 * Camera-like servers the live tests start themselves, on free ports of
 * 127.0.0.1: GStreamer's RTSP server and Debian's VLC (real ones the
 * project did not write), ffmpeg's own HTTP listen mode for MJPEG, static
 * HLS files from node:http, and a TCP server that accepts and then says
 * nothing.
 * Test support only: spawns its programs directly, not through src/.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const RTSP_SCRIPT = fileURLToPath(new URL('./rtsp-server.py', import.meta.url));
/** Debian's python, which has python3-gi; a pyenv shim on PATH would not. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** True when GStreamer's RTSP server can be loaded (see .ci/apt-packages.txt). */
export function haveRtspServer(): boolean {
  try {
    execFileSync(PYTHON, ['-c', "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface ServerProcess {
  readonly child: ChildProcess;
  /** SIGKILL and wait: the server vanishes at a moment of the test's choosing. */
  kill(): Promise<void>;
  /** SIGSTOP: sockets stay open, nothing is sent. */
  pause(): void;
  resume(): void;
}

function processHandle(child: ChildProcess): ServerProcess {
  return {
    child,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = once(child, 'exit');
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await gone;
    },
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
  };
}

/** rtsp://127.0.0.1:PORT/live, H.264 at `fps`; resolves once it listens. */
export async function startRtspServer(port: number, fps = 10): Promise<ServerProcess> {
  const child = spawn(PYTHON, [RTSP_SCRIPT, String(port), String(fps)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const ready = await new Promise<boolean>((resolve) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('ready')) resolve(true);
    });
    child.once('exit', () => resolve(false));
  });
  if (!ready) throw new Error(`RTSP server did not start: ${err}`);
  return processHandle(child);
}

/**
 * ffmpeg as an HTTP MJPEG server (`-listen 1`, multipart/x-mixed-replace)
 * at http://127.0.0.1:PORT/cam.mjpg, a live test pattern at `fps`. It
 * serves one client, then exits.
 */
export async function startMjpegServer(port: number, fps = 10): Promise<ServerProcess> {
  const child = spawn(
    'ffmpeg',
    [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-re',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=320x240:rate=${fps}`,
      '-c:v',
      'mjpeg',
      '-q:v',
      '5',
      '-f',
      'mpjpeg',
      '-listen',
      '1',
      `http://127.0.0.1:${port}/cam.mjpg`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // ffmpeg says nothing when it listens, and a probing connection would use
  // up its one client: watch the kernel's table of listening sockets instead.
  const until = Date.now() + 10_000;
  while (!isListening(port)) {
    if (child.exitCode !== null) throw new Error('ffmpeg MJPEG server exited');
    if (Date.now() > until) throw new Error('ffmpeg MJPEG server did not listen');
    await new Promise((r) => setTimeout(r, 50));
  }
  return processHandle(child);
}

/** True when something listens on 127.0.0.1:port (from /proc/net/tcp; state 0A = LISTEN). */
export function isListening(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .some((line) => {
      const cols = line.trim().split(/\s+/);
      return cols[1]?.endsWith(`:${hex}`) === true && cols[3] === '0A';
    });
}

export interface StaticServer {
  server: Server;
  port: number;
  /** Every request served, in order, with its Via header (set by a proxy). */
  requests: Array<{ url: string; via: string | undefined }>;
  /** Paths answered with a redirect to the given URL instead of a file. */
  redirects: Map<string, string>;
  close(): Promise<void>;
}

/** Serves the files of `dir` over HTTP (HLS playlists and segments), on `host` (default 127.0.0.1). */
export async function startStaticServer(dir: string, port = 0, host = '127.0.0.1'): Promise<StaticServer> {
  const types: Record<string, string> = { '.m3u8': 'application/vnd.apple.mpegurl', '.ts': 'video/mp2t' };
  const requests: StaticServer['requests'] = [];
  const redirects = new Map<string, string>();
  const server = createHttpServer((req, res) => {
    requests.push({ url: req.url ?? '', via: req.headers.via });
    const to = redirects.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (to) {
      res.writeHead(302, { location: to, 'content-length': 0 }).end();
      return;
    }
    const path = normalize(join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    if (!path.startsWith(dir) || !existsSync(path) || !statSync(path).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream', 'content-length': statSync(path).size });
    createReadStream(path).pipe(res);
  });
  server.listen(port, host);
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as { port: number }).port,
    requests,
    redirects,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Accepts TCP connections and never answers, so every client stalls; with
 * `resetAllBut: n`, all connections but every n-th are reset at once
 * instead (a quick failure).
 */
export async function startSilentServer(opts: { resetAllBut?: number } = {}): Promise<{ port: number; connections(): number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let total = 0;
  const server = createTcpServer((s) => {
    total++;
    if (opts.resetAllBut !== undefined && total % opts.resetAllBut !== 0) {
      s.resetAndDestroy();
      return;
    }
    sockets.add(s);
    // Read and discard the request: an unread socket never sees the client's FIN, and would stay open.
    s.resume();
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    connections: () => total,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** True when Debian's VLC (`cvlc`, from vlc-bin + vlc-plugin-base) can be run. */
export function haveVlc(): boolean {
  try {
    execFileSync('cvlc', ['--version'], { stdio: 'ignore', env: vlcEnv() });
    return true;
  } catch {
    return vlcAsNobody() && spawnOk('setpriv', [...NOBODY, 'cvlc', '--version']);
  }
}

/** VLC refuses to run as root ("VLC is not supposed to be run as root"): as root, the tests run it as nobody. */
const NOBODY = ['--reuid=nobody', '--regid=nogroup', '--clear-groups'];
function vlcAsNobody(): boolean {
  return process.getuid?.() === 0;
}
/** No D-Bus, no audio, no writable home: VLC only warns about them. */
function vlcEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: '/nonexistent', LANG: 'C' };
}
function spawnOk(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', env: vlcEnv() });
    return true;
  } catch {
    return false;
  }
}

export interface VlcServerOptions {
  /** `rtsp`: rtsp://127.0.0.1:PORT/cam (`#rtp{sdp=rtsp://...}`, RTP over UDP only); `mjpeg`: http://127.0.0.1:PORT/cam.mjpg (mpjpeg mux). */
  kind: 'rtsp' | 'mjpeg';
  size?: string;
  fps?: number;
}

/**
 * Debian's VLC as a camera: a live test pattern from ffmpeg (H.264 in
 * MPEG-TS for RTSP, MJPEG in Matroska for HTTP) piped into `cvlc -`, which
 * serves it as the camera would. VLC's own encoders are not used: Debian's
 * VLC 3.0 cannot open its MJPEG encoder with ffmpeg 5.1's libavcodec.
 * Resolves once VLC listens; `kill()` stops VLC and its feed.
 */
export async function startVlcServer(port: number, opts: VlcServerOptions): Promise<ServerProcess> {
  const { size = '320x240', fps = 10 } = opts;
  const encode =
    opts.kind === 'rtsp'
      ? ['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', String(fps), '-pix_fmt', 'yuv420p', '-f', 'mpegts']
      : ['-c:v', 'mjpeg', '-q:v', '5', '-f', 'matroska'];
  const sout = opts.kind === 'rtsp' ? `#rtp{sdp=rtsp://127.0.0.1:${port}/cam}` : `#standard{access=http,mux=mpjpeg,dst=127.0.0.1:${port}/cam.mjpg}`;
  const feed = spawn(
    'ffmpeg',
    ['-nostdin', '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${fps}`, ...encode, 'pipe:1'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const vlcArgs = ['-I', 'dummy', '--no-audio', '-', '--sout', sout, '--sout-keep'];
  const vlc = vlcAsNobody()
    ? spawn('setpriv', [...NOBODY, 'cvlc', ...vlcArgs], { stdio: ['pipe', 'ignore', 'pipe'], env: vlcEnv() })
    : spawn('cvlc', vlcArgs, { stdio: ['pipe', 'ignore', 'pipe'], env: vlcEnv() });
  feed.stdout!.pipe(vlc.stdin!);
  // VLC gone: the feed's pipe breaks, and it must not linger either.
  vlc.stdin!.on('error', () => undefined);
  vlc.once('exit', () => feed.kill('SIGKILL'));
  let err = '';
  vlc.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
  const until = Date.now() + 15_000;
  while (!isListening(port)) {
    if (vlc.exitCode !== null || vlc.signalCode !== null) throw new Error(`VLC exited: ${err}`);
    if (Date.now() > until) throw new Error(`VLC did not listen on ${port}: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const handle = processHandle(vlc);
  return {
    ...handle,
    async kill() {
      await handle.kill();
      if (feed.exitCode === null && feed.signalCode === null) {
        const gone = once(feed, 'exit');
        feed.kill('SIGKILL');
        await gone;
      }
    },
  };
}

/**
 * ffmpeg as a camera's HLS packager, the way NVRs serve live HLS: a live
 * test pattern written into `dir` as a sliding window (`live.m3u8`, 2 s
 * segments, 5 listed, old ones deleted; `append_list` carries the list on
 * across restarts). Serve `dir` with startPythonHttpServer.
 */
export function startHlsWriter(dir: string, opts: { size?: string; fps?: number } = {}): ServerProcess {
  const { size = '320x240', fps = 10 } = opts;
  const child = spawn(
    'ffmpeg',
    [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-re',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=${size}:rate=${fps}`,
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-g',
      String(fps),
      '-pix_fmt',
      'yuv420p',
      '-f',
      'hls',
      '-hls_time',
      '2',
      '-hls_list_size',
      '5',
      '-hls_flags',
      'delete_segments+append_list',
      join(dir, 'live.m3u8'),
    ],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  return processHandle(child);
}

/** `python3 -m http.server` on 127.0.0.1:port, serving `dir`; resolves once it listens. */
export async function startPythonHttpServer(dir: string, port: number): Promise<ServerProcess> {
  const child = spawn(PYTHON, ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', dir], { stdio: ['ignore', 'ignore', 'ignore'] });
  const until = Date.now() + 10_000;
  while (!isListening(port)) {
    if (child.exitCode !== null) throw new Error('python3 -m http.server exited');
    if (Date.now() > until) throw new Error('python3 -m http.server did not listen');
    await new Promise((r) => setTimeout(r, 50));
  }
  return processHandle(child);
}
