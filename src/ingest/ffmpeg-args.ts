/**
 * Builds ffmpeg's argument list for decoding a source into sampled,
 * resized, centre-cropped rgb24 frames on stdout. Pure: no I/O.
 *
 * Filter chain (in this order, see docs/ARCHITECTURE.md "Frame semantics"):
 *   select   only with `fps`: keep the first frame of each 1/N s bucket,
 *            before any scaling so unsampled frames cost nothing more.
 *   scale,format  convert to rgb24 at the source resolution first, so the
 *            resize runs on RGB like the reference (PIL on an RGB image);
 *            scaling in YUV, then converting, differs by up to ~30/255 on
 *            colour edges (chroma is resized at half resolution).
 *   scale    shorter side to `resize.shorter` (or straight to WxH), the longer one truncated as
 *            torchvision does; swscale's bilinear widens its triangle filter
 *            by the downscale factor, which is PIL's antialiased bilinear.
 *   crop     centre crop with torchvision's offset int(round(d / 2))
 *            (Python rounds halves to even).
 *   showinfo last, so its log carries the pts of exactly the frames written.
 * Timestamps are the source's, read from showinfo; `-fps_mode passthrough`
 * keeps ffmpeg from duplicating or dropping frames to reach a constant rate.
 */
import type { FrameGeometry, Sampling } from '../contracts/frame.ts';
import type { Interpolation } from '../contracts/preprocess.ts';

export interface DecodeArgsOptions {
  /** A local path or a URL (scheme://...); `-` or `pipe:0` reads stdin. */
  input: string;
  sampling: Sampling;
  geometry: FrameGeometry;
  /** Read the input at its native frame rate (`-re`), as a camera would deliver it. */
  realtime?: boolean;
  /** Restart the input at its end, forever (`-stream_loop -1`). */
  loop?: boolean;
  /** Protocols ffmpeg may open (`-protocol_whitelist`), e.g. ['file', 'http', 'tcp']. */
  protocolWhitelist?: string[];
  /**
   * Input options placed just before `-i` (e.g. `-rtsp_transport tcp`,
   * `-f v4l2`); see source-kind.ts. Each must be an option, not an input:
   * the list is checked to hold no `-i`.
   */
  inputOptions?: readonly string[];
  /**
   * An http proxy (`http://127.0.0.1:PORT`) for every http(s) request of
   * this input, nested ones (HLS segments, variant playlists, keys,
   * redirects) included: ffmpeg's `-http_proxy`, passed on by the hls
   * demuxer to what it opens, and tunnelled with CONNECT for https.
   */
  httpProxy?: string | undefined;
  /**
   * The input is interlaced (probe.ts `interlaced`): frames the decoder
   * flags interlaced are deinterlaced (DEINTERLACE_FILTER) before sampling,
   * so a moving edge is not combed into the picture the model sees.
   */
  deinterlace?: boolean | undefined;
  /**
   * Decoder threads (`-threads N` before `-i`: an input option, so the
   * decoder's, not the encoder's); undefined: ffmpeg's choice (one per core
   * and more). One per camera keeps N cameras from running N x cores threads.
   */
  decodeThreads?: number | undefined;
  /**
   * Hardware decoding (`-hwaccel`); `none` or undefined: software. Frames
   * come back to system memory for the filter chain. `vaapi` and `cuda`
   * make ffmpeg fail at start when the device is missing (file-decoder.ts
   * then runs it again in software); `auto` falls back by itself.
   */
  hwaccel?: HwaccelKind | undefined;
}

/** ffmpeg's `-hwaccel` values StreamSight passes. */
export type HwaccelKind = 'none' | 'auto' | 'vaapi' | 'cuda';

/** Input options of the decoder: its threads and hardware decoding. Pure. */
export function decoderOptions(opts: { decodeThreads?: number | undefined; hwaccel?: HwaccelKind | undefined }): string[] {
  const args: string[] = [];
  if (opts.decodeThreads !== undefined) {
    if (!Number.isInteger(opts.decodeThreads) || opts.decodeThreads < 0)
      throw new RangeError(`decodeThreads must be an integer >= 0, got ${opts.decodeThreads}`);
    args.push('-threads', String(opts.decodeThreads));
  }
  if (opts.hwaccel !== undefined && opts.hwaccel !== 'none') {
    if (!['auto', 'vaapi', 'cuda'].includes(opts.hwaccel)) throw new RangeError(`hwaccel must be none, auto, vaapi or cuda, got ${String(opts.hwaccel)}`);
    args.push('-hwaccel', opts.hwaccel);
  }
  return args;
}

