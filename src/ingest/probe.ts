/**
 * What a source holds, from ffprobe: duration, frame rate, frame count, size
 * and codec of its first video stream. Used for progress bars and checks
 * before decoding; decoding itself never depends on it.
 */
import { access, constants, stat } from 'node:fs/promises';
import { z } from 'zod';
import type { Sampling } from '../contracts/frame.ts';
import { InputNotFoundError, NotAVideoError, type TooManyPixelsError } from '../shared/errors.ts';
import { FILE_SOURCE_FORMATS, ffmpegInput, isUrl, localPath } from './ffmpeg-args.ts';
import { runFfprobe, type RunFfprobeOptions } from './ffmpeg-process.ts';
import { TEXT_DEMUXER, tooManyPixels } from './ffmpeg-log.ts';
import { describeSource } from './source-kind.ts';

export interface ProbeResult {
  /** Duration in ms; null when the container does not say (live streams). */
  durationMs: number | null;
  /** Average frame rate (avg_frame_rate, else r_frame_rate); null when unknown. */
  fps: number | null;
  /** Frames in the stream: nb_frames, else duration * fps; null when neither is known. */
  frameCount: number | null;
  /** True when frameCount is computed from duration * fps rather than read from the container. */
  frameCountEstimated: boolean;
  /** Size as players show it (and frames are decoded): stored width times the sample aspect ratio, turned by the rotation metadata. */
  width: number;
  height: number;
  /** Size as stored (what the decoder allocates, and what `decode.maxPixels` limits); 0 without video. */
  storedWidth: number;
  storedHeight: number;
  /** Decoder name, e.g. `h264`. */
  codec: string;
  /** False only with `requireVideo: false` and no video stream. */
  hasVideo: boolean;
  /** The stream says it is interlaced (field_order tt, bb, tb or bt): analyze and index deinterlace it. */
  interlaced: boolean;
}

export interface ProbeOptions extends Pick<RunFfprobeOptions, 'binary' | 'timeoutMs'> {
  /** Throw NotAVideoError when there is no video stream (default true); else return hasVideo false. */
  requireVideo?: boolean;
  /**
   * Demuxers ffprobe may read a file source with (`-format_whitelist`);
   * default FILE_SOURCE_FORMATS. A format not listed is refused before it
   * opens anything (formatRefusal in ffmpeg-log.ts). URLs get none.
   */
  formatWhitelist?: readonly string[] | undefined;
  /** Refuse a video larger than this, pixels as stored (config `decode.maxPixels`): TooManyPixelsError. Default: no limit. */
  maxPixels?: number | undefined;
}

/** ffprobe's JSON for the entries asked below; numbers arrive as strings. */
const ffprobeSchema = z.object({
  streams: z
    .array(
      z.object({
        codec_name: z.string().optional(),
        codec_type: z.string().optional(),
        width: z.number().optional(),
        height: z.number().optional(),
        avg_frame_rate: z.string().optional(),
        r_frame_rate: z.string().optional(),
        duration: z.string().optional(),
        nb_frames: z.string().optional(),
        sample_aspect_ratio: z.string().optional(),
        field_order: z.string().optional(),
        side_data_list: z.array(z.object({ rotation: z.number().optional() })).optional(),
        disposition: z.object({ attached_pic: z.number().optional() }).optional(),
      }),
    )
    .default([]),
  format: z.object({ duration: z.string().optional(), format_name: z.string().optional() }).optional(),
});

/** "30000/1001" -> 29.97; null for "0/0" and nonsense. */
export function parseRate(rate: string | undefined): number | null {
  if (rate === undefined) return null;
  const [num, den] = rate.split('/').map(Number);
  if (num === undefined || !Number.isFinite(num) || num <= 0) return null;
  const value = den === undefined ? num : den > 0 ? num / den : NaN;
  return Number.isFinite(value) && value > 0 ? value : null;
}

/** Stored size -> shown size: width times the sample aspect ratio ("32:27"; "0:1" or none is 1), then a quarter turn swaps the sides. */
export function shownSize(width: number, height: number, sar: string | undefined, rotation: number | undefined): { width: number; height: number } {
  const aspect = parseRate(sar?.replace(':', '/')) ?? 1;
  const w = Math.round(width * aspect);
  return Math.abs(Math.round((rotation ?? 0) / 90)) % 2 === 1 ? { width: height, height: w } : { width: w, height };
}

function parsePositive(text: string | undefined): number | null {
  if (text === undefined) return null;
  const value = Number(text);
  return Number.isFinite(value) && value > 0 ? value : null;
}

/** Throws InputNotFoundError unless `path` is a readable file (or FIFO, or device), NotAVideoError when it is empty. */
export async function assertReadableFile(path: string): Promise<void> {
  try {
    await access(path, constants.R_OK);
  } catch (err) {
    throw new InputNotFoundError(`${path} does not exist or cannot be read`, { cause: err });
  }
  const info = await stat(path);
  if (!info.isFile() && !info.isFIFO() && !info.isCharacterDevice()) {
    throw new InputNotFoundError(`${path} is not a file`);
  }
  // ffmpeg would guess a format from the name and say `moov atom not found`.
  if (info.isFile() && info.size === 0) throw new NotAVideoError(`${path} is empty (0 bytes)`);
}

