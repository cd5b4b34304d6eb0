/**
 * Exports of an index: JSON Lines (videos, frames, segments), CSV (one row
 * per segment) and WebVTT (label segments as cues, one file's worth per
 * video). The formatters are pure; `exportIndex` streams rows from the store.
 */
import type { IndexStore } from './index-store.ts';
import type { VideoRow } from './index-schema.ts';
import { StoredLabelsSchema } from './index-schema.ts';

export type ExportFormat = 'jsonl' | 'csv' | 'vtt';

export interface SegmentRow {
  video: string;
  label: string;
  startMs: number;
  endMs: number;
  peakScore: number;
}

/** `HH:MM:SS.mmm`, as WebVTT wants it. */
export function vttTime(ms: number): string {
  const t = Math.max(0, Math.round(ms));
  const h = Math.floor(t / 3_600_000);
  const m = Math.floor((t % 3_600_000) / 60_000);
  const s = Math.floor((t % 60_000) / 1000);
  const milli = t % 1000;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(milli).padStart(3, '0')}`;
}

/**
 * A WebVTT document of one video's segments. Cue text cannot hold "-->" or
 * blank lines, so labels are put on one line with "->" for "-->". A cue of
 * zero length (a one-frame segment) gets 1 ms so players keep it.
 */
export function toWebVtt(segments: readonly SegmentRow[]): string {
  const lines = ['WEBVTT', ''];
  const sorted = [...segments].sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
  sorted.forEach((s, i) => {
    const end = Math.max(s.endMs, s.startMs + 1);
    const text = `${s.label} (${s.peakScore.toFixed(2)})`.replace(/-->/g, '->').replace(/[\r\n]+/g, ' ');
    lines.push(String(i + 1), `${vttTime(s.startMs)} --> ${vttTime(end)}`, text, '');
  });
  return lines.join('\n');
}

/** A CSV field per RFC 4180: quoted when it holds a comma, quote or line break. */
export function csvField(value: string | number): string {
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const CSV_HEADER = 'video,label,start_ms,end_ms,peak_score';

export function toCsvRow(s: SegmentRow): string {
  return [s.video, s.label, s.startMs, s.endMs, s.peakScore].map(csvField).join(',');
}

function segmentsOf(store: IndexStore, video?: VideoRow): SegmentRow[] {
  const rows = store.db
    .prepare(
      `SELECT v.path AS video, s.label, s.start_ms AS startMs, s.end_ms AS endMs, s.peak_score AS peakScore
      FROM segments s JOIN videos v ON v.id = s.video_id ${video ? 'WHERE s.video_id = ?' : ''} ORDER BY v.path, s.start_ms, s.end_ms, s.label`,
    )
    .all(...(video ? [video.id] : []));
  return rows as SegmentRow[];
}

export interface ExportOptions {
  format: ExportFormat;
  /** Only this video; required for vtt when the index holds several. */
  video?: VideoRow | undefined;
  /** jsonl: add each frame's embedding (large). */
  embeddings?: boolean;
  write: (chunk: string) => void | Promise<void>;
}

/** Writes the export in order; JSON Lines: one {"type":"video"} line, then its frames and segments, per video. */
export async function exportIndex(store: IndexStore, opts: ExportOptions): Promise<void> {
  if (opts.format === 'vtt') {
    await opts.write(toWebVtt(segmentsOf(store, opts.video)));
    return;
  }
  if (opts.format === 'csv') {
    await opts.write(CSV_HEADER + '\n');
    for (const s of segmentsOf(store, opts.video)) await opts.write(toCsvRow(s) + '\n');
    return;
  }
  const videos = opts.video ? [opts.video] : store.videos();
  const frames = store.db.prepare(`SELECT seq, pts_ms, labels${opts.embeddings ? ', embedding' : ''} FROM frames WHERE video_id = ? ORDER BY seq`);
  for (const v of videos) {
    await opts.write(
      JSON.stringify({
        type: 'video',
        path: v.path,
        contentHash: v.content_hash,
        durationMs: v.duration_ms,
        fps: v.fps,
        model: v.model,
        sampling: v.sampling,
        status: v.status,
        ...(v.failure_reason ? { failure: { code: v.failure_code, reason: v.failure_reason } } : {}),
        frames: v.frames,
      }) + '\n',
    );
    for (const r of frames.iterate(v.id) as IterableIterator<{ seq: number; pts_ms: number; labels: string; embedding?: Buffer }>) {
      const line: Record<string, unknown> = {
        type: 'frame',
        video: v.path,
        seq: r.seq,
        ptsMs: r.pts_ms,
        labels: StoredLabelsSchema.parse(JSON.parse(r.labels)),
      };
      if (r.embedding) line.embedding = Array.from(new Float32Array(Uint8Array.from(r.embedding).buffer), (x) => Math.round(x * 1e6) / 1e6);
      await opts.write(JSON.stringify(line) + '\n');
    }
    for (const s of segmentsOf(store, v)) await opts.write(JSON.stringify({ type: 'segment', ...s }) + '\n');
  }
}
