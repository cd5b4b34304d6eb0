/**
 * What one WebSocket client asked for, and the pure matching of results
 * against it: which streams, which labels (any comma-separated synonym of a
 * label name, case-insensitive), a score floor and a top-k cut.
 */
import type { Label } from '../contracts/analyze-output.ts';
import type { SubscribeMessage } from '../contracts/ws-messages.ts';

export interface Subscription {
  /** Stream ids, or '*' for every stream, present and future. */
  readonly streams: ReadonlySet<string> | '*';
  /** Lower-cased, trimmed label terms; undefined = every label. */
  readonly labels: ReadonlySet<string> | undefined;
  /** Score floor, 0..1; undefined = none. */
  readonly minScore: number | undefined;
  /** At most this many labels per frame message; undefined = all the pipeline computed. */
  readonly topK: number | undefined;
  /** Add `embedding` to frame messages. */
  readonly embeddings: boolean;
  /**
   * Identical for two subscriptions whose frame messages are identical
   * (labels, minScore, topK): the fan-out serialises once per key, not once
   * per client.
   */
  readonly filterKey: string;
}

/** The subscription of a client that has not subscribed (or unsubscribed from everything). */
export const EMPTY_SUBSCRIPTION: Subscription = Object.freeze({
  streams: new Set<string>(),
  labels: undefined,
  minScore: undefined,
  topK: undefined,
  embeddings: false,
  filterKey: '',
});

function normalise(term: string): string {
  return term.trim().toLowerCase();
}

/**
 * A subscription from a validated `subscribe` message. `knownStreams`, when
 * given, keeps only those ids (the rest are reported by the caller as
 * `unknown_stream`).
 */
export function createSubscription(msg: SubscribeMessage, knownStreams?: ReadonlySet<string>): Subscription {
  const streams = msg.streams === '*' ? '*' : new Set(msg.streams.filter((s) => knownStreams === undefined || knownStreams.has(s)));
  const labels = msg.labels === undefined ? undefined : new Set(msg.labels.map(normalise).filter((t) => t !== ''));
  const minScore = msg.minScore === undefined || msg.minScore <= 0 ? undefined : msg.minScore;
  const topK = msg.topK;
  const filterKey = JSON.stringify([labels === undefined ? null : [...labels].sort(), minScore ?? null, topK ?? null]);
  return { streams, labels, minScore, topK, embeddings: msg.embeddings ?? false, filterKey };
}

/** The subscription without `remove` ('*' removes everything). */
export function withoutStreams(sub: Subscription, remove: readonly string[] | '*', allStreams: readonly string[]): Subscription {
  if (remove === '*') return { ...sub, streams: new Set<string>() };
  const base = sub.streams === '*' ? allStreams : [...sub.streams];
  const drop = new Set(remove);
  return { ...sub, streams: new Set(base.filter((s) => !drop.has(s))) };
}

export function subscribesTo(sub: Subscription, stream: string): boolean {
  return sub.streams === '*' || sub.streams.has(stream);
}

/** Synonyms of label names, memoised: ImageNet has 1,000 names, a custom model a few more. */
const synonymCache = new Map<string, readonly string[]>();
/** Past this many distinct names the cache is cleared (a model with very many classes). */
const SYNONYM_CACHE_MAX = 20_000;

/** `"tabby, tabby cat"` -> `["tabby", "tabby cat"]`, lower-cased. */
export function labelSynonyms(name: string): readonly string[] {
  let syn = synonymCache.get(name);
  if (syn === undefined) {
    syn = name
      .split(',')
      .map(normalise)
      .filter((t) => t !== '');
    if (synonymCache.size >= SYNONYM_CACHE_MAX) synonymCache.clear();
    synonymCache.set(name, syn);
  }
  return syn;
}

/** True when the label name (any of its synonyms) is in the filter, or there is no label filter. */
export function labelMatches(sub: Subscription, name: string): boolean {
  if (sub.labels === undefined) return true;
  for (const s of labelSynonyms(name)) if (sub.labels.has(s)) return true;
  return false;
}

/**
 * The labels of a frame this client gets: those passing the label filter and
 * minScore, in their original order (best first), then cut to topK. Null when
 * a filter is set and no label passes: the frame is not sent at all. Without a
 * filter the frame is always sent (possibly with fewer labels after topK).
 * Returns `labels` itself when nothing is removed.
 */
export function selectLabels(sub: Subscription, labels: readonly Label[]): readonly Label[] | null {
  let out: readonly Label[] = labels;
  if (sub.labels !== undefined || sub.minScore !== undefined) {
    const min = sub.minScore ?? -Infinity;
    const passing = labels.filter((l) => l.score >= min && labelMatches(sub, l.label));
    if (passing.length === 0) return null;
    if (passing.length < labels.length) out = passing;
  }
  if (sub.topK !== undefined && out.length > sub.topK) out = out.slice(0, sub.topK);
  return out;
}
