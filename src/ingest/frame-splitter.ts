/**
 * Cuts a byte stream (ffmpeg's rawvideo stdout) into frames of exactly
 * `frameBytes` bytes, whatever the chunking of the pipe.
 *
 * Copies: a frame that lies whole inside one chunk is a zero-copy view
 * (`subarray`) of that chunk; a frame that straddles chunks is assembled
 * with exactly one copy into a fresh buffer. Memory held between calls is
 * bounded by one frame.
 */
export class FrameSplitter {
  readonly frameBytes: number;
  /** Frame being assembled across chunks; null when none is in progress. */
  private partial: Buffer | null = null;
  private partialFilled = 0;
  private framesOut = 0;

  /** @param frameBytes size of one frame in bytes (width * height * 3 for rgb24). */
  constructor(frameBytes: number) {
    if (!Number.isSafeInteger(frameBytes) || frameBytes <= 0) {
      throw new RangeError(`frameBytes must be a positive integer, got ${frameBytes}`);
    }
    this.frameBytes = frameBytes;
  }

  /** Frames completed so far. */
  get frameCount(): number {
    return this.framesOut;
  }

  /** Bytes of an incomplete frame waiting for more data (0..frameBytes-1). */
  get pendingBytes(): number {
    return this.partialFilled;
  }

  /**
   * Feeds one chunk; returns the frames it completes, in order. The returned
   * buffers may share memory with `chunk`: the caller must not reuse `chunk`.
   */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    const size = this.frameBytes;
    let offset = 0;

    if (this.partial !== null) {
      const take = Math.min(size - this.partialFilled, chunk.length);
      chunk.copy(this.partial, this.partialFilled, 0, take);
      this.partialFilled += take;
      offset = take;
      if (this.partialFilled === size) {
        frames.push(this.partial);
        this.partial = null;
        this.partialFilled = 0;
      }
    }

    while (chunk.length - offset >= size) {
      frames.push(chunk.subarray(offset, offset + size));
      offset += size;
    }

    if (offset < chunk.length) {
      // Only reached with no frame in progress: the loop above consumed the
      // partial frame first or the chunk was too short to complete it.
      this.partial = Buffer.allocUnsafe(size);
      this.partialFilled = chunk.copy(this.partial, 0, offset);
    }

    this.framesOut += frames.length;
    return frames;
  }

  /**
   * Ends the stream: returns how many bytes of an incomplete last frame were
   * dropped (0 when the stream ended on a frame boundary), and resets.
   */
  end(): number {
    const leftover = this.partialFilled;
    this.partial = null;
    this.partialFilled = 0;
    return leftover;
  }
}
