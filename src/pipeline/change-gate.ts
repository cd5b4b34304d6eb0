/**
 * The change gate of `--skip-unchanged` (config `live.skipUnchanged`): per
 * stream, whether a sampled frame differs enough from the last frame that
 * was inferred to be worth inferring. Pure: no I/O, no clock of its own
 * (the caller passes each frame's time).
 *
 * The measure: the frame (rgb24, already at the model's input size) is cut
 * into a grid of `grid` x `grid` blocks and each block's mean luma (BT.601,
 * 0..255) kept: a thumbnail of at most 32 x 32 = 1024 numbers. The score is
 * the fraction of blocks whose mean moved by more than `noiseFloor` levels
 * since the reference (the last inferred frame's thumbnail). Why this one:
 * - averaging a 7 x 7 block (224 px / 32) divides per-pixel sensor noise by
 *   7 (its standard deviation): temporal grain of +-20 levels on a 720p
 *   H.264 picture moved no block mean by more than 5 levels;
 * - H.264 re-quantisation (a key frame every 10 frames at a starved 150
 *   kbit/s for 720p) moved a few blocks by 8-10 levels, hence a floor of 10
 *   (measured in test/integration/pipeline/change-gate-footage.test.ts);
 *   the price: a change of less than 10 levels (a dim shape on a dim
 *   background) is not seen until maxSkipMs;
 * - counting blocks, not summing differences, makes the score independent
 *   of how strong a change is and proportional to how much of the picture
 *   it covers: a person walking in covers a few percent of the blocks by a
 *   large margin, which a mean absolute difference would dilute into the
 *   noise of the other 95%.
 */

/** Blocks per side of the thumbnail (fewer when the frame is smaller). */
export const GATE_GRID = 32;
/** Live streams' spread of the forced inference (ChangeGateOptions.spread): within the last quarter before maxSkipMs. */
export const LIVE_SKIP_SPREAD = 0.25;
/** A block whose mean luma moved more than this many levels (of 255) counts as changed. */
export const GATE_NOISE_FLOOR = 10;

export interface ChangeGateOptions {
  /** Fraction of blocks (0..1) that must change for a frame to be inferred. */
  threshold: number;
  /** A frame is inferred anyway once this long passed without inference, ms (of the times passed to `decide`). */
  maxSkipMs: number;
  /** Default GATE_NOISE_FLOOR. */
  noiseFloor?: number | undefined;
  /** Default GATE_GRID. */
  grid?: number | undefined;
  /**
   * Live streams: after each inference the wait for the next forced one is
   * drawn from [(1 - spread) x maxSkipMs, maxSkipMs], so cameras started
   * together (a server restart) do not all send a frame to inference in the
   * same instant every maxSkipMs. 0 (default, and analyze's): exactly maxSkipMs.
   */
  spread?: number | undefined;
  /** Uniform in [0, 1); default Math.random. */
  random?: (() => number) | undefined;
}

/** Why a frame is inferred, or `unchanged` when it is not. */
export type GateReason = 'first' | 'changed' | 'max_skip' | 'reset' | 'unchanged';

export interface GateDecision {
  infer: boolean;
  reason: GateReason;
  /** Fraction of blocks changed since the reference, 0..1 (1 when there is no reference). */
  score: number;
}

/** A picture as the gate reads it: packed rgb24. */
export interface GatePicture {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Block-mean luma thumbnail of an rgb24 picture; blocks per side min(grid, side), the remainder rows/columns left out. */
export function lumaThumbnail(pic: GatePicture, grid = GATE_GRID): { cols: number; rows: number; means: Float32Array } {
  const { width, height, data } = pic;
  if (data.length < width * height * 3) throw new RangeError(`picture data holds ${data.length} bytes, ${width}x${height} rgb24 needs ${width * height * 3}`);
  const cols = Math.min(grid, width);
  const rows = Math.min(grid, height);
  const bw = Math.floor(width / cols);
  const bh = Math.floor(height / rows);
  const sums = new Float64Array(cols * rows);
  for (let y = 0; y < rows * bh; y++) {
    const rowBase = Math.floor(y / bh) * cols;
    let p = y * width * 3;
    for (let bx = 0; bx < cols; bx++) {
      let s = 0;
      for (let x = 0; x < bw; x++, p += 3) s += 77 * data[p]! + 150 * data[p + 1]! + 29 * data[p + 2]!;
      sums[rowBase + bx]! += s;
    }
  }
  const means = new Float32Array(cols * rows);
  const scale = 1 / (256 * bw * bh);
  for (let i = 0; i < means.length; i++) means[i] = sums[i]! * scale;
  return { cols, rows, means };
}

/** Fraction of blocks whose mean differs by more than `noiseFloor` levels; 1 when the grids differ. */
export function changedFraction(a: Float32Array, b: Float32Array, noiseFloor = GATE_NOISE_FLOOR): number {
  if (a.length !== b.length || a.length === 0) return 1;
  let changed = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > noiseFloor) changed++;
  return changed / a.length;
}

