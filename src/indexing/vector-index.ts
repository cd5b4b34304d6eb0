/**
 * Nearest-neighbour search over the frames' embeddings.
 *
 * Small indexes are searched exactly: sqlite-vec's vec_distance_cosine over
 * every stored float32 embedding (about 2.6 us per 2048-d vector here, so
 * 20,000 frames take about 50 ms). Past `minVectors` an inverted file (IVF)
 * takes over, built on sqlite-vec (see README "Index and search" for the
 * measurements behind the choice):
 *
 * - cells: k-means in a 64-d count-sketch space (ivf-math.ts), about
 *   sqrt(N) of them; each cell keeps its sketch centroid and its full-D mean;
 * - codes: one vec0 table `ivf_codes(cell integer partition key, code bit[D])`,
 *   the residual sign bits of every vector; sqlite-vec scans one partition
 *   with a hardware popcount;
 * - query: the `nprobe` nearest cells; the r-th nearest (from 0) gives its
 *   best candidates / (r + 1) codes by Hamming distance (residual codes rank
 *   only within their cell); all are re-ranked by exact cosine on the floats.
 *
 * Vectors added after training go to their nearest cell in the same
 * transaction as their frame. The index is rebuilt when the frames of its
 * model have doubled since it was trained.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { binaryCodeInto, cellCount, codeBytes, kmeans, nearestRow, nearestRows, sketchInto, sketchPlan, SKETCH_DIMS } from './ivf-math.ts';

export interface VectorHit {
  frameId: number;
  /** Cosine distance, 0 (same direction) .. 2. */
  distance: number;
}

export interface VectorQuery {
  embedding: Float32Array;
  /** Only frames of videos indexed with this model (embeddings of other models do not compare). */
  modelHash: string;
  limit: number;
  /** Only this video's frames. */
  videoId?: number | undefined;
  /** Force an exact scan (the benchmark's ground truth). */
  exact?: boolean;
  /** Cells probed; default DEFAULT_NPROBE. */
  nprobe?: number;
  /** Codes taken from the nearest cell (the r-th nearest gives candidates / (r + 1)), all re-ranked exactly; default DEFAULT_CANDIDATES. */
  candidates?: number;
}

export interface TrainOptions {
  /** Cells; default about sqrt(N), 16..1024. */
  cells?: number;
  /** k-means iterations; default 8. */
  iterations?: number;
  /** Points k-means trains on, at most; default 64 per cell. */
  sample?: number;
}

/** Frames of one model below which search stays exact. */
export const DEFAULT_MIN_VECTORS = 20_000;
export const DEFAULT_NPROBE = 8;
export const DEFAULT_CANDIDATES = 200;

interface Cells {
  modelHash: string;
  dim: number;
  count: number;
  trainedOn: number;
  sketches: Float32Array;
  centroids: Float32Array;
}

export class VectorIndex {
  private cells: Cells | null | undefined;
  private plan: Int32Array | undefined;
  private readonly sketchBuf = new Float32Array(SKETCH_DIMS);
  private codeBuf = new Uint8Array(0);
  private insertStmt: BetterSqlite3.Statement | undefined;
  private rerankStmt: BetterSqlite3.Statement | undefined;
  private knnStmt: BetterSqlite3.Statement | undefined;

  constructor(private readonly db: BetterSqlite3.Database) {}

  /** The trained IVF's model, size and cell count; null when searches are exact. */
  info(): { modelHash: string; dim: number; cells: number; trainedOn: number } | null {
    const c = this.load();
    return c === null ? null : { modelHash: c.modelHash, dim: c.dim, cells: c.count, trainedOn: c.trainedOn };
  }

