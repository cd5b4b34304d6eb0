/**
 * `openIndex()` of the package's API: an index made by `streamsight index`
 * (or `analyze --index`), searched and exported as `streamsight search` and
 * `streamsight export` do, with the same answers:
 *
 *   const index = openIndex('streamsight-index.db');
 *   const { hits } = await index.search({ label: 'dog', limit: 10 });
 *   const alike = await index.search({ image: 'query.jpg' });
 *   for await (const line of index.export({ format: 'csv' })) process.stdout.write(line);
 *   index.close();
 *
 * Search by picture loads the index's model once, on the first picture,
 * and keeps it (CPU, one thread) until close().
 */
import { resolve } from 'node:path';
import { DEFAULTS } from '../config/schema.ts';
import { exportIndex, type ExportFormat } from '../indexing/exporters.ts';
import { ReusableImageEmbedder } from '../indexing/image-embedder.ts';
import { IndexSearcher } from '../indexing/index-searcher.ts';
import { IndexStore } from '../indexing/index-store.ts';
import { DEFAULT_LIMIT, runSearch } from '../indexing/search-runner.ts';
import type { SearchResponse } from '../indexing/search-types.ts';
import { UsageError } from '../shared/errors.ts';

export type { FrameHit, SearchResponse, SegmentHit } from '../indexing/search-types.ts';
export type { ExportFormat } from '../indexing/exporters.ts';

export interface OpenIndexOptions {
  /** Search by picture with this model (registry name or .onnx file) instead of the one the index was made with. */
  model?: string | undefined;
  /** Where registry models are looked up. */
  cacheDir?: string | undefined;
  /** Largest picture decoded, pixels; default the config's `decode.maxPixels` (50,000,000). */
  maxPixels?: number | undefined;
}

/** Exactly one of `label`, `image`, `frame`, as `streamsight search`. */
export interface IndexQuery {
  /** Label segments of this label (or one of its comma-separated synonyms). */
  label?: string | undefined;
  /** Frames that look like this picture: its file, or its bytes. */
  image?: string | Uint8Array | undefined;
  /** Frames that look like this one: `VIDEO@SECONDS`. */
  frame?: string | undefined;
  /** Only this video (its path as indexed, or a unique part of it). */
  video?: string | undefined;
  /** Hits at most; default 20, at most 1000. */
  limit?: number | undefined;
  /** Hits scoring under this are left out (label score 0..1, cosine -1..1). */
  minScore?: number | undefined;
}

export interface ExportQuery {
  /** `jsonl` (videos, frames, segments), `csv` (segments), `vtt` (label segments as cues). */
  format: ExportFormat;
  /** Only this video; needed for vtt when the index holds several. */
  video?: string | undefined;
  /** jsonl: each frame's embedding too. */
  embeddings?: boolean | undefined;
}

export interface StreamSightIndex {
  readonly file: string;
  /** The videos indexed: path, status, frames, model. */
  videos(): Array<{ path: string; status: string; frames: number; model: string; durationMs: number | null }>;
  search(query: IndexQuery): Promise<SearchResponse>;
  /** The export as `streamsight export` writes it, chunk by chunk (each ends with a newline). */
  export(query: ExportQuery): AsyncIterable<string>;
  /** Idempotent: the picture engine, then the file. */
  close(): Promise<void>;
}

/** Opens an index file for reading; a missing or foreign file is an IndexFileError. */
export function openIndex(file: string, options: OpenIndexOptions = {}): StreamSightIndex {
  const path = resolve(file);
  const store = IndexStore.open(path, { readonly: true });
  const searcher = new IndexSearcher(store);
  const maxPixels = options.maxPixels ?? DEFAULTS.decode.maxPixels;
  let embedder: ReusableImageEmbedder | undefined;
  let closed = false;
  const open = (): void => {
    if (closed) throw new UsageError(`index ${path} is closed`);
  };
  return {
    file: path,
    videos: () => {
      open();
      return store.videos().map((v) => ({ path: v.path, status: v.status, frames: v.frames, model: v.model, durationMs: v.duration_ms }));
    },
    search: async (query) => {
      open();
      if (query.image !== undefined) {
        // A picture given by its file is read up to the config's default search.maxImageBytes.
        embedder ??= new ReusableImageEmbedder({ model: options.model, cacheDir: options.cacheDir, maxPixels, maxBytes: DEFAULTS.search.maxImageBytes });
      }
      return runSearch(searcher, { ...query, limit: query.limit ?? DEFAULT_LIMIT }, embedder?.embed);
    },
    export: (query) => {
      open();
      return exportChunks(store, searcher, query);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await embedder?.close();
      store.close();
    },
  };
}

async function* exportChunks(store: IndexStore, searcher: IndexSearcher, query: ExportQuery): AsyncGenerator<string, void, undefined> {
  const video = query.video === undefined ? undefined : searcher.resolveVideo(query.video);
  if (query.format === 'vtt' && video === undefined && store.videos().length > 1) {
    throw new UsageError('format vtt makes one file per video: name it with video');
  }
  // exportIndex writes through a callback; the chunks are handed out as the loop asks for them.
  const chunks: string[] = [];
  await exportIndex(store, { format: query.format, video, embeddings: query.embeddings ?? false, write: (chunk) => void chunks.push(chunk) });
  yield* chunks;
}
