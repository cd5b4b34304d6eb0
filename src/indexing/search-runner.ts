/**
 * One search from its options, for the CLI and the HTTP route alike:
 * exactly one of label, image, frame; the same filters; the same response.
 */
import { PreprocessOverridesSchema, type PreprocessOverrides } from '../contracts/preprocess.ts';
import { UsageError } from '../shared/errors.ts';
import { IndexSearcher, parseFrameRef } from './index-searcher.ts';
import type { SearchResponse } from './search-types.ts';

export interface SearchOptions {
  label?: string | undefined;
  /** A picture: its file, or its bytes (echoed in the response's query as `N bytes`); needs `embedImage`. */
  image?: string | Uint8Array | undefined;
  /** VIDEO@SECONDS. */
  frame?: string | undefined;
  video?: string | undefined;
  limit: number;
  minScore?: number | undefined;
}

/**
 * Embeds a picture (its file, or its bytes) with the model of the index
 * (`modelPath`): loads the model and runs it once. `damage`: the picture
 * decoded with errors (see decodeQueryImage); the search goes on with what decoded.
 */
export type ImageEmbedder = (
  picture: string | Uint8Array,
  modelPath: string,
  preprocess?: PreprocessOverrides,
) => Promise<{ embedding: Float32Array; modelHash: string; damage?: string }>;

/** Default and largest --limit. */
export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 1000;

export function checkSearchOptions(o: SearchOptions): void {
  const given = [o.label, o.image, o.frame].filter((x) => x !== undefined).length;
  if (given !== 1) throw new UsageError('search needs exactly one of --label NAME, --image FILE, --frame VIDEO@SECONDS');
  if (!Number.isInteger(o.limit) || o.limit < 1 || o.limit > MAX_LIMIT) throw new UsageError(`--limit must be an integer in 1..${MAX_LIMIT}, got ${o.limit}`);
  if (o.minScore !== undefined && !(o.minScore >= -1 && o.minScore <= 1)) throw new UsageError(`--min-score must be a number in [-1, 1], got ${o.minScore}`);
}

export async function runSearch(searcher: IndexSearcher, o: SearchOptions, embedImage?: ImageEmbedder): Promise<SearchResponse> {
  checkSearchOptions(o);
  const started = performance.now();
  const query: SearchResponse['query'] = { limit: o.limit };
  for (const k of ['label', 'frame', 'video', 'minScore'] as const) if (o[k] !== undefined) Object.assign(query, { [k]: o[k] });
  if (o.image !== undefined) query.image = typeof o.image === 'string' ? o.image : `${o.image.length} bytes`;
  const took = (): number => Math.round((performance.now() - started) * 100) / 100;
  if (o.label !== undefined) {
    const hits = searcher.byLabel({ label: o.label, limit: o.limit, minScore: o.minScore, video: o.video });
    return { query, tookMs: took(), hits };
  }
  let embedding: Float32Array;
  let modelHash: string;
  let queryFrame: { frameId: number; videoId: number } | undefined;
  let damage: string | undefined;
  if (o.frame !== undefined) {
    const ref = parseFrameRef(o.frame);
    const f = searcher.frameAt(ref.video, ref.seconds);
    embedding = f.embedding;
    modelHash = f.video.model_hash;
    queryFrame = { frameId: f.frameId, videoId: f.video.id };
  } else {
    if (!embedImage) throw new UsageError('search by --image is not available here');
    const model = searcher.models()[0];
    if (!model) return { query, tookMs: took(), hits: [] };
    // Fed as the index's frames were: the preprocessing recorded with them (flags or config at indexing time).
    const preprocess = model.preprocess === null ? undefined : PreprocessOverridesSchema.parse(JSON.parse(model.preprocess));
    ({ embedding, modelHash, damage } = await embedImage(o.image!, model.modelPath, preprocess));
  }
  const { hits, method } = searcher.byEmbedding({ embedding, modelHash, limit: o.limit, minScore: o.minScore, video: o.video });
  if (queryFrame !== undefined && (o.video === undefined || searcher.resolveVideo(o.video).id === queryFrame.videoId)) {
    // The frame itself comes first, also when identical frames tie with it (a still scene).
    const self = hits.find((h) => h.frameId === queryFrame!.frameId) ?? searcher.frameHit(queryFrame.frameId, 1);
    const rest = hits.filter((h) => h.frameId !== queryFrame!.frameId);
    return { query, vectorSearch: method, tookMs: took(), hits: [self, ...rest].slice(0, o.limit) };
  }
  return {
    query,
    vectorSearch: method,
    tookMs: took(),
    ...(damage === undefined ? {} : { warnings: [`the picture is damaged: ${damage}; searched with what decoded`] }),
    hits,
  };
}

/** `1:02:03.5` / `2:03.5`: a time on a video's axis. */
export function formatTime(ms: number): string {
  const total = Math.max(0, ms) / 1000;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = (total % 60).toFixed(1).padStart(4, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** The readable table of `streamsight search`. */
export function formatSearchTable(r: SearchResponse): string {
  if (r.hits.length === 0) return 'no match\n';
  const rows: string[][] = r.hits.map((h, i) =>
    h.kind === 'segment'
      ? [
          String(i + 1),
          h.score.toFixed(3),
          `${formatTime(h.startMs)}-${formatTime(h.endMs)}`,
          `${((h.endMs - h.startMs) / 1000).toFixed(1)} s`,
          h.label,
          h.video,
        ]
      : [String(i + 1), h.score.toFixed(3), formatTime(h.ptsMs), `#${h.seq}`, h.topLabel, h.video],
  );
  const head = r.hits[0]!.kind === 'segment' ? ['#', 'score', 'time', 'length', 'label', 'video'] : ['#', 'score', 'time', 'frame', 'top label', 'video'];
  const all = [head, ...rows];
  const widths = head.map((_, c) => Math.max(...all.map((row) => row[c]!.length)));
  return all.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n') + '\n';
}
