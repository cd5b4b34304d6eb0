/**
 * Reading ffmpeg/ffprobe stderr: log levels (with `-loglevel level+...`,
 * every line carries `[error]`, `[warning]`, ...), the line worth showing a
 * user, and which error class a failure maps to. Pure.
 */
import { DecodeError, InputNotFoundError, NotAVideoError, SourceUnreachableError, TooManyPixelsError, type StreamSightError } from '../shared/errors.ts';

export type FfmpegLogLevel = 'panic' | 'fatal' | 'error' | 'warning' | 'info' | 'verbose' | 'debug' | 'trace';

const LEVEL_RE = /\[(panic|fatal|error|warning|info|verbose|debug|trace)\] /;
/** `[h264 @ 0x55d0c1f2a0c0] ` context prefixes (nested ones too: `[h264 @ 0x1] [IMGUTILS @ 0x2] `) and the level tag. */
const PREFIX_RE = /^(?:\[[^\]]*@ 0x[0-9a-f]+\] )*(?:\[(?:panic|fatal|error|warning|info|verbose|debug|trace)\] )?/;

/** The level tag of a line logged with `-loglevel level+...`; null when it has none. */
export function logLevel(line: string): FfmpegLogLevel | null {
  const m = LEVEL_RE.exec(line);
  return m ? (m[1] as FfmpegLogLevel) : null;
}

export function isErrorLine(line: string): boolean {
  const level = logLevel(line);
  return level === 'error' || level === 'fatal' || level === 'panic';
}

/** The line without its `[ctx @ 0x...]` and `[level]` prefixes. */
export function stripLogPrefix(line: string): string {
  return line.replace(PREFIX_RE, '').trim();
}

/**
 * ffmpeg's closing lines after the error that says why: they name no cause
 * (`Error marking filters as finished` after `No JPEG data found in image`,
 * `FILE: Invalid data found when processing input` after `moov atom not found`).
 */
const WRAP_UP_RE =
  /^(?:Error marking filters as finished|Conversion failed!|Nothing was written into output file|Cannot determine format of input stream|Error while (?:decoding|filtering|processing)\b|.*: Invalid data found when processing input$)/;

/**
 * Warning-level lines that name a cause when no error-level line does (a
 * picture cut inside its headers: `Could not find codec parameters for
 * stream 0 (...): unspecified size`, then only wrap-ups at error level).
 */
const CAUSE_WARNING_RE = /Could not find codec parameters|unspecified size|Invalid data found|EOI missing|overread|truncat|partial file/i;

/**
 * The line that best says why ffmpeg failed: the last error-level line that
 * is not a wrap-up (WRAP_UP_RE), else the last warning that names a cause
 * (CAUSE_WARNING_RE), else the first wrap-up (the one nearest the cause:
 * `Error while decoding ...: Invalid data found` says more than the `Error
 * marking filters as finished` after it), else the last non-empty line;
 * without prefixes. Empty string when there is none.
 */
export function mostRelevantLine(lines: readonly string[]): string {
  const errors = lines
    .filter((line) => isErrorLine(line))
    .map(stripLogPrefix)
    .filter((text) => text !== '');
  const warnings = lines.filter((line) => logLevel(line) === 'warning').map(stripLogPrefix);
  const cause = errors.filter((text) => !WRAP_UP_RE.test(text)).at(-1) ?? warnings.filter((text) => CAUSE_WARNING_RE.test(text)).at(-1) ?? errors[0];
  if (cause !== undefined) return cause;
  for (let i = lines.length - 1; i >= 0; i--) {
    const text = stripLogPrefix(lines[i] ?? '');
    if (text !== '') return text;
  }
  return '';
}

const NOT_FOUND_RE = /No such file or directory|Permission denied/i;
const UNREACHABLE_RE =
  /Connection refused|Connection timed out|Connection reset|timed out|Failed to resolve hostname|Name or service not known|Temporary failure in name resolution|Network is unreachable|No route to host|Server returned [45]\d\d|HTTP error [45]\d\d|Server returned 4XX|Server returned 5XX|Unable to open resource|not on whitelist/i;