/** Interprets ffprobe's JSON text; pure. */
export function parseProbeJson(input: string, json: string, requireVideo = true): ProbeResult {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new NotAVideoError(`${input}: ffprobe printed no JSON`, { cause: err });
  }
  const parsed = ffprobeSchema.safeParse(raw);
  if (!parsed.success) throw new NotAVideoError(`${input}: unexpected ffprobe output: ${parsed.error.message}`);
  if (parsed.data.format?.format_name === TEXT_DEMUXER) {
    throw new NotAVideoError(`${input} is text, not a video (ffmpeg would render it as ANSI art)`);
  }
  const stream = parsed.data.streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  const formatDuration = parsePositive(parsed.data.format?.duration);
  if (!stream) {
    if (requireVideo) throw new NotAVideoError(`${input} has no video stream`);
    return {
      durationMs: formatDuration === null ? null : formatDuration * 1000,
      fps: null,
      frameCount: null,
      frameCountEstimated: false,
      width: 0,
      height: 0,
      storedWidth: 0,
      storedHeight: 0,
      codec: '',
      hasVideo: false,
      interlaced: false,
    };
  }
  const durationS = parsePositive(stream.duration) ?? formatDuration;
  const fps = parseRate(stream.avg_frame_rate) ?? parseRate(stream.r_frame_rate);
  const nbFrames = parsePositive(stream.nb_frames);
  let frameCount: number | null = nbFrames === null ? null : Math.round(nbFrames);
  let frameCountEstimated = false;
  if (frameCount === null && durationS !== null && fps !== null) {
    frameCount = Math.round(durationS * fps);
    frameCountEstimated = true;
  }
  return {
    durationMs: durationS === null ? null : Math.round(durationS * 1e6) / 1e3,
    fps,
    frameCount,
    frameCountEstimated,
    ...shownSize(stream.width ?? 0, stream.height ?? 0, stream.sample_aspect_ratio, stream.side_data_list?.find((d) => d.rotation !== undefined)?.rotation),
    storedWidth: stream.width ?? 0,
    storedHeight: stream.height ?? 0,
    codec: stream.codec_name ?? 'unknown',
    hasVideo: true,
    interlaced: ['tt', 'bb', 'tb', 'bt'].includes(stream.field_order ?? ''),
  };
}

/** The error for a probed video larger than `maxPixels` (width x height as stored); undefined when it is within it. Pure. */
export function pixelLimitError(input: string, probe: ProbeResult, maxPixels: number): TooManyPixelsError | undefined {
  return probe.storedWidth * probe.storedHeight > maxPixels ? tooManyPixels(input, probe.storedWidth, probe.storedHeight, maxPixels) : undefined;
}

/**
 * Probes a local file or URL. Missing file -> InputNotFoundError (checked
 * before spawning); no video stream / unreadable data / a file in a format
 * a file source may not be -> NotAVideoError; larger than `maxPixels` ->
 * TooManyPixelsError; unreachable URL -> SourceUnreachableError; no
 * ffprobe -> FfmpegMissingError.
 */
export async function probeInput(input: string, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const path = localPath(input);
  if (path !== null) await assertReadableFile(path);
  const formats = describeSource(input).kind === 'file' ? (opts.formatWhitelist ?? FILE_SOURCE_FORMATS) : undefined;
  const json = await runFfprobe(
    [
      // `level+`: lines tagged [error], so classifyFailure tells the cause from ffprobe's wrap-up line.
      '-v',
      'level+error',
      '-print_format',
      'json',
      '-show_entries',
      'format=duration,format_name:stream=codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate,nb_frames,duration,sample_aspect_ratio,field_order:stream_disposition=attached_pic:stream_side_data=rotation',
      '-select_streams',
      'v',
      ...(formats === undefined ? [] : ['-format_whitelist', formats.join(',')]),
      ffmpegInput(input),
    ],
    { binary: opts.binary, timeoutMs: opts.timeoutMs, input, isUrl: isUrl(input) },
  );
  const probe = parseProbeJson(input, json, opts.requireVideo ?? true);
  const tooLarge = opts.maxPixels === undefined ? undefined : pixelLimitError(input, probe, opts.maxPixels);
  if (tooLarge) throw tooLarge;
  return probe;
}

/**
 * About how many frames `sampling` will yield from a probed source, for a
 * progress bar; null when it cannot be told (keyframes, live sources).
 * `fps` N: one frame per 1/N-second bucket that holds a frame.
 */
export function expectedSampledFrames(probe: ProbeResult, sampling: Sampling): number | null {
  switch (sampling.mode) {
    case 'every':
      return probe.frameCount;
    case 'keyframes':
      return null;
    case 'fps': {
      if (probe.durationMs === null) return null;
      const buckets = Math.ceil((probe.durationMs / 1000) * sampling.fps - 1e-9);
      return probe.frameCount === null ? buckets : Math.min(buckets, probe.frameCount);
    }
  }
}
