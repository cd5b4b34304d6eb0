/**
 * Decodes a file or URL into sampled, resized, centre-cropped rgb24 frames.
 *
 * Pixels come from ffmpeg's stdout, timestamps from its stderr (one
 * showinfo line per frame written). The two pipes race; frames and
 * timestamps are paired by order, so whichever arrives first waits.
 *
 * Backpressure: frames are cut from stdout only as fast as the consumer
 * pulls them. While it is busy nothing reads the pipe, the pipe fills and
 * ffmpeg blocks on its write; memory held is one stream buffer plus one
 * frame. stderr is always drained (it is small and bounded by the pipe).
 */
import type { Readable } from 'node:stream';
import type { Frame, FrameGeometry, Sampling } from '../contracts/frame.ts';
import { DecodeError, NotAVideoError, type StreamSightError } from '../shared/errors.ts';
import { buildDecodeArgs, isUrl, localPath, proxiedEnv, type HwaccelKind } from './ffmpeg-args.ts';
import {
  classifyFailure,
  isErrorLine,
  isTextInputLine,
  isTruncationLine,
  isHwaccelFailureLine,
  logLevel,
  mostRelevantLine,
  stripLogPrefix,
  withoutInputPrefix,
} from './ffmpeg-log.ts';
import { spawnFfmpeg, type FfmpegHandle } from './ffmpeg-process.ts';
import { FrameSplitter } from './frame-splitter.ts';
import { assertReadableFile } from './probe.ts';
import { ShowinfoParser } from './showinfo-parser.ts';

export interface DecodeOptions {
  streamId: string;
  runId: string;
  sampling: Sampling;
  geometry: FrameGeometry;
  /** Aborting stops ffmpeg; the iteration then throws the signal's reason. */
  signal?: AbortSignal;
  /** Read at the native frame rate (`-re`), as a camera would deliver. */
  realtime?: boolean;
  /** Restart at the end, forever. */
  loop?: boolean;
  /** Protocols ffmpeg may open, e.g. ['file', 'http', 'https', 'tcp', 'tls']. */
  protocolWhitelist?: string[];
  /**
   * Every http(s) request of ffmpeg goes through this proxy (the host guard,
   * host-guard-proxy.ts), `http://127.0.0.1:PORT`; `no_proxy` is removed
   * from ffmpeg's environment so that no host skips it.
   */
  httpProxy?: string | undefined;
  /** Deinterlace frames flagged interlaced (files whose probe says `interlaced`; see ffmpeg-args.ts). */
  deinterlace?: boolean | undefined;
  /** ffmpeg program; default `ffmpeg` from PATH. */
  ffmpegPath?: string;
  /** How long ffmpeg gets to quit after SIGTERM before SIGKILL, ms; default 2000. */
  stopGraceMs?: number;
  /** ffmpeg input options before `-i` (see source-kind.ts), e.g. `-rtsp_transport tcp`. */
  inputOptions?: readonly string[];
  /** Bytes for ffmpeg's stdin, for an input of `-` / `pipe:0`. */
  stdin?: Readable;
  /** Every stderr line that is not a frame's showinfo line, as ffmpeg wrote it (for a watchdog's error report). */
  onLogLine?: (line: string) => void;
  /** Decoder threads (`-threads` before `-i`); default ffmpeg's choice. */
  decodeThreads?: number | undefined;
  /** Niceness (0..19) of ffmpeg, set as it starts; default as this process. */
  nice?: number | undefined;
  /** Hardware decoding; default none. One that cannot start (no device) is retried in software: see onHwaccelFallback. */
  hwaccel?: HwaccelKind | undefined;
  /** `hwaccel` could not start: this decode went on in software; `reason` is ffmpeg's line. */
  onHwaccelFallback?: ((reason: string) => void) | undefined;
  /** Called with ffmpeg's pid once it is spawned. */
  onSpawn?: (pid: number | undefined) => void;
}

