/**
 * The limits of search by picture as a server with nothing configured has
 * them (config `decode.maxPixels`, `search.*` defaults), for tests that build
 * a search route or an image embedder themselves. Test support only.
 */
import { DEFAULTS } from '../../src/config/schema.ts';
import type { SearchRouteOptions } from '../../src/gateway/search-route.ts';
import type { PictureLimits } from '../../src/indexing/image-query.ts';

/** An image embedder's limits: `decode.maxPixels`, and `search.maxImageBytes` for a picture read from its file. */
export const PICTURE_LIMITS: PictureLimits = { maxPixels: DEFAULTS.decode.maxPixels, maxBytes: DEFAULTS.search.maxImageBytes };

/** A search route's limits: the defaults with the test's own on top. */
export function routeLimits(over: Partial<SearchRouteOptions> = {}): SearchRouteOptions {
  return { maxPixels: DEFAULTS.decode.maxPixels, maxImageBytes: DEFAULTS.search.maxImageBytes, maxPendingImages: DEFAULTS.search.maxPendingImages, ...over };
}
