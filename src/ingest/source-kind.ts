/**
 * What kind of source an input string names, and how ffmpeg must open it.
 * Pure: no I/O.
 *
 *   rtsp://, rtsps://     network camera; RTP over TCP by default, over UDP when the server refuses TCP
 *   http(s)://            MJPEG or HLS (ffmpeg tells them apart by content)
 *   srt://, udp://, rtmp(s)://  passed to ffmpeg as they are
 *   /dev/videoN           a V4L2 (USB) camera: `-f v4l2`
 *   -                     standard input
 *   anything else         a file (or file: URL): single-file video
 *                         containers only (FILE_SOURCE_FORMATS), never
 *                         a playlist or list that opens other files
 */
import { fileFormatOptions, isUrl, maxPixelsOptions } from './ffmpeg-args.ts';

export type SourceKind = 'rtsp' | 'http' | 'srt' | 'udp' | 'rtmp' | 'v4l2' | 'stdin' | 'file' | 'other';

export type RtspTransport = 'tcp' | 'udp';

export interface SourceDescription {
  kind: SourceKind;
  /** The URL scheme (`file` for paths, `pipe` for stdin, `v4l2` for devices). */
  scheme: string;
  /** A camera, not a file: latest-frame semantics, restarted forever by the watchdog. */
  live: boolean;
  /** What ffmpeg gets after `-i`. */
  input: string;
  /** ffmpeg input options before `-i`, the limits (sourceLimitOptions) included. */
  inputOptions: string[];
  /** ffmpeg must read our stdin. */
  stdin: boolean;
}

export interface DescribeSourceOptions {
  /** RTSP lower transport, forced; unset: TCP, else UDP (see rtspTransportOptions). */
  rtspTransport?: RtspTransport | undefined;
  /** Largest frame decoded, pixels as stored (config `decode.maxPixels`); unset: ffmpeg's own limit. */
  maxPixels?: number | undefined;
}

/**
 * The input options every decode of a source of `kind` gets, whatever
 * opens it (analyze, index, serve, ingest): a file may only be read by a
 * demuxer of FILE_SOURCE_FORMATS, and no source may decode a frame larger
 * than `maxPixels`.
 */
export function sourceLimitOptions(kind: SourceKind, maxPixels: number | undefined): string[] {
  return [...(kind === 'file' ? fileFormatOptions() : []), ...(maxPixels === undefined ? [] : maxPixelsOptions(maxPixels))];
}

/**
 * ffmpeg's options for the RTSP lower transport. Unset: RTP over TCP (UDP
 * loses packets through NAT and busy links), and over UDP when the server
 * answers SETUP with `461 Unsupported transport`, as VLC's RTSP server
 * (`#rtp{sdp=rtsp://...}`) does for TCP. ffmpeg makes that fallback itself,
 * within one run. `tcp` or `udp` forces one transport.
 */
export function rtspTransportOptions(transport: RtspTransport | undefined): string[] {
  if (transport !== undefined) return ['-rtsp_transport', transport];
  return ['-rtsp_transport', 'tcp+udp', '-rtsp_flags', 'prefer_tcp'];
}

const V4L2_RE = /^\/dev\/video\d+$/;

/** True for a URL whose path ends in .m3u8 / .m3u (an HLS playlist). */
export function isHlsUrl(input: string): boolean {
  return /\.m3u8?(?:[?#]|$)/i.test(input);
}

/** True for a V4L2 capture device path such as /dev/video0. */
export function isV4l2Device(input: string): boolean {
  return V4L2_RE.test(input);
}

export function describeSource(input: string, opts: DescribeSourceOptions = {}): SourceDescription {
  const source = describeKind(input, opts);
  return { ...source, inputOptions: [...source.inputOptions, ...sourceLimitOptions(source.kind, opts.maxPixels)] };
}

function describeKind(input: string, opts: DescribeSourceOptions): SourceDescription {
  if (input === '-' || input === 'pipe:0' || input === 'pipe:') {
    return { kind: 'stdin', scheme: 'pipe', live: true, input: 'pipe:0', inputOptions: [], stdin: true };
  }
  if (isV4l2Device(input)) {
    return { kind: 'v4l2', scheme: 'v4l2', live: true, input, inputOptions: ['-f', 'v4l2'], stdin: false };
  }
  if (!isUrl(input) || /^file:/i.test(input)) {
    return { kind: 'file', scheme: 'file', live: false, input, inputOptions: [], stdin: false };
  }
  const scheme = input.slice(0, input.indexOf(':')).toLowerCase();
  switch (scheme) {
    case 'rtsp':
    case 'rtsps':
      return { kind: 'rtsp', scheme, live: true, input, inputOptions: rtspTransportOptions(opts.rtspTransport), stdin: false };
    case 'http':
    case 'https':
      // MJPEG over HTTP has no timestamps (ffmpeg counts frames at 25 fps):
      // sample by the wall clock. HLS carries real ones, paced by its playlist.
      return { kind: 'http', scheme, live: true, input, inputOptions: isHlsUrl(input) ? [] : ['-use_wallclock_as_timestamps', '1'], stdin: false };
    case 'srt':
      return { kind: 'srt', scheme, live: true, input, inputOptions: [], stdin: false };
    case 'udp':
    case 'rtp':
      return { kind: 'udp', scheme, live: true, input, inputOptions: [], stdin: false };
    case 'rtmp':
    case 'rtmps':
      return { kind: 'rtmp', scheme, live: true, input, inputOptions: [], stdin: false };
    default:
      // Another ffmpeg protocol: passed through as it is; treated as live (it is not a file).
      return { kind: 'other', scheme, live: true, input, inputOptions: [], stdin: false };
  }
}