/** What happened during a decode, for a run summary; live while iterating. */
export interface DecodeStats {
  /** Frames yielded. */
  frames: number;
  /** ffmpeg log lines at level error or worse: corrupt data it concealed or skipped. */
  errorLines: number;
  warningLines: number;
  /** The first few error lines (without prefixes), at most 10. */
  firstErrors: string[];
  /** Frames whose pts ffmpeg did not know; they carry the previous frame's ptsMs. */
  framesWithoutPts: number;
  /** Bytes of an incomplete last frame discarded at the end (0 normally). */
  leftoverBytes: number;
  /** ffmpeg's exit; null until it has exited. */
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
}

/** A single-use decode: iterate it once; `stats` fills in as it goes. */
export interface FrameDecode extends AsyncIterable<Frame> {
  readonly stats: DecodeStats;
}

/**
 * Decodes `input` (a local path or an http(s)/rtsp/... URL, passed to
 * ffmpeg as is). Frames come in order, seq from 0, ptsMs from the source.
 *
 * At the end, after every frame ffmpeg produced has been yielded:
 * - ffmpeg failed or the data stops short (truncated) after >= 1 frame: DecodeError;
 * - no frame at all: the failure classified (InputNotFoundError,
 *   NotAVideoError, SourceUnreachableError, DecodeError);
 * - ffmpeg missing: FfmpegMissingError.
 * Corruption ffmpeg recovers from (exit 0) does not throw: see `stats`.
 * Breaking out of the loop or aborting stops ffmpeg and reaps it.
 */