/**
 * bwdif, one frame out per frame in (frame count and times unchanged),
 * field order from the stream, and only on frames flagged interlaced (a
 * progressive frame of a mixed stream passes as it is). It runs before
 * `select`, as it interpolates from the neighbouring frames; it holds one
 * frame back, so it is used for files only, never for a live source.
 */
export const DEINTERLACE_FILTER = 'bwdif=mode=send_frame:parity=auto:deint=interlaced';

/**
 * swscale flags of the YUV -> RGB conversion at source resolution: chroma
 * interpolated (not replicated) and exact rounding. Without them colour
 * edges differ by up to ~90/255 from an accurate conversion.
 */
export const RGB_CONVERT_FLAGS = 'bicubic+accurate_rnd+full_chroma_int';
/** swscale flags of the resize; measured against PIL in test/integration/ingest/preprocess-reference.test.ts. */
export const RESIZE_FLAGS = 'bilinear+accurate_rnd';
/**
 * Added to the resize's flags when it also converts YUV to RGB
 * (`live.fastScale`): chroma interpolated, not replicated. Measured on a
 * 1080p camera clip at 5 of 25 frames/s, one thread: ffmpeg 1.04 s of CPU for
 * 8 s of video with the separate conversion, 0.40 s in one pass (decoding
 * alone 0.33 s); frames differ from the separate conversion's by 0.3-0.6/255
 * on average on camera-like clips, about 2/255 under strong noise (the exact
 * path clips each full-resolution pixel before averaging; this one averages
 * first); test/integration/ingest/fast-scale.test.ts.
 */
export const FAST_SCALE_FLAGS = 'full_chroma_int';
/** swscale flags of a bicubic resize. */
export const RESIZE_FLAGS_BICUBIC = 'bicubic+accurate_rnd';

const URL_RE = /^[a-z][a-z0-9+.-]*:\/\//i;

export function isUrl(input: string): boolean {
  return URL_RE.test(input);
}

/** The filesystem path of a local input, or null for a URL or stdin. */
export function localPath(input: string): string | null {
  if (isUrl(input) || input === '-' || input.startsWith('pipe:')) return null;
  return input.startsWith('file:') ? input.slice('file:'.length) : input;
}

/**
 * How ffmpeg and ffprobe must be given `input`: every local path as a
 * `file:` URL. A plain path would be read as an option when it starts with
 * `-` (`-report` makes ffprobe write a report file) and as a protocol when
 * it holds a `:`. ffmpeg's file protocol takes the rest of the string as it
 * is (no percent-decoding, no `?` or `#`), so any name survives. URLs, stdin
 * and `file:` inputs pass unchanged.
 */
export function ffmpegInput(input: string): string {
  return localPath(input) !== null && !input.startsWith('file:') ? `file:${input}` : input;
}

/**
 * The demuxers (ffmpeg `-format_whitelist`) a file source may be read with:
 * containers and raw streams that read the one file they are given and
 * never open another by name. ffmpeg checks the list after probing, before
 * the demuxer reads its header, so a refused format opens nothing further
 * (and the list is copied into any nested context). Left out, on purpose,
 * the demuxers that open files named inside the file: hls (.m3u8), dash
 * (.mpd), concat (ffconcat and concat lists), image2 (`%d` and glob
 * patterns, and single pictures), imf, vobsub (.idx opens its .sub), mlv
 * (opens its .M00, .M01 siblings), sdp/rtsp (network); and everything else
 * not named here (tty renders text files as video). mov reads external
 * data references (drefs) only with `enable_drefs`, off by default and
 * never set here. Checked with `strace -f -e trace=openat` on ffmpeg 5.1:
 * test/integration/ingest/file-source-formats.test.ts.
 */
export const FILE_SOURCE_FORMATS: readonly string[] = [
  'mov', // mov, mp4, m4v, m4a, 3gp, 3g2, mj2 (ffmpeg's name: "mov,mp4,m4a,3gp,3g2,mj2")
  'matroska', // mkv, webm ("matroska,webm")
  'avi',
  'asf', // wmv, asf
  'flv',
  'mpegts', // ts, mts, m2ts
  'mpeg', // MPEG program stream: mpg, mpeg, vob
  'mpegvideo', // raw MPEG-1/2 video (m1v, m2v)
  'ogg', // ogv
  'mxf',
  'nut',
  'dv',
  'wtv',
  'rm', // RealMedia (rm, rmvb)
  'ivf', // VP8/VP9/AV1 in IVF
  'yuv4mpegpipe', // y4m
  'h264',
  'hevc',
  'm4v', // raw MPEG-4 part 2
  'obu', // raw AV1
  'gif',
];

