/**
 * Decodes one picture given as bytes (search by picture: a POST body, or
 * the file of `search --image`) into one frame, as a video frame is decoded.
 *
 * A picture is decoded as a picture only. Its format and size are read from
 * its header first (picture-header.ts): anything that is not one of the
 * picture formats is refused, and so is a picture over `maxPixels`, before
 * ffmpeg starts (a header cut short before its size is left to ffmpeg,
 * which refuses it or decodes it within `-max_pixels`). ffmpeg then reads the bytes from its stdin with
 * `-protocol_whitelist pipe` (it can open nothing else), `-format_whitelist`
 * of the picture demuxers, the demuxer of the format found forced with `-f`,
 * and `-max_pixels` as a backstop for a header that lies. Everything after
 * the input is decodeFrames' (the same filter chain as video frames).
 */
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { Frame, FrameGeometry } from '../contracts/frame.ts';
import { InputNotFoundError, NotAVideoError, TooManyPixelsError, UsageError, isStreamSightError } from '../shared/errors.ts';
import { decodeFrames } from './file-decoder.ts';
import { PICTURE_DEMUXERS, PICTURE_FORMATS_TEXT, readPictureHeader, type PictureHeader } from './picture-header.ts';

export interface PictureDecodeOptions {
  geometry: FrameGeometry;
  /** Largest picture decoded, pixels (width x height; config `decode.maxPixels`). Larger: TooManyPixelsError, nothing decoded. */
  maxPixels: number;
  /** What to call the picture in messages (its file); default `the picture`. */
  name?: string | undefined;
  /** ffmpeg program; default `ffmpeg` from PATH. */
  ffmpegPath?: string | undefined;
}

/** A picture, decoded. */
export interface DecodedPicture {
  frame: Frame;
  /**
   * Set when ffmpeg reported errors decoding the picture (a truncated or
   * damaged file: the missing part comes out grey): its first error line.
   */
  damage?: string;
}

/**
 * The picture's header, or the user error that refuses it: NotAVideoError
 * (`not a picture (format hls): send a JPEG, ...`) or TooManyPixelsError
 * (over `maxPixels`, width x height: config `decode.maxPixels`).
 */
export function inspectPicture(bytes: Uint8Array, maxPixels: number, name = 'the picture'): PictureHeader {
  if (!Number.isSafeInteger(maxPixels) || maxPixels <= 0) throw new RangeError(`maxPixels must be a positive integer, got ${maxPixels}`);
  if (bytes.length === 0) throw new NotAVideoError(`${name} is empty (0 bytes)`);
  const read = readPictureHeader(bytes);
  if (!read.ok) throw new NotAVideoError(`${name}: not a picture (${read.reason}): send ${PICTURE_FORMATS_TEXT}`);
  const { size, format } = read.header;
  // A header cut short before its size: ffmpeg decides, within -max_pixels.
  if (size === undefined) return read.header;
  const { width, height } = size;
  if (width * height > maxPixels) {
    throw new TooManyPixelsError(
      `${name} is a ${format} of ${width}x${height} (${width * height} pixels), above the limit of ${maxPixels} pixels (decode.maxPixels): not decoded`,
    );
  }
  return read.header;
}

/** ffmpeg's input options for a picture of `byteLength` bytes on stdin (before `-i pipe:0`). Pure. */
export function pictureInputOptions(header: PictureHeader, byteLength: number, maxPixels: number): string[] {
  const demuxer = PICTURE_DEMUXERS[header.format];
  return [
    '-format_whitelist',
    Object.values(PICTURE_DEMUXERS).join(','),
    '-f',
    demuxer,
    // The image pipe demuxers cut a pipe into 4 KiB packets unless told its size: a TIFF (no parser
    // to join them) would not decode. The whole picture as one packet is what they read from a file.
    ...(demuxer.endsWith('_pipe') ? ['-frame_size', String(byteLength)] : []),
    // A decoder option: a frame over the limit is refused before its buffer is allocated. ffmpeg checks
    // the width rounded up to its stride alignment (64 px), so a picture whose header passed gets that
    // much room: the backstop is for a decoder that finds another size than the header says.
    '-max_pixels',
    String(header.size === undefined ? maxPixels : Math.max(maxPixels, alignedPixels(header.size))),
  ];
}

/** width x height with the width rounded up to 64, as ffmpeg's buffer check counts them. */
function alignedPixels(size: { width: number; height: number }): number {
  return Math.ceil(size.width / 64) * 64 * size.height;
}

/** The first frame of the picture in `bytes`, preprocessed to `geometry`. */
export async function decodePicture(bytes: Uint8Array, opts: PictureDecodeOptions): Promise<DecodedPicture> {
  const name = opts.name ?? 'the picture';
  const { maxPixels } = opts;
  const header = inspectPicture(bytes, maxPixels, name);
  const decode = decodeFrames('pipe:0', {
    streamId: 'picture',
    runId: randomUUID(),
    sampling: { mode: 'every' },
    geometry: opts.geometry,
    stdin: Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]),
    protocolWhitelist: ['pipe'],
    inputOptions: pictureInputOptions(header, bytes.length, maxPixels),
    ...(opts.ffmpegPath === undefined ? {} : { ffmpegPath: opts.ffmpegPath }),
  });
  try {
    for await (const frame of decode) {
      // ffmpeg logs a decoding error before the frame it damaged reaches the output, so it is counted by now.
      const { errorLines, firstErrors } = decode.stats;
      return errorLines > 0 ? { frame, damage: `ffmpeg reported ${errorLines} error(s) decoding it (first: ${firstErrors[0] ?? '?'})` } : { frame };
    } // leaving the loop stops ffmpeg
  } catch (err) {
    // decodeFrames names the input `pipe:0`; the user knows it as `name`.
    if (isStreamSightError(err) && err.code !== 'E_FFMPEG_MISSING' && err.userError) {
      const message = err.message.replaceAll('pipe:0', name);
      throw err.code === 'E_TOO_MANY_PIXELS' ? new TooManyPixelsError(message, { cause: err }) : new NotAVideoError(message, { cause: err });
    }
    throw err;
  }
  throw new NotAVideoError(`${name}: no picture decoded`);
}

/**
 * The bytes of a picture file, at most `maxBytes` (search.maxImageBytes):
 * InputNotFoundError when it cannot be read, UsageError when larger (it is
 * not read past the limit), NotAVideoError when empty.
 */
export async function readPictureFile(path: string, maxBytes: number): Promise<Buffer> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
  let file;
  try {
    file = await open(path, 'r');
  } catch (err) {
    throw new InputNotFoundError(`${path} does not exist or cannot be read`, { cause: err });
  }
  try {
    if ((await file.stat()).isDirectory()) throw new InputNotFoundError(`${path} is not a file`);
    // One byte more than allowed tells "too large" from "exactly the limit", also for a pipe whose size stat cannot tell.
    const buffer = Buffer.alloc(Math.min(maxBytes + 1, 1024 * 1024));
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, maxBytes + 1 - size));
      if (bytesRead === 0) break;
      chunks.push(Buffer.from(buffer.subarray(0, bytesRead)));
      size += bytesRead;
      if (size > maxBytes) throw new UsageError(`${path}: picture over ${maxBytes} bytes (search.maxImageBytes)`);
    }
    if (size === 0) throw new NotAVideoError(`${path} is empty (0 bytes)`);
    return Buffer.concat(chunks, size);
  } catch (err) {
    if (isStreamSightError(err)) throw err;
    throw new InputNotFoundError(`${path} cannot be read: ${(err as Error).message}`, { cause: err });
  } finally {
    await file.close();
  }
}
