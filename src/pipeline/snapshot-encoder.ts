import sharp from 'sharp';
import type { Frame } from '../contracts/frame.ts';

/**
 * The latest frame of a stream as a small JPEG, encoded on request and
 * cached per frame identity (a dashboard polls every few seconds; several
 * dashboards must not re-encode the same frame).
 */
export class SnapshotEncoder {
  private readonly cache = new Map<string, { key: string; jpeg: Promise<Buffer> }>();

  /** @param quality JPEG quality 1-100; default 75. */
  constructor(private readonly quality = 75) {}

  encode(frame: Frame): Promise<Buffer> {
    const key = `${frame.runId}/${frame.seq}`;
    const hit = this.cache.get(frame.streamId);
    if (hit?.key === key) return hit.jpeg;
    const jpeg = sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } })
      .jpeg({ quality: this.quality })
      .toBuffer();
    this.cache.set(frame.streamId, { key, jpeg });
    jpeg.catch(() => this.cache.delete(frame.streamId));
    return jpeg;
  }

  forget(streamId: string): void {
    this.cache.delete(streamId);
  }
}
