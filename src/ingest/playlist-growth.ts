/**
 * Whether a live HLS playlist grew while one ffmpeg run read it. Pure.
 *
 * A camera or packager that dies behind a web server that stays up leaves
 * its last playlist in place: it lists the last few segments and never
 * changes. A new ffmpeg decodes those segments again, as fast as it can,
 * then waits for more; the stream would go `live` on pictures already
 * published and stall again, every restart, for as long as the camera is
 * away. The watchdog restarts a run's frames only once the playlist lists a
 * segment its first version in that run did not (source-watchdog.ts).
 */

/** The segment URIs of a media playlist; undefined for a master playlist (no `#EXTINF`). */
export function mediaSegments(text: string): string[] | undefined {
  if (!/^#EXTINF:/m.test(text)) return undefined;
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

export class PlaylistGrowth {
  /** Per playlist URL, the segments its first version in this run listed. */
  private readonly first = new Map<string, Set<string>>();
  /** A media playlist was seen (the source is HLS). */
  sawMediaPlaylist = false;
  /** A media playlist listed a new segment, or said it is finished (`#EXT-X-ENDLIST`: played as it is). */
  grew = false;

  /** A playlist as ffmpeg fetched it, `url` being what it asked for. */
  see(url: string, text: string): void {
    const segments = mediaSegments(text);
    if (segments === undefined) return;
    this.sawMediaPlaylist = true;
    if (this.grew) return;
    if (/^#EXT-X-ENDLIST/m.test(text)) {
      this.grew = true;
      return;
    }
    const first = this.first.get(url);
    if (first === undefined) this.first.set(url, new Set(segments));
    else if (segments.some((s) => !first.has(s))) this.grew = true;
  }
}
