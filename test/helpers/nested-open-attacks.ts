/**
 * Files inside an "allowed" folder that make a demuxer open a video outside
 * it: HLS, DASH, ffconcat, concat and image-sequence inputs naming the
 * outside files by absolute path, by `../` and through a link inside the
 * folder. The outside video is solid magenta, so a frame of it is easy to
 * tell. Test support only.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface NestedOpenAttack {
  /** File name inside the allowed folder. */
  name: string;
  path: string;
  /** The refusal expected, from its start (the path); the CLI adds `error[CODE]: ` before and the frame count after. */
  message: RegExp;
}

export interface NestedOpenAttacks {
  allowed: string;
  outside: string;
  /** The outside files an attack names (magenta video, its MPEG-TS copy, a magenta picture). */
  outsideFiles: string[];
  attacks: NestedOpenAttack[];
}

const ff = (args: string[]): void => {
  execFileSync('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args]);
};

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const hls = (segment: string): string =>
  `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:2.0,\n${segment}\n#EXT-X-ENDLIST\n`;

const mpd = (baseUrl: string): string =>
  [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT2S" minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">',
    ` <Period><AdaptationSet mimeType="video/mp4"><Representation id="1" bandwidth="100000" width="160" height="120" codecs="avc1.64000c"><BaseURL>${baseUrl}</BaseURL></Representation></AdaptationSet></Period>`,
    '</MPD>',
    '',
  ].join('\n');

/** Makes `root`/allowed and `root`/outside with the attack files; every ffmpeg without a format whitelist opens the outside file from each (but `concat`, which only `-f concat` reads). */
export function makeNestedOpenAttacks(root: string): NestedOpenAttacks {
  const allowed = join(root, 'allowed');
  const outside = join(root, 'outside');
  mkdirSync(allowed, { recursive: true });
  mkdirSync(outside, { recursive: true });
  const secretMp4 = join(outside, 'secret.mp4');
  const secretTs = join(outside, 'secret.ts');
  const secretPng = join(outside, 'secret.png');
  ff(['-f', 'lavfi', '-i', 'color=magenta:s=160x120:r=10:d=2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', secretMp4]);
  ff(['-i', secretMp4, '-c', 'copy', '-f', 'mpegts', secretTs]);
  ff(['-f', 'lavfi', '-i', 'color=magenta:s=160x120', '-frames:v', '1', secretPng]);
  symlinkSync(secretTs, join(allowed, 'link.ts'));
  symlinkSync(secretMp4, join(allowed, 'link.mp4'));
  symlinkSync(secretPng, join(allowed, 'seq1.png'));

  const attacks: NestedOpenAttack[] = [];
  const add = (name: string, content: string | null, message: RegExp): void => {
    const path = join(allowed, name);
    if (content !== null) writeFileSync(path, content);
    attacks.push({ name, path, message: new RegExp(`^${escapeRe(path)} ${message.source}`) });
  };
  const opens = 'a file source must be one video file; playlists and lists that open other files are not read';
  for (const [how, mp4, ts] of [
    ['abs', secretMp4, secretTs],
    ['rel', '../outside/secret.mp4', '../outside/secret.ts'],
    ['link', 'link.mp4', 'link.ts'],
  ] as const) {
    add(`hls-${how}.m3u8`, hls(ts), new RegExp(`is an HLS playlist \\(format hls\\): ${opens}`));
    add(`dash-${how}.mpd`, mpd(mp4), new RegExp(`is a DASH manifest \\(format dash\\): ${opens}`));
    add(`ffconcat-${how}.txt`, `ffconcat version 1.0\nfile ${mp4}\n`, new RegExp(`is a concat list \\(format concat\\): ${opens}`));
  }
  // A plain concat list is read as one only with `-f concat`, never given: it is text ffmpeg cannot decode.
  add('concat-abs.txt', `file '${secretMp4}'\n`, /is not a video ffmpeg can decode: Invalid data found when processing input/);
  // An image sequence: the pattern names itself (a green picture, so it exists), its frame 1 is a link outside.
  // image2pipe: the name is written as it is, not as a pattern.
  ff(['-f', 'lavfi', '-i', 'color=green:s=160x120', '-frames:v', '1', '-c:v', 'png', '-f', 'image2pipe', join(allowed, 'seq%d.png')]);
  add('seq%d.png', null, new RegExp(`is a picture or an image sequence pattern \\(format image2\\): ${opens}`));
  return { allowed, outside, outsideFiles: [secretMp4, secretTs, secretPng], attacks };
}
