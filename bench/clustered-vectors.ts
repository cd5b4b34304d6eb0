/**
 * Generated embeddings for the vector search benchmark, fast enough for a
 * million 2048-d vectors (about 1 s per 100,000 here, where drawing a fresh
 * Box-Muller normal per element took about 17 min for the million).
 *
 * Shaped like pooled ResNet features of video: non-negative (after ReLU),
 * L2-normalised, in three levels.
 *  - `scenes` scene centres (a few hundred), drawn once;
 *  - shots: a shot centre is its scene's centre plus noise; consecutive
 *    frames belong to one shot (`framesPerShot` on average);
 *  - frames: the shot centre plus smaller noise.
 * So every frame has near neighbours (its shot), nearer ones than the rest
 * of its scene, as in real footage.
 *
 * Speed comes from reading noise out of a fixed table of normals (2^16)
 * at a random offset and odd stride per vector instead of drawing it, and
 * from writing straight into caller-owned typed arrays. Everything is
 * seeded (mulberry32): the same seed gives the same vectors and queries.
 */
import { mulberry32 } from '../src/shared/mulberry32.ts';

const TABLE_BITS = 16;
const TABLE_MASK = (1 << TABLE_BITS) - 1;

export interface ClusteredVectorsOptions {
  dim: number;
  seed: number;
  /** Scene centres; default 256. */
  scenes?: number;
  /** Mean frames per shot; default 50. */
  framesPerShot?: number;
  /** Noise of a shot around its scene, relative; default 0.6. */
  shotSpread?: number;
  /** Noise of a frame around its shot, relative; default 0.35. */
  frameSpread?: number;
}

export class ClusteredVectors {
  readonly dim: number;
  private readonly rand: () => number;
  private readonly normals = new Float32Array(1 << TABLE_BITS);
  private readonly scenes: Float32Array;
  private readonly sceneCount: number;
  private readonly framesPerShot: number;
  private readonly shotSpread: number;
  private readonly frameSpread: number;
  private readonly seed: number;
  /** Current shot: its centre and per-dimension frame noise scale. */
  private readonly shot: Float32Array;
  private readonly shotScale: Float32Array;
  private shotLeft = 0;
  /** Shots started so far (a query picks one of them). */
  private shots = 0;

  constructor(options: ClusteredVectorsOptions) {
    const { dim, seed } = options;
    if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim: a positive integer, got ${dim}`);
    this.dim = dim;
    this.seed = seed;
    this.sceneCount = options.scenes ?? 256;
    this.framesPerShot = options.framesPerShot ?? 50;
    this.shotSpread = options.shotSpread ?? 0.6;
    this.frameSpread = options.frameSpread ?? 0.35;
    const init = mulberry32(seed);
    for (let i = 0; i < this.normals.length; i += 2) {
      const r = Math.sqrt(-2 * Math.log(init() + 1e-12));
      const t = 2 * Math.PI * init();
      this.normals[i] = r * Math.cos(t);
      this.normals[i + 1] = r * Math.sin(t);
    }
    this.scenes = new Float32Array(this.sceneCount * dim);
    for (let i = 0; i < this.scenes.length; i++) this.scenes[i] = Math.max(0, this.normals[Math.floor(init() * this.normals.length)]!) ** 2;
    this.shot = new Float32Array(dim);
    this.shotScale = new Float32Array(dim);
    this.rand = mulberry32(seed + 1);
  }

  /** Writes the next `count` frames (row-major, L2-normalised) into `out`, from offset 0. */
  fill(out: Float32Array, count: number): Float32Array {
    if (out.length < count * this.dim) throw new RangeError(`out: needs ${count * this.dim} floats, has ${out.length}`);
    for (let i = 0; i < count; i++) {
      if (this.shotLeft <= 0) {
        this.makeShot(this.shots++, this.shot, this.shotScale);
        // 1 .. 2 x framesPerShot - 1 frames, framesPerShot on average.
        this.shotLeft = 1 + Math.floor(this.rand() * (2 * this.framesPerShot - 1));
      }
      this.shotLeft--;
      this.frameInto(out, i * this.dim, this.shot, this.shotScale, this.rand);
    }
    return out;
  }

  /**
   * `count` query vectors: new frames of shots already generated (so each has
   * true neighbours in the data), drawn with their own seed.
   */
  queries(count: number, seed: number): Float32Array {
    if (this.shots === 0) throw new RangeError('queries: generate vectors first');
    const rand = mulberry32(seed);
    const out = new Float32Array(count * this.dim);
    const centre = new Float32Array(this.dim);
    const scale = new Float32Array(this.dim);
    for (let i = 0; i < count; i++) {
      this.makeShot(Math.floor(rand() * this.shots), centre, scale);
      this.frameInto(out, i * this.dim, centre, scale, rand);
    }
    return out;
  }

  /** Shot `k`'s centre and frame noise scale, a pure function of (seed, k). */
  private makeShot(k: number, centre: Float32Array, scale: Float32Array): void {
    const rand = mulberry32((this.seed * 7919 + k * 104729) >>> 0);
    const scene = Math.floor(rand() * this.sceneCount) * this.dim;
    const start = Math.floor(rand() * this.normals.length);
    const stride = 2 * Math.floor(rand() * 4096) + 1;
    for (let d = 0; d < this.dim; d++) {
      const c = this.scenes[scene + d]!;
      const v = Math.max(0, c + this.shotSpread * this.normals[(start + d * stride) & TABLE_MASK]! * Math.sqrt(c + 0.05));
      centre[d] = v;
      scale[d] = this.frameSpread * Math.sqrt(v + 0.05);
    }
  }

  private frameInto(out: Float32Array, o: number, centre: Float32Array, scale: Float32Array, rand: () => number): void {
    const start = Math.floor(rand() * this.normals.length);
    const stride = 2 * Math.floor(rand() * 4096) + 1;
    let norm = 0;
    for (let d = 0; d < this.dim; d++) {
      const v = Math.max(0, centre[d]! + scale[d]! * this.normals[(start + d * stride) & TABLE_MASK]!);
      out[o + d] = v;
      norm += v * v;
    }
    const inv = 1 / Math.sqrt(norm || 1);
    for (let d = 0; d < this.dim; d++) out[o + d]! *= inv;
  }
}