/** Input options that restrict the demuxers of a file source to FILE_SOURCE_FORMATS. */
export function fileFormatOptions(): string[] {
  return ['-format_whitelist', FILE_SOURCE_FORMATS.join(',')];
}

/**
 * Input options that make ffmpeg's decoders refuse a frame larger than
 * `maxPixels` (width x height as stored; config `decode.maxPixels`): the
 * backstop for sources that are not probed first (cameras, streams) and for
 * a size that changes mid-stream. ffmpeg checks the width rounded up to its
 * stride alignment (up to 64 px), so it may refuse a frame a little under
 * the limit that the probe's exact check (probe.ts) lets through.
 */
export function maxPixelsOptions(maxPixels: number): string[] {
  checkPositiveInt('maxPixels', maxPixels);
  return ['-max_pixels', String(maxPixels)];
}

function checkPositiveInt(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
}

/** The `select` expression keeping the first frame of every 1/fps-second bucket. */
export function fpsSelectExpr(fps: number): string {
  if (!Number.isFinite(fps) || fps <= 0) throw new RangeError(`fps must be a positive number, got ${fps}`);
  // First frame (no previous selection), then any frame whose bucket index
  // floor(t*N) is past the last selected one. Commas are escaped for the
  // filtergraph parser; the number is written without exponent.
  const n = String(fps);
  return `isnan(prev_selected_t)+gt(floor(t*${n})\\,floor(prev_selected_t*${n}))`;
}

/** The -vf filter chain for a sampling mode and geometry (deinterlaced first when asked). */
export function buildFilterChain(sampling: Sampling, geometry: FrameGeometry, deinterlace = false): string {
  const { resize, cropWidth: cw, cropHeight: ch } = geometry;
  checkPositiveInt('geometry.cropWidth', cw);
  checkPositiveInt('geometry.cropHeight', ch);
  const filters: string[] = [];
  if (deinterlace) filters.push(DEINTERLACE_FILTER);
  if (sampling.mode === 'fps') filters.push(`select=${fpsSelectExpr(sampling.fps)}`);
  // fastScale: swscale resizes and converts in one pass (below), from YUV.
  if (!geometry.fastScale) filters.push(`scale=flags=${RGB_CONVERT_FLAGS}`, 'format=rgb24');
  const flags = geometry.fastScale
    ? `${resizeFlags(geometry.interpolation ?? 'bilinear')}+${FAST_SCALE_FLAGS}`
    : resizeFlags(geometry.interpolation ?? 'bilinear');
  if ('shorter' in resize) {
    const s = resize.shorter;
    checkPositiveInt('geometry.resize.shorter', s);
    if (cw > s || ch > s) throw new RangeError(`crop ${cw}x${ch} is larger than the resized shorter side ${s}`);
    // Shorter side -> s, longer -> trunc(s * long / short) (torchvision), of the
    // picture as it is shown: the stored width times the sample aspect ratio
    // (`sar`, 1 when unset), so anamorphic video (DVD 720x480 at SAR 32:27, HDV
    // 1440x1080 at 4:3) comes out square-pixelled, not squeezed.
    const dw = 'iw*sar';
    const w = `if(lte(${dw}\\,ih)\\,${s}\\,trunc(${s}*${dw}/ih))`;
    const h = `if(lte(${dw}\\,ih)\\,trunc(${s}*ih/(${dw}))\\,${s})`;
    filters.push(`scale=w=${w}:h=${h}:${flags}`);
    if (geometry.fastScale) filters.push('format=rgb24');
  } else {
    checkPositiveInt('geometry.resize.width', resize.width);
    checkPositiveInt('geometry.resize.height', resize.height);
    if (cw > resize.width || ch > resize.height) throw new RangeError(`crop ${cw}x${ch} is larger than the resize to ${resize.width}x${resize.height}`);
    filters.push(`scale=w=${resize.width}:h=${resize.height}:${flags}`);
    if (geometry.fastScale) filters.push('format=rgb24');
  }
  // Python round-half-to-even of d/2 for integer d: floor(d/2), plus 1 when
  // d is odd and floor(d/2) is odd.
  const off = (d: string): string => `trunc(${d}/2)+mod(${d}\\,2)*mod(trunc(${d}/2)\\,2)`;
  filters.push(`crop=w=${cw}:h=${ch}:x=${off('(iw-ow)')}:y=${off('(ih-oh)')}`);
  filters.push('showinfo');
  return filters.join(',');
}

