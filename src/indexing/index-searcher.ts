/**
 * Queries over an index file: label segments by name, and frames nearest to
 * an embedding (a picture's, or a stored frame's). Read-only.
 */
import { basename, resolve } from 'node:path';
import { InputNotFoundError, UsageError } from '../shared/errors.ts';
import type { VideoRow } from './index-schema.ts';
import type { IndexStore } from './index-store.ts';
import { labelMatches } from './label-match.ts';
import type { FrameHit, SegmentHit } from './search-types.ts';
import { asFloat32 } from './vector-index.ts';

export interface LabelQuery {
  label: string;
  limit: number;
  /** Segments whose peak score is below this are left out. */
  minScore?: number | undefined;
  /** A video path (or a unique file name / path suffix). */
  video?: string | undefined;
}

export interface VectorSearchQuery {
  embedding: Float32Array;
  modelHash: string;
  limit: number;
  /** Frames less similar than this (cosine similarity) are left out. */
  minScore?: number | undefined;
  video?: string | undefined;
}

/** A stored frame picked as a query. */
export interface StoredFrame {
  frameId: number;
  video: VideoRow;
  seq: number;
  ptsMs: number;
  embedding: Float32Array;
}

export class IndexSearcher {
  constructor(readonly store: IndexStore) {}

