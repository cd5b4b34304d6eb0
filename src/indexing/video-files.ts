/**
 * The files `streamsight index PATH...` works on: named files as given,
 * folders walked recursively for video extensions; and their content hash.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';

/** Extensions picked up inside folders (a file named on the command line is taken whatever its name). */
export const VIDEO_EXTENSIONS: ReadonlySet<string> = new Set([
  '.mp4',
  '.m4v',
  '.mov',
  '.mkv',
  '.webm',
  '.avi',
  '.wmv',
  '.flv',
  '.mpg',
  '.mpeg',
  '.ts',
  '.mts',
  '.m2ts',
  '.3gp',
  '.ogv',
  '.gif',
  '.mxf',
]);

export interface CollectedFiles {
  /** Absolute paths, sorted, each once. */
  files: string[];
  /** Paths given that do not exist or cannot be read, with the reason. */
  missing: { path: string; reason: string }[];
}

/**
 * Expands files and folders into video files; never throws for a bad path (it is reported in `missing`).
 * Symbolic links inside folders are followed, to files and to folders; a folder already walked
 * (a link loop, or two links to one place) is not walked again, and a file reached by several
 * paths is taken once, by the first of them in sorted order. A broken link with a video
 * extension is reported in `missing`.
 */
export async function collectVideoFiles(paths: readonly string[], extensions: ReadonlySet<string> = VIDEO_EXTENSIONS): Promise<CollectedFiles> {
  const files = new Set<string>();
  const missing: CollectedFiles['missing'] = [];
  const walkedDirs = new Set<string>();
  const isVideo = (name: string): boolean => extensions.has(extname(name).toLowerCase());
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      const real = await realpath(dir);
      if (walkedDirs.has(real)) return;
      walkedDirs.add(real);
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      missing.push({ path: dir, reason: `cannot read folder: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && isVideo(e.name)) files.add(p);
      else if (e.isSymbolicLink()) {
        const target = await stat(p).catch(() => null);
        if (target === null) {
          if (isVideo(e.name)) missing.push({ path: p, reason: 'broken symbolic link' });
        } else if (target.isDirectory()) await walk(p);
        else if (target.isFile() && isVideo(e.name)) files.add(p);
      }
    }
  };
  for (const given of paths) {
    const p = resolve(given);
    let info;
    try {
      info = await stat(p);
    } catch (err) {
      missing.push({ path: given, reason: `does not exist or cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
      continue;
    }
    if (info.isDirectory()) await walk(p);
    else if (info.isFile()) files.add(p);
    // A FIFO, socket or device: an index hashes a file and reads it again to resume, which a pipe cannot do.
    else missing.push({ path: given, reason: 'is not a regular file (a pipe or device cannot be indexed; `streamsight analyze` reads pipes)' });
  }
  const byRealPath = new Map<string, string>();
  for (const p of [...files].sort()) {
    const real = await realpath(p).catch(() => p);
    if (!byRealPath.has(real)) byRealPath.set(real, p);
  }
  return { files: [...byRealPath.values()].sort(), missing };
}

/** sha256 of a file's bytes, hex; streamed (64 KiB reads), so any size works. */
export async function hashFile(path: string): Promise<{ hash: string; sizeBytes: number }> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 16 })) {
    sizeBytes += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  return { hash: hash.digest('hex'), sizeBytes };
}
