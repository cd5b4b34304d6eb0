/**
 * The index file: one SQLite database (better-sqlite3) holding videos, their
 * sampled frames (labels, embedding, thumbnail) and label segments.
 *
 * Crash safety: WAL journal; every write is one transaction (a batch of
 * frames and the video's committed-frame count together; a video's segments
 * and its final status together), so a process killed at any moment leaves
 * the file at the last committed transaction, never half-written.
 * synchronous=NORMAL: a killed process loses nothing committed; a power cut
 * may lose the last transactions but never corrupts the file.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import type { Label } from '../contracts/analyze-output.ts';
import type { LabelSegment } from '../contracts/results.ts';
import { IndexFileError } from '../shared/errors.ts';
import { FORMAT_NAME, SCHEMA_SQL, SCHEMA_VERSION, StoredLabelsSchema, VideoRowSchema, type VideoRow } from './index-schema.ts';
import { VectorIndex } from './vector-index.ts';

/** What decides whether a stored video is still valid: same content, model and sampling. */
export interface VideoKey {
  path: string;
  contentHash: string;
  sizeBytes: number;
  model: string;
  modelHash: string;
  modelPath: string;
  untrained: boolean;
  embeddingDim: number;
  /** `fps:N`, `every` or `keyframes`. */
  sampling: string;
  /** The model's settled preprocessing (JSON of its values), kept per model hash so search by picture feeds the model alike. */
  preprocess?: string | undefined;
}

/** What ffprobe said about the file; null fields when it could not tell. */
export interface VideoInfo {
  durationMs: number | null;
  fps: number | null;
  width: number | null;
  height: number | null;
  codec: string | null;
}

export interface FrameRecord {
  seq: number;
  ptsMs: number;
  /** Best first; at least one. */
  labels: Label[];
  /** L2-normalised. */
  embedding: Float32Array;
  thumbnail?: Buffer | undefined;
}

export interface StoredFrameLabels {
  seq: number;
  ptsMs: number;
  labels: Label[];
}

export interface OpenOptions {
  /** Open for reading only (search, export, the gateway); the file must exist. */
  readonly?: boolean;
}

export class IndexStore {
  readonly vectors: VectorIndex;
  private closed = false;
  private readonly insertFrame: BetterSqlite3.Statement;
  private readonly setFrameCount: BetterSqlite3.Statement;