const NOT_A_VIDEO_RE =
  /Invalid data found when processing input|matches no streams|does not contain any stream|Could not find codec parameters|moov atom not found|Unknown input format|could not find corresponding demuxer|Decoder \(codec [^)]*\) not found/i;
/** The decoder's `-map 0:V:0` found no video stream that is not a cover picture (ffmpeg-args.ts). */
const NO_VIDEO_STREAM_RE = /Stream map '0:V:0' matches no streams/;
/** Messages meaning the data ends before the container says it should. */
const TRUNCATED_RE = /partial file|truncat|unexpected end of file|premature end/i;

/**
 * ffmpeg's `tty` demuxer renders any .txt/.nfo/.asc file as ANSI art video.
 * That is never what a user means by a video: such inputs are NotAVideo.
 */
export const TEXT_DEMUXER = 'tty';

/** True for ffmpeg's `Input #0, tty, from '...'` header line. */
export function isTextInputLine(line: string): boolean {
  return new RegExp(`^Input #\\d+, ${TEXT_DEMUXER}, from `).test(stripLogPrefix(line));
}

/** True when the line says the input ends early (truncated file). */
export function isTruncationLine(line: string): boolean {
  return isErrorLine(line) && TRUNCATED_RE.test(line);
}

/** ffmpeg starts many messages with `input: `; the caller's message already names it. */
export function withoutInputPrefix(input: string, text: string): string {
  for (const prefix of [`${input}: `, `file:${input}: `]) {
    if (text.startsWith(prefix)) return text.slice(prefix.length);
  }
  return text;
}

/**
 * `[hls @ 0x55d0c1f2a0c0] [error] Format not on whitelist 'mov,...'`: the
 * demuxer ffmpeg probed (named by the line's context) is not one of
 * `-format_whitelist` (FILE_SOURCE_FORMATS for a file source), so it was
 * refused before it read anything, or opened anything else.
 */
const FORMAT_REFUSED_RE = /^\[([^\]@]+?) @ 0x[0-9a-f]+\] (?:\[[a-z]+\] )?Format not on whitelist\b/;

