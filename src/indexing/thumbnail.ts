import sharp from 'sharp';
import type { Frame } from '../contracts/frame.ts';

/** Longer side of a stored thumbnail, pixels; about 2-3 kB as JPEG. */
export const THUMBNAIL_SIZE = 96;
const QUALITY = 70;

/**
 * A small JPEG of a frame as the model saw it (resized and centre-cropped
 * rgb24). sharp runs on libuv's thread pool, off the event loop.
 */
export async function makeThumbnail(frame: Frame, size = THUMBNAIL_SIZE): Promise<Buffer> {
  const scale = size / Math.max(frame.width, frame.height);
  const width = Math.max(1, Math.round(frame.width * scale));
  const height = Math.max(1, Math.round(frame.height * scale));
  return sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } })
    .resize(width, height, { kernel: 'lanczos3' })
    .jpeg({ quality: QUALITY, mozjpeg: false })
    .toBuffer();
}