/** One stream's gate: the reference is the thumbnail of the last frame it let through. */
export class ChangeGate {
  private reference: Float32Array | undefined;
  private referenceAt = 0;
  private skipForMs: number;
  private resetPending = false;
  private readonly noiseFloor: number;
  private readonly grid: number;

  constructor(private readonly opts: ChangeGateOptions) {
    if (!(opts.threshold >= 0 && opts.threshold <= 1)) throw new RangeError(`threshold must be within 0..1, got ${opts.threshold}`);
    if (!(opts.maxSkipMs >= 0)) throw new RangeError(`maxSkipMs must be >= 0, got ${opts.maxSkipMs}`);
    this.noiseFloor = opts.noiseFloor ?? GATE_NOISE_FLOOR;
    this.grid = opts.grid ?? GATE_GRID;
    if (!Number.isInteger(this.grid) || this.grid < 1) throw new RangeError(`grid must be an integer >= 1, got ${this.grid}`);
    const spread = opts.spread ?? 0;
    if (!(spread >= 0 && spread <= 1)) throw new RangeError(`spread must be within 0..1, got ${spread}`);
    this.skipForMs = this.nextSkipMs();
  }

  private nextSkipMs(): number {
    const spread = this.opts.spread ?? 0;
    return spread === 0 ? this.opts.maxSkipMs : this.opts.maxSkipMs * (1 - spread * (this.opts.random ?? Math.random)());
  }

  /**
   * Whether the frame is inferred (it then becomes the reference) or
   * repeats the last result. `atMs`: the frame's time (capture time for a
   * live source, pts for a file).
   */
  decide(pic: GatePicture, atMs: number): GateDecision {
    const thumb = lumaThumbnail(pic, this.grid).means;
    const ref = this.reference;
    let decision: GateDecision;
    if (ref === undefined) decision = { infer: true, reason: this.resetPending ? 'reset' : 'first', score: 1 };
    else {
      const score = changedFraction(ref, thumb, this.noiseFloor);
      if (score >= this.opts.threshold) decision = { infer: true, reason: 'changed', score };
      else if (atMs - this.referenceAt >= this.skipForMs) decision = { infer: true, reason: 'max_skip', score };
      else decision = { infer: false, reason: 'unchanged', score };
    }
    if (decision.infer) {
      this.reference = thumb;
      this.referenceAt = atMs;
      this.skipForMs = this.nextSkipMs();
      this.resetPending = false;
    }
    return decision;
  }

  /** The reference was never inferred (dropped, failed, a new run): the next frame is inferred. */
  reset(): void {
    this.reference = undefined;
    this.resetPending = true;
  }
}

/** A frame as FrameGate reads it (a Frame of contracts/frame.ts is one). */
export interface GatedFrame extends GatePicture {
  runId: string;
  seq: number;
}

/**
 * A stream's gate over its frames, in every mode (embedded serve, ingest,
 * analyze): the first frame of each run is inferred (a reused frame's
 * reference is a frame of its own run), and each later one is inferred or
 * names the frame it repeats.
 */
export class FrameGate {
  private readonly gate: ChangeGate;
  private reference: { run: string; seq: number } | undefined;

  constructor(opts: ChangeGateOptions) {
    this.gate = new ChangeGate(opts);
  }

  /** undefined: infer the frame (it becomes the reference); else the seq of the frame of its run that it repeats. */
  check(frame: GatedFrame, atMs: number): number | undefined {
    if (this.reference?.run !== frame.runId) this.gate.reset();
    const decision = this.gate.decide(frame, atMs);
    if (!decision.infer && this.reference) return this.reference.seq;
    this.reference = { run: frame.runId, seq: frame.seq };
    return undefined;
  }
}