/** The demuxer a `-format_whitelist` refused, as ffmpeg names it (`hls`); undefined when none was refused. */
export function refusedFormat(lines: readonly string[]): string | undefined {
  for (const line of lines) {
    const m = FORMAT_REFUSED_RE.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

/** What a refused demuxer that opens other files by name reads, for the message. */
const OPENS_OTHER_FILES: Readonly<Record<string, string>> = {
  hls: 'an HLS playlist',
  dash: 'a DASH manifest',
  concat: 'a concat list',
  image2: 'a picture or an image sequence pattern',
  imf: 'an IMF composition',
  vobsub: 'a VobSub index',
  mlv: 'a Magic Lantern video (it opens its sibling files)',
  sdp: 'an SDP session description',
};

/** The one-line error for a file source whose format `-format_whitelist` refused. */
export function formatRefusal(input: string, format: string): NotAVideoError {
  if (format === TEXT_DEMUXER) return new NotAVideoError(`${input} is text, not a video (ffmpeg would render it as ANSI art)`);
  const what = OPENS_OTHER_FILES[format];
  if (what !== undefined) {
    return new NotAVideoError(
      `${input} is ${what} (format ${format}): a file source must be one video file; playlists and lists that open other files are not read`,
    );
  }
  return new NotAVideoError(
    `${input} is not a video container a file source may be (format ${format}): one video file in mp4/mov, mkv/webm, avi, wmv, flv, MPEG-TS/PS, ogg, mxf and the like`,
  );
}

/** `Picture size 7680x4320 exceeds specified max pixel count 10000`: the decoder's `-max_pixels` (maxPixelsOptions). */
const PIXEL_LIMIT_RE = /Picture size (\d+)x(\d+) exceeds specified max pixel count (\d+)/;

/** The one-line error for a frame over the pixel limit, from the decoder's line; undefined when no frame was. */
export function pixelLimitRefusal(input: string, lines: readonly string[]): TooManyPixelsError | undefined {
  for (const line of lines) {
    const m = PIXEL_LIMIT_RE.exec(line);
    if (m) return tooManyPixels(input, Number(m[1]), Number(m[2]), Number(m[3]));
  }
  return undefined;
}

/** The one-line error for a `width`x`height` video (as stored) over `maxPixels`. */
export function tooManyPixels(input: string, width: number, height: number, maxPixels: number): TooManyPixelsError {
  return new TooManyPixelsError(
    `${input} is ${width}x${height} (${width * height} pixels), above the limit of ${maxPixels} pixels (decode.maxPixels): not decoded`,
  );
}

/** The rtsp demuxer's line with the server's refusal: `method SETUP failed: 461 Unsupported transport`. */
const RTSP_REFUSAL_RE = /method [A-Z_]+ failed: \d{3}\b/;

/**
 * What an RTSP server refused, as ffmpeg logged it; undefined when it
 * refused nothing. ffmpeg follows this line with a generic one (`Protocol
 * not supported` for a 461) that alone would not say what went wrong.
 */
export function rtspRefusal(lines: readonly string[]): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    if (RTSP_REFUSAL_RE.test(line)) {
      const text = stripLogPrefix(line);
      // 461: the transport was forced (rtspTransport) and this server does not stream over it.
      return /failed: 461\b/.test(text) ? `${text} (the server does not stream RTP over the RTSP transport asked for: see rtspTransport)` : text;
    }
  }
  return undefined;
}

/**
 * Maps a failed ffmpeg/ffprobe run on `input` (nothing decoded) to the error
 * a user should see, with ffmpeg's own reason in the message.
 */
export function classifyFailure(input: string, lines: readonly string[], isUrl: boolean): StreamSightError {
  const text = lines.join('\n');
  // Before the others: ffmpeg's own wrap-up of these (`Invalid argument`) says nothing.
  const format = refusedFormat(lines);
  if (format !== undefined) return formatRefusal(input, format);
  const pixels = pixelLimitRefusal(input, lines);
  if (pixels !== undefined) return pixels;
  const reason = (isUrl ? rtspRefusal(lines) : undefined) ?? (withoutInputPrefix(input, mostRelevantLine(lines)) || 'ffmpeg failed without a message');
  if (isUrl && UNREACHABLE_RE.test(text)) {
    return new SourceUnreachableError(`${input} cannot be reached: ${reason}`);
  }
  if (!isUrl && NOT_FOUND_RE.test(text)) {
    return new InputNotFoundError(`${input} cannot be read: ${reason}`);
  }
  if (NO_VIDEO_STREAM_RE.test(text)) {
    return new NotAVideoError(`${input} has no video stream (a cover picture is not one)`);
  }
  if (NOT_A_VIDEO_RE.test(text)) {
    const hint = /moov atom not found/i.test(reason) ? ' (not an mp4/mov, or one cut short before its index)' : '';
    return new NotAVideoError(`${input} is not a video ffmpeg can decode: ${reason}${hint}`);
  }
  if (isUrl && /Input\/output error|End of file/i.test(text)) {
    return new SourceUnreachableError(`${input} cannot be reached: ${reason}`);
  }
  return new DecodeError(`${input}: ffmpeg failed: ${reason}`);
}

/** A line of ffmpeg failing to set up hardware decoding (`-hwaccel vaapi|cuda` with no device, driver or library). */
export function isHwaccelFailureLine(line: string): boolean {
  return /Device creation failed|Device setup failed|No device available for decoder|Cannot load libcuda|Failed to (?:open|initialise) VAAPI|for option 'hwaccel'/i.test(
    line,
  );
}
