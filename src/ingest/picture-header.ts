/**
 * What a picture is, read from its first bytes: its format, the ffmpeg
 * demuxer that reads it from a pipe, and its width x height, without
 * decoding it. Pure: no I/O.
 *
 * Only these formats are pictures here (search by picture): each has an
 * ffmpeg demuxer that reads one picture from a pipe and opens nothing else.
 * Anything else (a playlist, a concat list, a video, text) is not a picture;
 * `whatIsIt` names the common ones for the error message.
 */

export type PictureFormat = 'jpeg' | 'png' | 'webp' | 'bmp' | 'tiff' | 'gif' | 'qoi' | 'pbm' | 'pgm' | 'ppm';

/** The ffmpeg demuxer of each format; `-format_whitelist` lists exactly these. */
export const PICTURE_DEMUXERS: Readonly<Record<PictureFormat, string>> = Object.freeze({
  jpeg: 'jpeg_pipe',
  png: 'png_pipe',
  webp: 'webp_pipe',
  bmp: 'bmp_pipe',
  tiff: 'tiff_pipe',
  // What ffmpeg picks for a GIF file when probing; it reads from a pipe too.
  gif: 'gif',
  qoi: 'qoi_pipe',
  pbm: 'pbm_pipe',
  pgm: 'pgm_pipe',
  ppm: 'ppm_pipe',
});

/** For messages: the formats a picture may be. */
export const PICTURE_FORMATS_TEXT = 'a JPEG, PNG, WebP, BMP, TIFF or GIF';

export interface PictureHeader {
  format: PictureFormat;
  /**
   * Pixels as stored (before any EXIF turn, which does not change their
   * number); undefined when the header is cut short or laid out in a way
   * not read here (ffmpeg then decides, bounded by its `-max_pixels`).
   */
  size: { width: number; height: number } | undefined;
}

const ascii = (b: Uint8Array, at: number, text: string): boolean => {
  if (at + text.length > b.length) return false;
  for (let i = 0; i < text.length; i++) if (b[at + i] !== text.charCodeAt(i)) return false;
  return true;
};

/** A bounds-checked reader: every read past the end answers undefined. */
class Bytes {
  private readonly view: DataView;
  constructor(readonly b: Uint8Array) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  private fits(at: number, n: number): boolean {
    return at >= 0 && at + n <= this.b.length;
  }
  u8(at: number): number | undefined {
    return this.fits(at, 1) ? this.view.getUint8(at) : undefined;
  }
  u16(at: number, little: boolean): number | undefined {
    return this.fits(at, 2) ? this.view.getUint16(at, little) : undefined;
  }
  u32(at: number, little: boolean): number | undefined {
    return this.fits(at, 4) ? this.view.getUint32(at, little) : undefined;
  }
  i32(at: number, little: boolean): number | undefined {
    return this.fits(at, 4) ? this.view.getInt32(at, little) : undefined;
  }
}

type Size = [width: number | undefined, height: number | undefined];

/** JPEG: the first SOFn segment (frame header), found by walking the marker segments from SOI. */
function jpegSize(r: Bytes): Size {
  let at = 2;
  for (;;) {
    // Bytes between segments are skipped up to the next 0xFF, as ffmpeg's decoder does.
    while (at < r.b.length && r.u8(at) !== 0xff) at++;
    if (at >= r.b.length) return [undefined, undefined];
    let marker = r.u8(at + 1);
    while (marker === 0xff) marker = r.u8(++at + 1); // fill bytes
    if (marker === undefined || marker === 0xd9 || marker === 0xda) return [undefined, undefined]; // EOI, or scan data before a frame header
    at += 2;
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0xd8) continue; // markers without a length
    const length = r.u16(at, false);
    if (length === undefined || length < 2) return [undefined, undefined];
    // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return [r.u16(at + 5, false), r.u16(at + 3, false)];
    at += length;
  }
}

/** WebP: the canvas of VP8X, or the frame header of a simple lossy (VP8) or lossless (VP8L) file. */
function webpSize(r: Bytes): Size {
  const b = r.b;
  if (ascii(b, 12, 'VP8X')) {
    const w = r.u32(24, true);
    const h = r.u32(27, true);
    return [w === undefined ? undefined : (w & 0xffffff) + 1, h === undefined ? undefined : (h & 0xffffff) + 1];
  }
  if (ascii(b, 12, 'VP8L')) {
    if (r.u8(20) !== 0x2f) return [undefined, undefined];
    const bits = r.u32(21, true);
    return bits === undefined ? [undefined, undefined] : [(bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1];
  }
  if (ascii(b, 12, 'VP8 ')) {
    if (r.u8(23) !== 0x9d || r.u8(24) !== 0x01 || r.u8(25) !== 0x2a) return [undefined, undefined];
    const w = r.u16(26, true);
    const h = r.u16(28, true);
    return [w === undefined ? undefined : w & 0x3fff, h === undefined ? undefined : h & 0x3fff];
  }
  return [undefined, undefined];
}

/** TIFF: ImageWidth (256) and ImageLength (257) of the first IFD. */
function tiffSize(r: Bytes): Size {
  const little = r.u8(0) === 0x49;
  const ifd = r.u32(4, little);
  const count = ifd === undefined ? undefined : r.u16(ifd, little);
  if (ifd === undefined || count === undefined) return [undefined, undefined];
  let width: number | undefined;
  let height: number | undefined;
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + i * 12;
    const tag = r.u16(e, little);
    if (tag === undefined) break;
    if (tag !== 256 && tag !== 257) continue;
    const type = r.u16(e + 2, little);
    // SHORT (3) or LONG (4), one value, held in the entry itself.
    const value = type === 3 ? r.u16(e + 8, little) : type === 4 ? r.u32(e + 8, little) : undefined;
    if (tag === 256) width = value;
    else height = value;
  }
  return [width, height];
}

