import assert from 'node:assert/strict';
import Database from 'better-sqlite3';

/** What an index holds, without ids and clocks. */
export interface IndexContents {
  videos: {
    path: string;
    content_hash: string;
    status: string;
    frames: number;
    sampling: string;
    model_hash: string;
    embedding_dim: number;
    failure_code: string | null;
  }[];
  frames: {
    path: string;
    seq: number;
    pts_ms: number;
    labels: { index: number; label: string; score: number }[];
    embedding: Float32Array;
    thumbnail: string | null;
  }[];
  segments: { path: string; label: string; start_ms: number; end_ms: number; peak_score: number }[];
}

export function readIndex(file: string): IndexContents {
  const d = new Database(file, { readonly: true });
  try {
    const videos = d
      .prepare('SELECT path, content_hash, status, frames, sampling, model_hash, embedding_dim, failure_code FROM videos ORDER BY path')
      .all() as IndexContents['videos'];
    const rows = d
      .prepare(
        'SELECT v.path, f.seq, f.pts_ms, f.labels, f.embedding, hex(f.thumbnail) AS thumbnail FROM frames f JOIN videos v ON v.id = f.video_id ORDER BY v.path, f.seq',
      )
      .all() as { path: string; seq: number; pts_ms: number; labels: string; embedding: Buffer; thumbnail: string | null }[];
    const frames = rows.map((r) => ({
      path: r.path,
      seq: r.seq,
      pts_ms: r.pts_ms,
      thumbnail: r.thumbnail,
      labels: JSON.parse(r.labels) as IndexContents['frames'][number]['labels'],
      embedding: new Float32Array(Uint8Array.from(r.embedding).buffer),
    }));
    const segments = d
      .prepare(
        'SELECT v.path, s.label, s.start_ms, s.end_ms, s.peak_score FROM segments s JOIN videos v ON v.id = s.video_id ORDER BY v.path, s.start_ms, s.label',
      )
      .all() as IndexContents['segments'];
    return { videos, frames, segments };
  } finally {
    d.close();
  }
}

/**
 * Same videos (content, model, sampling, status, frame count), same frames in
 * order (seq, time, label indices, thumbnails), scores and embedding
 * components within `tolerance`, same segments (peaks within `tolerance`).
 */
export function assertSameIndex(got: IndexContents, want: IndexContents, tolerance: number): void {
  assert.deepEqual(got.videos, want.videos);
  assert.equal(got.frames.length, want.frames.length, 'frame count');
  got.frames.forEach((g, i) => {
    const w = want.frames[i]!;
    const at = `${w.path} seq ${w.seq}`;
    assert.deepEqual([g.path, g.seq, g.pts_ms], [w.path, w.seq, w.pts_ms], at);
    assert.deepEqual(
      g.labels.map((l) => [l.index, l.label]),
      w.labels.map((l) => [l.index, l.label]),
      `${at}: labels`,
    );
    g.labels.forEach((l, j) => assert.ok(Math.abs(l.score - w.labels[j]!.score) <= tolerance, `${at}: score ${l.score} vs ${w.labels[j]!.score}`));
    assert.equal(g.embedding.length, w.embedding.length, `${at}: embedding length`);
    g.embedding.forEach((x, j) => assert.ok(Math.abs(x - w.embedding[j]!) <= tolerance, `${at}: embedding[${j}] ${x} vs ${w.embedding[j]}`));
    assert.equal(g.thumbnail, w.thumbnail, `${at}: thumbnail`);
  });
  assert.deepEqual(
    got.segments.map((s) => [s.path, s.label, s.start_ms, s.end_ms]),
    want.segments.map((s) => [s.path, s.label, s.start_ms, s.end_ms]),
    'segments',
  );
  got.segments.forEach((s, i) =>
    assert.ok(Math.abs(s.peak_score - want.segments[i]!.peak_score) <= tolerance, `segment ${i}: peak ${s.peak_score} vs ${want.segments[i]!.peak_score}`),
  );
}