  /** The stored video `ref` names: its path as stored or as given, or a unique file name or path suffix. */
  resolveVideo(ref: string): VideoRow {
    const exact = this.store.video(ref) ?? this.store.video(resolve(ref));
    if (exact) return exact;
    const all = this.store.videos();
    const matches = all.filter((v) => v.path.endsWith(`/${ref}`) || basename(v.path) === ref);
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1)
      throw new UsageError(
        `"${ref}" names ${matches.length} indexed videos (${matches
          .slice(0, 3)
          .map((v) => v.path)
          .join(', ')}…); give more of the path`,
      );
    throw new InputNotFoundError(`no indexed video "${ref}"`);
  }

  /** Distinct stored labels that `query` names. */
  matchingLabels(query: string): string[] {
    const labels = this.store.db.prepare('SELECT DISTINCT label FROM segments').pluck().all() as string[];
    return labels.filter((l) => labelMatches(query, l));
  }

  /** Segments of the label, best first: by peak score, then by length. */
  byLabel(q: LabelQuery): SegmentHit[] {
    const labels = this.matchingLabels(q.label);
    if (labels.length === 0) return [];
    const video = q.video === undefined ? undefined : this.resolveVideo(q.video);
    const rows = this.store.db
      .prepare(
        `SELECT s.label, s.start_ms, s.end_ms, s.peak_score, v.path, s.video_id,
        (SELECT f.id FROM frames f WHERE f.video_id = s.video_id AND f.pts_ms >= s.start_ms ORDER BY f.pts_ms LIMIT 1) AS frame_id
      FROM segments s JOIN videos v ON v.id = s.video_id
      WHERE s.label IN (${labels.map(() => '?').join(',')}) AND s.peak_score >= ? ${video ? 'AND s.video_id = ?' : ''}
      ORDER BY s.peak_score DESC, (s.end_ms - s.start_ms) DESC, v.path, s.start_ms LIMIT ?`,
      )
      .all(...labels, q.minScore ?? 0, ...(video ? [video.id] : []), q.limit) as {
      label: string;
      start_ms: number;
      end_ms: number;
      peak_score: number;
      path: string;
      frame_id: number | null;
    }[];
    return rows.map((r) => ({
      kind: 'segment',
      video: r.path,
      label: r.label,
      startMs: r.start_ms,
      endMs: r.end_ms,
      score: r.peak_score,
      frameId: r.frame_id,
    }));
  }

  /** The stored frame of `videoRef` nearest to `seconds`. */
  frameAt(videoRef: string, seconds: number): StoredFrame {
    const video = this.resolveVideo(videoRef);
    const ms = seconds * 1000;
    const row = this.store.db
      .prepare('SELECT id, seq, pts_ms, embedding FROM frames WHERE video_id = ? ORDER BY abs(pts_ms - ?), pts_ms LIMIT 1')
      .get(video.id, ms) as { id: number; seq: number; pts_ms: number; embedding: Buffer } | undefined;
    if (row === undefined) throw new InputNotFoundError(`${video.path} has no indexed frame`);
    return { frameId: row.id, video, seq: row.seq, ptsMs: row.pts_ms, embedding: asFloat32(row.embedding) };
  }

  /** One stored frame as a hit with the given score. */
  frameHit(frameId: number, score: number): FrameHit {
    const r = this.store.db
      .prepare('SELECT f.seq, f.pts_ms, f.top_label, v.path FROM frames f JOIN videos v ON v.id = f.video_id WHERE f.id = ?')
      .get(frameId) as { seq: number; pts_ms: number; top_label: string; path: string } | undefined;
    if (r === undefined) throw new InputNotFoundError(`no frame ${frameId} in the index`);
    return { kind: 'frame', video: r.path, frameId, seq: r.seq, ptsMs: r.pts_ms, score, topLabel: r.top_label };
  }

  /** Frames nearest to the embedding, most similar first. */
  byEmbedding(q: VectorSearchQuery): { hits: FrameHit[]; method: 'exact' | 'ivf' } {
    const video = q.video === undefined ? undefined : this.resolveVideo(q.video);
    const info = this.store.vectors.info();
    const method = video === undefined && info !== null && info.modelHash === q.modelHash && info.dim === q.embedding.length ? 'ivf' : 'exact';
    const found = this.store.vectors.search({ embedding: q.embedding, modelHash: q.modelHash, limit: q.limit, videoId: video?.id });
    const get = this.store.db.prepare('SELECT f.seq, f.pts_ms, f.top_label, v.path FROM frames f JOIN videos v ON v.id = f.video_id WHERE f.id = ?');
    const hits: FrameHit[] = [];
    for (const h of found) {
      const score = 1 - h.distance;
      if (q.minScore !== undefined && score < q.minScore) continue;
      const r = get.get(h.frameId) as { seq: number; pts_ms: number; top_label: string; path: string } | undefined;
      if (r)
        hits.push({
          kind: 'frame',
          video: r.path,
          frameId: h.frameId,
          seq: r.seq,
          ptsMs: r.pts_ms,
          score: Math.round(score * 1e6) / 1e6,
          topLabel: r.top_label,
        });
    }
    return { hits, method };
  }

  /** The model the index's videos were made with (most frames first): what a picture must be embedded with. */
  /** The models frames were made with, most frames first; `preprocess` (JSON) as the index recorded it. */
  models(): { model: string; modelHash: string; modelPath: string; frames: number; preprocess: string | null }[] {
    return this.store.db
      .prepare(
        `SELECT v.model, v.model_hash AS modelHash, v.model_path AS modelPath, sum(v.frames) AS frames, m.value AS preprocess
        FROM videos v LEFT JOIN meta m ON m.key = 'preprocess:' || v.model_hash GROUP BY v.model_hash ORDER BY frames DESC`,
      )
      .all() as { model: string; modelHash: string; modelPath: string; frames: number; preprocess: string | null }[];
  }
}

/** Parses `VIDEO@SECONDS` (the last @ splits, so paths may contain @). */
export function parseFrameRef(ref: string): { video: string; seconds: number } {
  const at = ref.lastIndexOf('@');
  const seconds = at > 0 ? Number(ref.slice(at + 1)) : NaN;
  if (at <= 0 || ref.slice(at + 1).trim() === '' || !Number.isFinite(seconds) || seconds < 0) {
    throw new UsageError(`--frame must be VIDEO@SECONDS (e.g. clip.mp4@12.5), got "${ref}"`);
  }
  return { video: ref.slice(0, at), seconds };
}