  private constructor(
    readonly db: BetterSqlite3.Database,
    readonly file: string,
    readonly readonly: boolean,
  ) {
    this.vectors = new VectorIndex(db);
    this.insertFrame = readonly
      ? db.prepare('SELECT 1')
      : db.prepare('INSERT INTO frames (video_id, seq, pts_ms, top_label, top_score, labels, embedding, thumbnail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.setFrameCount = readonly ? db.prepare('SELECT 1') : db.prepare('UPDATE videos SET frames = ? WHERE id = ? AND frames = ?');
  }

  /**
   * Opens (creating when writable and absent) an index file. Throws
   * IndexFileError when the file is not a StreamSight index, has a newer
   * layout, or cannot be opened.
   */
  static open(file: string, options: OpenOptions = {}): IndexStore {
    const readonly = options.readonly ?? false;
    if (readonly && !existsSync(file)) throw new IndexFileError(`index ${file} does not exist (build it with \`streamsight index\`)`);
    let db: BetterSqlite3.Database;
    try {
      db = new Database(file, { readonly, fileMustExist: readonly, timeout: 5000 });
    } catch (err) {
      throw new IndexFileError(`cannot open index ${file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      sqliteVec.load(db);
      if (!readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
      }
      db.pragma('foreign_keys = ON');
      const version = Number(db.pragma('user_version', { simple: true }));
      const tables = Number(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").pluck().get());
      if (version > SCHEMA_VERSION)
        throw new IndexFileError(`index ${file} has layout version ${version}; this StreamSight reads up to ${SCHEMA_VERSION} (upgrade StreamSight)`);
      if (tables > 0) {
        const format = version === 0 ? undefined : (db.prepare("SELECT value FROM meta WHERE key = 'format'").pluck().get() as string | undefined);
        if (format !== FORMAT_NAME) throw new IndexFileError(`${file} is an SQLite database but not a StreamSight index`);
      } else if (readonly) {
        throw new IndexFileError(`${file} is empty, not a StreamSight index`);
      }
      if (!readonly && version < SCHEMA_VERSION) {
        db.transaction(() => {
          db.exec(SCHEMA_SQL);
          db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('format', ?)").run(FORMAT_NAME);
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
        }).immediate();
      }
    } catch (err) {
      db.close();
      if (err instanceof IndexFileError) throw err;
      const code = (err as { code?: string }).code;
      if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT')
        throw new IndexFileError(`${file} is not a StreamSight index (not an SQLite database)`, { cause: err });
      throw new IndexFileError(`cannot open index ${file}: ${(err as Error).message}`, { cause: err });
    }
    return new IndexStore(db, file, readonly);
  }

  video(path: string): VideoRow | undefined {
    const row = this.db.prepare('SELECT * FROM videos WHERE path = ?').get(path);
    return row === undefined ? undefined : VideoRowSchema.parse(row);
  }

  videoById(id: number): VideoRow | undefined {
    const row = this.db.prepare('SELECT * FROM videos WHERE id = ?').get(id);
    return row === undefined ? undefined : VideoRowSchema.parse(row);
  }

  videos(): VideoRow[] {
    return this.db
      .prepare('SELECT * FROM videos ORDER BY path')
      .all()
      .map((r) => VideoRowSchema.parse(r));
  }

  /**
   * Starts (or restarts) indexing `key.path`: whatever was stored for that
   * path (frames, segments, vectors) goes, and a fresh row with status
   * `indexing` and 0 frames takes its place, in one transaction.
   */
  startVideo(key: VideoKey, info: VideoInfo): VideoRow {
    this.db
      .transaction(() => {
        if (key.preprocess !== undefined)
          this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(`preprocess:${key.modelHash}`, key.preprocess);
        this.startVideoRow(key, info);
      })
      .immediate();
    return this.video(key.path)!;
  }

  /** Records a file that failed before any frame (unreadable, not a video), replacing what was stored for its path. */
  recordFailure(key: VideoKey, info: VideoInfo | undefined, code: string, reason: string): void {
    this.db
      .transaction(() => {
        this.startVideoRow(key, info);
        this.db
          .prepare("UPDATE videos SET status = 'failed', failure_code = ?, failure_reason = ?, finished_at = ? WHERE path = ?")
          .run(code, reason, Date.now(), key.path);
      })
      .immediate();
  }

  private startVideoRow(key: VideoKey, info: VideoInfo | undefined): void {
    this.deleteVideo(key.path);
    this.db
      .prepare(
        `INSERT INTO videos (path, content_hash, size_bytes, duration_ms, fps, width, height, codec, model, model_hash, model_path,
        untrained, embedding_dim, sampling, status, frames, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'indexing', 0, ?)`,
      )
      .run(
        key.path,
        key.contentHash,
        key.sizeBytes,
        info?.durationMs ?? null,
        info?.fps ?? null,
        info?.width ?? null,
        info?.height ?? null,
        info?.codec ?? null,
        key.model,
        key.modelHash,
        key.modelPath,
        key.untrained ? 1 : 0,
        key.embeddingDim,
        key.sampling,
        Date.now(),
      );
  }

  private deleteVideo(path: string): void {
    const old = this.db.prepare('SELECT id FROM videos WHERE path = ?').pluck().get(path) as number | undefined;
    if (old === undefined) return;
    this.vectors.removeVideo(old);
    this.db.prepare('DELETE FROM frames WHERE video_id = ?').run(old);
    this.db.prepare('DELETE FROM segments WHERE video_id = ?').run(old);
    this.db.prepare('DELETE FROM videos WHERE id = ?').run(old);
  }

  /**
   * Appends the next frames of a video in one transaction, with the
   * committed-frame count. The first frame's seq must equal that count
   * (frames are committed in order, so a resumed run continues exactly
   * where the last commit stopped): a gap or an overlap throws RangeError.
   */
  appendFrames(videoId: number, frames: readonly FrameRecord[]): void {
    if (frames.length === 0) return;
    this.db
      .transaction(() => {
        const video = this.db.prepare('SELECT frames, model_hash FROM videos WHERE id = ?').get(videoId) as { frames: number; model_hash: string } | undefined;
        if (video === undefined) throw new RangeError(`videoId: no video ${videoId} in the index`);
        const committed = video.frames;
        frames.forEach((f, i) => {
          if (f.seq !== committed + i) throw new RangeError(`frames: expected seq ${committed + i}, got ${f.seq} (frames are committed in order)`);
        });
        for (const f of frames) {
          const top = f.labels[0];
          const embedding = Buffer.from(f.embedding.buffer, f.embedding.byteOffset, f.embedding.byteLength);
          const r = this.insertFrame.run(videoId, f.seq, f.ptsMs, top?.label ?? '', top?.score ?? 0, JSON.stringify(f.labels), embedding, f.thumbnail ?? null);
          this.vectors.add(Number(r.lastInsertRowid), f.embedding, video.model_hash);
        }
        this.setFrameCount.run(committed + frames.length, videoId, committed);
      })
      .immediate();
  }

  /** The labels of a video's committed frames in seq order (to replay into the event detector on resume). */
  *frameLabels(videoId: number): Generator<StoredFrameLabels> {
    const rows = this.db.prepare('SELECT seq, pts_ms, labels FROM frames WHERE video_id = ? ORDER BY seq').iterate(videoId) as IterableIterator<{
      seq: number;
      pts_ms: number;
      labels: string;
    }>;
    for (const r of rows) yield { seq: r.seq, ptsMs: r.pts_ms, labels: StoredLabelsSchema.parse(JSON.parse(r.labels)) };
  }

  /**
   * Ends a video: its segments and its final status in one transaction.
   * With `failure`, the status is `failed` and the frames before it stay.
   */
  finishVideo(videoId: number, segments: readonly LabelSegment[], failure?: { code: string; reason: string }): void {
    this.db
      .transaction(() => {
        this.db.prepare('DELETE FROM segments WHERE video_id = ?').run(videoId);
        const ins = this.db.prepare('INSERT INTO segments (video_id, label, start_ms, end_ms, peak_score) VALUES (?, ?, ?, ?, ?)');
        for (const s of segments) ins.run(videoId, s.label, s.startMs, s.endMs, s.peakScore);
        this.db
          .prepare('UPDATE videos SET status = ?, failure_code = ?, failure_reason = ?, finished_at = ? WHERE id = ?')
          .run(failure ? 'failed' : 'done', failure?.code ?? null, failure?.reason ?? null, Date.now(), videoId);
      })
      .immediate();
  }

  /** The stored thumbnail of a frame (JPEG), if any. */
  thumbnail(frameId: number): Buffer | undefined {
    const t = this.db.prepare('SELECT thumbnail FROM frames WHERE id = ?').pluck().get(frameId);
    return Buffer.isBuffer(t) ? t : undefined;
  }

  /** Idempotent. Folds the WAL back into the file when writable. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.readonly) {
      // A busy reader keeps part of the WAL; the checkpoint then reports it busy and the next open finishes it.
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    }
    this.db.close();
  }
}