export function decodeFrames(input: string, opts: DecodeOptions): FrameDecode {
  const stats: DecodeStats = {
    frames: 0,
    errorLines: 0,
    warningLines: 0,
    firstErrors: [],
    framesWithoutPts: 0,
    leftoverBytes: 0,
    exitCode: null,
    exitSignal: null,
  };
  let started = false;
  return {
    stats,
    [Symbol.asyncIterator](): AsyncIterator<Frame> {
      if (started) throw new Error('decodeFrames() can be iterated only once');
      started = true;
      return withHwaccelFallback(input, opts, stats);
    },
  };
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/**
 * `-hwaccel vaapi|cuda` that fails before the first frame for want of a
 * device (no /dev/dri, no CUDA driver) is run again in software, once,
 * with onHwaccelFallback told why. Not for stdin (its bytes are gone).
 */
async function* withHwaccelFallback(input: string, opts: DecodeOptions, stats: DecodeStats): AsyncGenerator<Frame> {
  const hw = opts.hwaccel;
  if (hw === undefined || hw === 'none' || hw === 'auto' || opts.stdin) {
    yield* run(input, opts, stats);
    return;
  }
  const lines: string[] = [];
  let frames = 0;
  try {
    for await (const frame of run(input, { ...opts, onLogLine: (l) => (lines.push(l), opts.onLogLine?.(l)) }, stats)) {
      frames++;
      yield frame;
    }
    return;
  } catch (err) {
    const failure = lines.find(isHwaccelFailureLine);
    if (frames > 0 || opts.signal?.aborted || failure === undefined) throw err;
    opts.onHwaccelFallback?.(`${hw}: ${stripLogPrefix(failure)}`);
  }
  // The failed start's log lines are not the software run's.
  Object.assign(stats, { errorLines: 0, warningLines: 0, firstErrors: [], exitCode: null, exitSignal: null });
  yield* run(input, { ...opts, hwaccel: 'none' }, stats);
}

async function* run(input: string, opts: DecodeOptions, stats: DecodeStats): AsyncGenerator<Frame> {
  const { signal } = opts;
  const { cropWidth: width, cropHeight: height } = opts.geometry;
  const args = buildDecodeArgs({
    input,
    sampling: opts.sampling,
    geometry: opts.geometry,
    realtime: opts.realtime,
    loop: opts.loop,
    protocolWhitelist: opts.protocolWhitelist,
    inputOptions: opts.inputOptions,
    httpProxy: opts.httpProxy,
    deinterlace: opts.deinterlace,
    decodeThreads: opts.decodeThreads,
    hwaccel: opts.hwaccel,
  });
  const path = opts.stdin ? null : localPath(input);
  if (path !== null) await assertReadableFile(path);
  if (signal?.aborted) throw abortReason(signal);

  const parser = new ShowinfoParser();
  const pts: (number | null)[] = [];
  let truncation: string | null = null;
  let textInput = false;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };

  const handle: FfmpegHandle = spawnFfmpeg(args, {
    binary: opts.ffmpegPath,
    ...(opts.nice !== undefined ? { nice: opts.nice } : {}),
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
    // The child's environment, not a setting: only the proxy variables change.
    ...(opts.httpProxy !== undefined ? { env: proxiedEnv(process.env, opts.httpProxy) } : {}),
    onStderrLine(line) {
      const frame = parser.push(line);
      if (frame) {
        pts.push(frame.ptsMs);
        notify();
        return;
      }
      opts.onLogLine?.(line);
      if (isTextInputLine(line)) {
        textInput = true;
        void handle.stop(opts.stopGraceMs);
        notify();
      } else if (isErrorLine(line)) {
        stats.errorLines++;
        if (stats.firstErrors.length < 10) stats.firstErrors.push(stripLogPrefix(line));
        if (truncation === null && isTruncationLine(line)) truncation = stripLogPrefix(line);
      } else if (logLevel(line) === 'warning') {
        stats.warningLines++;
      }
    },
  });
  opts.onSpawn?.(handle.pid);
  let stderrClosed = false;
  // Settles after stderr is fully read; errors are taken from `exited` below.
  void handle.exited.then(
    () => {
      stderrClosed = true;
      notify();
    },
    () => {
      stderrClosed = true;
      notify();
    },
  );

  const onAbort = (): void => void handle.stop(opts.stopGraceMs);
  signal?.addEventListener('abort', onAbort, { once: true });

  const nextPts = async (): Promise<number | null> => {
    while (pts.length === 0 && !stderrClosed) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
    return pts.length > 0 ? (pts.shift() ?? null) : null;
  };

  const splitter = new FrameSplitter(width * height * 3);
  let seq = 0;
  let lastPts = 0;
  try {
    try {
      for await (const chunk of handle.stdout) {
        for (const data of splitter.push(chunk as Buffer)) {
          const capturedAt = Date.now();
          let ptsMs = await nextPts();
          if (textInput) break;
          if (ptsMs === null) {
            stats.framesWithoutPts++;
            ptsMs = lastPts;
          }
          lastPts = ptsMs;
          stats.frames = seq + 1;
          yield { streamId: opts.streamId, runId: opts.runId, seq: seq++, ptsMs, capturedAt, width, height, data };
        }
      }
    } catch (err) {
      // stop() destroys stdout, which may end the iteration with a premature close.
      if (!signal?.aborted && !textInput) throw err;
    }
    if (textInput) throw new NotAVideoError(`${input} is text, not a video (ffmpeg would render it as ANSI art)`);
    if (signal?.aborted) throw abortReason(signal);
    stats.leftoverBytes = splitter.end();
    const exit = await handle.exited;
    stats.exitCode = exit.code;
    stats.exitSignal = exit.signal;
    if (signal?.aborted) throw abortReason(signal);

    const lines = handle.stderrTail();
    const failed = exit.code !== 0;
    if (seq === 0) {
      if (failed) throw classifyFailure(input, lines, isUrl(input));
      throw new NotAVideoError(`${input}: ffmpeg decoded no video frame${truncation ? ` (${truncation})` : ''}`);
    }
    if (failed || truncation !== null || stats.leftoverBytes > 0) {
      const reason =
        truncation ?? (withoutInputPrefix(input, mostRelevantLine(lines)) || (failed ? `exit ${exit.code ?? exit.signal}` : 'incomplete last frame'));
      const err: StreamSightError = new DecodeError(`${input}: decoding stopped after ${seq} frame${seq === 1 ? '' : 's'} (truncated or corrupt): ${reason}`);
      throw err;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    const exit = await handle.stop(opts.stopGraceMs);
    if (stats.exitCode === null) {
      stats.exitCode = exit.code;
      stats.exitSignal = exit.signal;
    }
  }
}
