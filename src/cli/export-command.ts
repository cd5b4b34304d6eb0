import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { exportIndex, type ExportFormat } from '../indexing/exporters.ts';
import { IndexSearcher } from '../indexing/index-searcher.ts';
import { IndexStore } from '../indexing/index-store.ts';
import { OutputSink } from '../pipeline/output-sink.ts';
import { UsageError } from '../shared/errors.ts';
import { DEFAULT_INDEX_FILE } from './index-command.ts';
import type { CommandContext } from './context.ts';

interface ExportFlags {
  index?: string;
  format: ExportFormat;
  video?: string;
  out?: string;
  embeddings?: boolean;
}

export function exportCommand(_ctx: CommandContext): Command {
  return new Command('export')
    .description('export an index: JSON Lines (videos, frames, segments), CSV (segments) or WebVTT (label segments as cues)')
    .addOption(new Option('--format <format>', 'jsonl, csv or vtt').choices(['jsonl', 'csv', 'vtt']).default('jsonl'))
    .option('--index <file>', `index file [default: ./${DEFAULT_INDEX_FILE}]`)
    .option('--video <path>', 'only this video (required for vtt when the index holds several)')
    .option('--embeddings', "jsonl: add each frame's embedding")
    .option('--out <file>', 'write to this file instead of stdout')
    .addHelpText(
      'after',
      `
Examples:
  streamsight export --format csv > segments.csv
  streamsight export --format vtt --video clip.mp4 --out clip.vtt`,
    )
    .action(async (flags: ExportFlags) => {
      const store = IndexStore.open(resolve(flags.index ?? DEFAULT_INDEX_FILE), { readonly: true });
      try {
        const video = flags.video === undefined ? undefined : new IndexSearcher(store).resolveVideo(flags.video);
        if (flags.format === 'vtt' && video === undefined && store.videos().length > 1) {
          throw new UsageError('--format vtt makes one file per video: name it with --video');
        }
        const sink = await OutputSink.open(flags.out);
        try {
          await exportIndex(store, {
            format: flags.format,
            video,
            embeddings: flags.embeddings ?? false,
            write: (chunk) => sink.writeLine(chunk.replace(/\n$/, '')),
          });
        } finally {
          await sink.close();
        }
      } finally {
        store.close();
      }
    });
}