  private load(): Cells | null {
    if (this.cells !== undefined) return this.cells;
    const meta = new Map(
      (this.db.prepare("SELECT key, value FROM meta WHERE key LIKE 'ivf_%'").all() as { key: string; value: string }[]).map((r) => [r.key, r.value]),
    );
    const modelHash = meta.get('ivf_model_hash');
    const dim = Number(meta.get('ivf_dim'));
    if (modelHash === undefined || !(dim > 0)) return (this.cells = null);
    const rows = this.db.prepare('SELECT cell, sketch, centroid FROM ivf_cells ORDER BY cell').all() as { cell: number; sketch: Buffer; centroid: Buffer }[];
    const sketches = new Float32Array(rows.length * SKETCH_DIMS);
    const centroids = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => {
      sketches.set(asFloat32(r.sketch), i * SKETCH_DIMS);
      centroids.set(asFloat32(r.centroid), i * dim);
    });
    this.plan = sketchPlan(dim);
    return (this.cells = { modelHash, dim, count: rows.length, trainedOn: Number(meta.get('ivf_trained_on') ?? 0), sketches, centroids });
  }

  /** Adds a stored frame's vector to the IVF when one is trained for its model; call inside the frame's transaction. */
  add(frameId: number, embedding: Float32Array, modelHash: string): void {
    const c = this.load();
    if (c === null || c.modelHash !== modelHash || embedding.length !== c.dim) return;
    const cell = nearestRow(sketchInto(embedding, this.plan!, this.sketchBuf), c.sketches, c.count, SKETCH_DIMS);
    this.insertCode(frameId, cell, embedding, c);
  }

  private insertCode(frameId: number, cell: number, embedding: Float32Array, c: Cells): void {
    if (this.codeBuf.length !== codeBytes(c.dim)) this.codeBuf = new Uint8Array(codeBytes(c.dim));
    binaryCodeInto(embedding, c.centroids.subarray(cell * c.dim, (cell + 1) * c.dim), this.codeBuf);
    this.insertStmt ??= this.db.prepare('INSERT INTO ivf_codes (rowid, cell, code) VALUES (?, ?, vec_bit(?))');
    this.insertStmt.run(BigInt(frameId), BigInt(cell), this.codeBuf);
  }

  /** Drops a video's vectors from the IVF; call inside the transaction that deletes its frames. */
  removeVideo(videoId: number): void {
    if (this.load() === null) return;
    this.db.prepare('DELETE FROM ivf_codes WHERE rowid IN (SELECT id FROM frames WHERE video_id = ?)').run(videoId);
  }

  /** Frames stored with `modelHash`. */
  countVectors(modelHash: string): number {
    return Number(this.db.prepare('SELECT count(*) FROM frames f JOIN videos v ON v.id = f.video_id WHERE v.model_hash = ?').pluck().get(modelHash));
  }

  /**
   * Trains (or retrains) the IVF for `modelHash` when it has at least
   * `minVectors` frames and the IVF is missing, for another model, or was
   * trained on less than half of them. Returns whether it trained.
   */
  maybeTrain(modelHash: string, minVectors = DEFAULT_MIN_VECTORS, options: TrainOptions = {}): boolean {
    const n = this.countVectors(modelHash);
    if (n < minVectors) return false;
    const c = this.load();
    if (c !== null && c.modelHash === modelHash && n <= 2 * c.trainedOn) return false;
    this.train(modelHash, options);
    return true;
  }

  /** Builds the IVF over every frame of `modelHash` in one transaction (replacing any IVF). */
  train(modelHash: string, options: TrainOptions = {}): void {
    const n = this.countVectors(modelHash);
    if (n === 0) throw new RangeError(`modelHash: no frames of model ${modelHash} to train on`);
    const first = this.db
      .prepare('SELECT embedding FROM frames f JOIN videos v ON v.id = f.video_id WHERE v.model_hash = ? LIMIT 1')
      .pluck()
      .get(modelHash) as Buffer;
    const dim = first.length / 4;
    const k = Math.min(options.cells ?? cellCount(n), n);
    const sampleSize = Math.min(n, options.sample ?? 64 * k);
    const plan = sketchPlan(dim);
    const select = this.db.prepare('SELECT f.id, f.embedding FROM frames f JOIN videos v ON v.id = f.video_id WHERE v.model_hash = ? ORDER BY f.id');

    // Pass 1: a sketch per vector (n x 64 floats), and an evenly spread sample kept whole.
    const ids = new Float64Array(n);
    const sketches = new Float32Array(n * SKETCH_DIMS);
    const step = n / sampleSize;
    const sampleIdx: number[] = [];
    for (let s = 0; s < sampleSize; s++) sampleIdx.push(Math.floor(s * step));
    const sampleFull = new Float32Array(sampleSize * dim);
    let i = 0;
    let s = 0;
    for (const row of select.iterate(modelHash) as IterableIterator<{ id: number; embedding: Buffer }>) {
      if (i >= n) break;
      const v = asFloat32(row.embedding);
      ids[i] = row.id;
      sketchInto(v, plan, sketches.subarray(i * SKETCH_DIMS, (i + 1) * SKETCH_DIMS));
      if (s < sampleSize && sampleIdx[s] === i) sampleFull.set(v, s++ * dim);
      i++;
    }
    const sampleSketches = new Float32Array(sampleSize * SKETCH_DIMS);
    sampleIdx.forEach((idx, j) => sampleSketches.set(sketches.subarray(idx * SKETCH_DIMS, (idx + 1) * SKETCH_DIMS), j * SKETCH_DIMS));
    const cellSketches = kmeans(sampleSketches, sampleSize, SKETCH_DIMS, k, options.iterations ?? 8);

    // Full-D centroids: the mean of the sample's members of each cell (the residual codes' thresholds).
    const sums = new Float64Array(k * dim);
    const counts = new Int32Array(k);
    for (let j = 0; j < sampleSize; j++) {
      const cell = nearestRow(sampleSketches.subarray(j * SKETCH_DIMS, (j + 1) * SKETCH_DIMS), cellSketches, k, SKETCH_DIMS);
      counts[cell]!++;
      for (let d = 0; d < dim; d++) sums[cell * dim + d]! += sampleFull[j * dim + d]!;
    }
    const centroids = new Float32Array(k * dim);
    for (let cell = 0; cell < k; cell++)
      for (let d = 0; d < dim; d++) centroids[cell * dim + d] = counts[cell]! > 0 ? sums[cell * dim + d]! / counts[cell]! : 0;

    const cells: Cells = { modelHash, dim, count: k, trainedOn: n, sketches: cellSketches, centroids };
    // Pass 2: every vector's cell and code, written with the cells in one transaction.
    this.db
      .transaction(() => {
        this.insertStmt = undefined;
        this.knnStmt = undefined;
        this.db.exec('DROP TABLE IF EXISTS ivf_codes; DELETE FROM ivf_cells;');
        this.db.exec(`CREATE VIRTUAL TABLE ivf_codes USING vec0(cell integer partition key, code bit[${dim}])`);
        const insCell = this.db.prepare('INSERT INTO ivf_cells (cell, sketch, centroid) VALUES (?, ?, ?)');
        for (let cell = 0; cell < k; cell++) {
          insCell.run(
            cell,
            toBlob(cellSketches.subarray(cell * SKETCH_DIMS, (cell + 1) * SKETCH_DIMS)),
            toBlob(centroids.subarray(cell * dim, (cell + 1) * dim)),
          );
        }
        const setMeta = this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
        setMeta.run('ivf_model_hash', modelHash);
        setMeta.run('ivf_dim', String(dim));
        setMeta.run('ivf_trained_on', String(n));
        // Pages of 1,000 by id: better-sqlite3 cannot write while a read on the same connection is open.
        const page = this.db.prepare(
          'SELECT f.id, f.embedding FROM frames f JOIN videos v ON v.id = f.video_id WHERE v.model_hash = ? AND f.id > ? ORDER BY f.id LIMIT 1000',
        );
        let j = 0;
        let last = -1;
        for (;;) {
          const rows = page.all(modelHash, last) as { id: number; embedding: Buffer }[];
          if (rows.length === 0 || j >= n) break;
          for (const row of rows) {
            if (j >= n || ids[j] !== row.id) break;
            const cell = nearestRow(sketches.subarray(j * SKETCH_DIMS, (j + 1) * SKETCH_DIMS), cellSketches, k, SKETCH_DIMS);
            this.insertCode(row.id, cell, asFloat32(row.embedding), cells);
            j++;
          }
          last = rows[rows.length - 1]!.id;
        }
      })
      .immediate();
    this.cells = cells;
    this.plan = plan;
  }

  /** Nearest frames to `q.embedding`, nearest first. */
  search(q: VectorQuery): VectorHit[] {
    const c = this.load();
    const useIvf = !q.exact && q.videoId === undefined && c !== null && c.modelHash === q.modelHash && q.embedding.length === c.dim;
    return useIvf ? this.searchIvf(q, c) : this.searchExact(q);
  }

  private searchExact(q: VectorQuery): VectorHit[] {
    const rows = this.db
      .prepare(
        `SELECT f.id AS frameId, vec_distance_cosine(f.embedding, ?) AS distance FROM frames f JOIN videos v ON v.id = f.video_id
        WHERE v.model_hash = ? ${q.videoId === undefined ? '' : 'AND f.video_id = ?'} ORDER BY distance, f.id LIMIT ?`,
      )
      .all(toBlob(q.embedding), q.modelHash, ...(q.videoId === undefined ? [] : [q.videoId]), q.limit) as VectorHit[];
    return rows;
  }

  private searchIvf(q: VectorQuery, c: Cells): VectorHit[] {
    const nprobe = Math.max(1, Math.min(q.nprobe ?? DEFAULT_NPROBE, c.count));
    const candidates = Math.max(q.candidates ?? DEFAULT_CANDIDATES, q.limit);
    const probe = nearestRows(sketchInto(q.embedding, this.plan!, this.sketchBuf), c.sketches, c.count, SKETCH_DIMS, nprobe);
    const knn = (this.knnStmt ??= this.db.prepare('SELECT rowid FROM ivf_codes WHERE code MATCH vec_bit(?) AND k = ? AND cell = ?'));
    const code = new Uint8Array(codeBytes(c.dim));
    // Codes are residuals to their own cell's centroid, so Hamming distances only rank within a
    // cell. The r-th nearest cell (from 0) gives candidates / (r + 1) codes, as true neighbours
    // crowd in the nearest cells, and all of them are re-ranked exactly.
    const found: number[] = [];
    probe.forEach((cell, r) => {
      const perCell = BigInt(Math.min(4096, Math.max(q.limit, Math.ceil(candidates / (r + 1)))));
      binaryCodeInto(q.embedding, c.centroids.subarray(cell * c.dim, (cell + 1) * c.dim), code);
      for (const row of knn.all(code, perCell, BigInt(cell)) as { rowid: number }[]) found.push(row.rowid);
    });
    // Exact re-rank inside SQLite: one statement, sqlite-vec's SIMD cosine on the stored floats, no
    // 8 KB Buffer per candidate crossing into JavaScript (that path took 2x as long at 550 candidates).
    this.rerankStmt ??= this.db.prepare(`SELECT f.id AS frameId, vec_distance_cosine(f.embedding, ?) AS distance FROM frames f
        WHERE f.id IN (SELECT value FROM json_each(?)) ORDER BY distance, f.id LIMIT ?`);
    return this.rerankStmt.all(toBlob(q.embedding), JSON.stringify(found), q.limit) as VectorHit[];
  }

  /** Bytes the IVF takes in the file (codes and cells), from sqlite's dbstat when available. */
  diskBytes(): number | null {
    try {
      return Number(this.db.prepare("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'ivf_%'").pluck().get() ?? 0);
    } catch {
      // dbstat is a compile-time option of SQLite: without it the size is unknown, which is no error.
      return null;
    }
  }
}

/** A float32 view of a BLOB (copied when it is not 4-byte aligned). */
export function asFloat32(buf: Buffer): Float32Array {
  if (buf.byteOffset % 4 === 0) return new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const out = new Float32Array(buf.length / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

export function toBlob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}