/**
 * swscale options of the resize for an interpolation. swscale widens the
 * kernel by the downscale factor, as PIL does. For bicubic, swscale's own
 * kernel parameters are kept: against PIL's bicubic (a = -0.5) they came
 * out closest (300x400 -> 256 + crop 224 on testsrc2 with noise: mean
 * |diff| 0.25, max 13; giving `param1=0.5` made it 0.75, max 23);
 * test/integration/ingest/preprocess-presets.test.ts measures it.
 */
export function resizeFlags(interpolation: Interpolation): string {
  return `flags=${interpolation === 'bicubic' ? RESIZE_FLAGS_BICUBIC : RESIZE_FLAGS}`;
}

/** Input-side options and the input itself. */
function inputArgs(opts: DecodeArgsOptions): string[] {
  const args: string[] = [];
  if (opts.protocolWhitelist && opts.protocolWhitelist.length > 0) {
    args.push('-protocol_whitelist', opts.protocolWhitelist.join(','));
  }
  if (opts.realtime) args.push('-re');
  if (opts.loop) args.push('-stream_loop', '-1');
  // Drop non-key frames inside the decoder: they are never even decoded.
  if (opts.sampling.mode === 'keyframes') args.push('-skip_frame', 'nokey');
  if (opts.httpProxy !== undefined) {
    if (!/^http:\/\/[^\s/]+$/.test(opts.httpProxy)) throw new RangeError(`httpProxy must be http://host:port, got ${opts.httpProxy}`);
    args.push('-http_proxy', opts.httpProxy);
  }
  args.push(...decoderOptions(opts));
  if (opts.inputOptions) {
    if (opts.inputOptions.includes('-i')) throw new RangeError('inputOptions must not contain -i');
    args.push(...opts.inputOptions);
  }
  // A device demuxer forced with `-f` (v4l2) opens the name itself: no `file:` in front.
  args.push('-i', opts.inputOptions?.includes('-f') ? opts.input : ffmpegInput(opts.input));
  return args;
}

/**
 * Arguments (without the program name, `-nostdin` or `-hide_banner`, which
 * the process wrapper adds) for decoding `input` to rgb24 frames of
 * geometry.cropWidth x geometry.cropHeight on stdout, with one showinfo
 * line per frame on stderr.
 */
export function buildDecodeArgs(opts: DecodeArgsOptions): string[] {
  if (opts.input.length === 0) throw new RangeError('input must not be empty');
  return [
    // `level` prefixes each line with [error]/[warning]: errors are counted by it.
    // info is the lowest level at which showinfo prints.
    '-nostats',
    '-loglevel',
    'level+info',
    ...inputArgs(opts),
    // The first video stream that is not a cover picture (`V`, not `v`): an
    // audio file's cover art, or an mp4/mkv cover placed first, is no video.
    // probe.ts picks the same stream.
    '-map',
    '0:V:0',
    '-an',
    '-sn',
    '-dn',
    '-vf',
    buildFilterChain(opts.sampling, opts.geometry, opts.deinterlace ?? false),
    '-fps_mode',
    'passthrough',
    // Output (rawvideo encoder) threads. With the default, ffmpeg 5.1 runs the
    // encoder frame-threaded, which holds each frame back until the next one
    // is sampled: a whole sampling period of latency on a live source (2 s
    // at --fps 0.5). Copying pixels needs no threads; decoding keeps its own.
    '-threads',
    '1',
    // Write each frame out whole at once: otherwise the tail of a frame past
    // AVIO's 32 KiB buffer waits for the next frame (a whole sampling period
    // of latency for a live source, forever for the last frame of a stall).
    '-flush_packets',
    '1',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  ];
}

/**
 * The environment of an ffmpeg that must use `httpProxy` for every http(s)
 * request: ffmpeg skips a proxy, even one given with `-http_proxy`, for
 * any host listed in `no_proxy` (checked: Debian's ffmpeg 5.1), so that
 * variable goes; `http_proxy` is set too, for any open that is not handed
 * the option. Pure: returns a new object.
 */
export function proxiedEnv(base: NodeJS.ProcessEnv, httpProxy: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) {
    if (!/^(no_proxy|http_proxy|https_proxy|all_proxy)$/i.test(k)) env[k] = v;
  }
  env.http_proxy = httpProxy;
  return env;
}