/** PNM (P1..P6): magic, then width and height as decimal text, with `#` comments and any whitespace between. */
function pnmSize(b: Uint8Array): Size {
  const numbers: number[] = [];
  let at = 2;
  while (numbers.length < 2 && at < b.length && at < 4096) {
    const c = b[at]!;
    if (c === 0x23) {
      while (at < b.length && b[at] !== 0x0a && b[at] !== 0x0d) at++;
    } else if (c >= 0x30 && c <= 0x39) {
      let n = 0;
      while (at < b.length && b[at]! >= 0x30 && b[at]! <= 0x39 && n < 1e9) n = n * 10 + (b[at++]! - 0x30);
      numbers.push(n);
      continue;
    } else if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x0b && c !== 0x0c) {
      return [undefined, undefined];
    }
    at++;
  }
  return [numbers[0], numbers[1]];
}

function formatOf(b: Uint8Array): PictureFormat | undefined {
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (ascii(b, 0, '\x89PNG\r\n\x1a\n')) return 'png';
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP')) return 'webp';
  if (ascii(b, 0, 'BM')) return 'bmp';
  if (ascii(b, 0, 'II*\0') || ascii(b, 0, 'MM\0*')) return 'tiff';
  if (ascii(b, 0, 'GIF87a') || ascii(b, 0, 'GIF89a')) return 'gif';
  if (ascii(b, 0, 'qoif')) return 'qoi';
  if (b[0] === 0x50 && b[2] !== undefined && /\s/.test(String.fromCharCode(b[2]))) {
    const kind = b[1];
    if (kind === 0x31 || kind === 0x34) return 'pbm';
    if (kind === 0x32 || kind === 0x35) return 'pgm';
    if (kind === 0x33 || kind === 0x36) return 'ppm';
  }
  return undefined;
}

function sizeOf(format: PictureFormat, b: Uint8Array): Size {
  const r = new Bytes(b);
  switch (format) {
    case 'jpeg':
      return jpegSize(r);
    case 'png':
      return ascii(b, 12, 'IHDR') ? [r.u32(16, false), r.u32(20, false)] : [undefined, undefined];
    case 'webp':
      return webpSize(r);
    case 'bmp': {
      // BITMAPCOREHEADER (12 bytes) has 16-bit sizes; the later headers signed 32-bit, a negative height meaning top-down.
      const core = r.u32(14, true) === 12;
      const w = core ? r.u16(18, true) : r.i32(18, true);
      const h = core ? r.u16(20, true) : r.i32(22, true);
      return [w, h === undefined ? undefined : Math.abs(h)];
    }
    case 'tiff':
      return tiffSize(r);
    case 'gif':
      // The logical screen: ffmpeg's GIF decoder makes every frame this size.
      return [r.u16(6, true), r.u16(8, true)];
    case 'qoi':
      return [r.u32(4, false), r.u32(8, false)];
    case 'pbm':
    case 'pgm':
    case 'ppm':
      return pnmSize(b);
  }
}

export type HeaderResult = { ok: true; header: PictureHeader } | { ok: false; reason: string };

/**
 * The picture's format and size from its header, or why it is not a
 * picture: what it looks like instead (`format hls`, `text`, `empty`).
 */
export function readPictureHeader(bytes: Uint8Array): HeaderResult {
  if (bytes.length === 0) return { ok: false, reason: 'empty' };
  const format = formatOf(bytes);
  if (format === undefined) return { ok: false, reason: whatIsIt(bytes) };
  const [width, height] = sizeOf(format, bytes);
  const size = width !== undefined && height !== undefined && width > 0 && height > 0 ? { width, height } : undefined;
  return { ok: true, header: { format, size } };
}

/** A short name for bytes that are not a picture: the formats that open other files first. */
export function whatIsIt(bytes: Uint8Array): string {
  const head = Buffer.from(bytes.subarray(0, 4096))
    .toString('latin1')
    .replace(/^\ufeff|^\xef\xbb\xbf/, '')
    .trimStart();
  if (head.startsWith('#EXTM3U')) return 'format hls';
  if (head.startsWith('ffconcat')) return 'format concat';
  if (/^(<\?xml[^>]*>\s*)?<MPD[\s>]/.test(head)) return 'format dash';
  if (ascii(bytes, 4, 'ftyp')) return 'format mp4/mov';
  if (ascii(bytes, 0, '\x1aE\xdf\xa3')) return 'format mkv/webm';
  if (ascii(bytes, 0, 'RIFF')) return 'a RIFF file that is not WebP';
  // Printable text (with tabs and line ends): a list of file names, a script, a note.
  if (/^[\t\n\r\x20-\x7e]*$/.test(head)) return 'text';
  return 'unknown format';
}
