/**
 * The index file's layout (SQLite), its version, and the zod schemas of
 * what is stored as JSON inside it. One place, so a reader of the file
 * (search, export, the gateway) and the writer agree.
 */
import { z } from 'zod';
import { LabelSchema } from '../contracts/analyze-output.ts';

/** PRAGMA user_version of the layout below; a file with a higher one is refused. */
export const SCHEMA_VERSION = 1;

/** Written once into `meta` so a random SQLite file is not mistaken for an index. */
export const FORMAT_NAME = 'streamsight-index';

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

-- One row per file path. status: indexing (frames 0..frames-1 committed, the rest to come),
-- done, failed (failure_code/failure_reason say why; frames decoded before it are kept).
CREATE TABLE IF NOT EXISTS videos (
  id             INTEGER PRIMARY KEY,
  path           TEXT NOT NULL UNIQUE,
  content_hash   TEXT NOT NULL,
  size_bytes     INTEGER NOT NULL,
  duration_ms    REAL,
  fps            REAL,
  width          INTEGER,
  height         INTEGER,
  codec          TEXT,
  model          TEXT NOT NULL,
  model_hash     TEXT NOT NULL,
  model_path     TEXT NOT NULL,
  untrained      INTEGER NOT NULL DEFAULT 0,
  embedding_dim  INTEGER NOT NULL,
  sampling       TEXT NOT NULL,
  status         TEXT NOT NULL CHECK (status IN ('indexing', 'done', 'failed')),
  failure_code   TEXT,
  failure_reason TEXT,
  frames         INTEGER NOT NULL DEFAULT 0,
  started_at     INTEGER NOT NULL,
  finished_at    INTEGER
) STRICT;

-- labels: JSON array of {index,label,score}, best first. embedding: float32 little-endian, L2-normalised.
CREATE TABLE IF NOT EXISTS frames (
  id         INTEGER PRIMARY KEY,
  video_id   INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  seq        INTEGER NOT NULL,
  pts_ms     REAL NOT NULL,
  top_label  TEXT NOT NULL,
  top_score  REAL NOT NULL,
  labels     TEXT NOT NULL,
  embedding  BLOB NOT NULL,
  thumbnail  BLOB,
  UNIQUE (video_id, seq)
) STRICT;
CREATE INDEX IF NOT EXISTS frames_by_time ON frames (video_id, pts_ms);

-- [start_ms, end_ms) on the video's time axis, from the label event detector.
CREATE TABLE IF NOT EXISTS segments (
  id         INTEGER PRIMARY KEY,
  video_id   INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  label      TEXT NOT NULL,
  start_ms   REAL NOT NULL,
  end_ms     REAL NOT NULL,
  peak_score REAL NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS segments_by_label ON segments (label);
CREATE INDEX IF NOT EXISTS segments_by_video ON segments (video_id, start_ms);

-- The IVF vector index (see vector-index.ts): one row per cell, plus the vec0 table ivf_codes.
CREATE TABLE IF NOT EXISTS ivf_cells (
  cell     INTEGER PRIMARY KEY,
  sketch   BLOB NOT NULL,
  centroid BLOB NOT NULL
) STRICT;
`;

export const StoredLabelsSchema = z.array(LabelSchema);

/** The sampling key stored per video: changing it re-indexes the video. */
export const SamplingKeySchema = z.string().regex(/^(fps:[0-9.]+|every|keyframes)$/);

export const VideoStatusSchema = z.enum(['indexing', 'done', 'failed']);
export type VideoStatus = z.infer<typeof VideoStatusSchema>;

export const VideoRowSchema = z.object({
  id: z.number().int(),
  path: z.string(),
  content_hash: z.string(),
  size_bytes: z.number(),
  duration_ms: z.number().nullable(),
  fps: z.number().nullable(),
  width: z.number().nullable(),
  height: z.number().nullable(),
  codec: z.string().nullable(),
  model: z.string(),
  model_hash: z.string(),
  model_path: z.string(),
  untrained: z.number(),
  embedding_dim: z.number().int(),
  sampling: z.string(),
  status: VideoStatusSchema,
  failure_code: z.string().nullable(),
  failure_reason: z.string().nullable(),
  frames: z.number().int(),
  started_at: z.number(),
  finished_at: z.number().nullable(),
});
export type VideoRow = z.infer<typeof VideoRowSchema>;
