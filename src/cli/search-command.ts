import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../config/loader.ts';
import { createImageEmbedder } from '../indexing/image-embedder.ts';
import { IndexSearcher } from '../indexing/index-searcher.ts';
import { IndexStore } from '../indexing/index-store.ts';
import { DEFAULT_LIMIT, formatSearchTable, runSearch } from '../indexing/search-runner.ts';
import { inspectPicture, readPictureFile } from '../ingest/picture-decoder.ts';
import { DEFAULT_INDEX_FILE } from './index-command.ts';
import { positiveInt } from './options.ts';
import type { CommandContext } from './context.ts';

interface SearchFlags {
  index?: string;
  label?: string;
  image?: string;
  frame?: string;
  video?: string;
  limit?: number;
  minScore?: number;
  json?: boolean;
  model?: string;
  labels?: string;
  device?: 'auto' | 'cpu' | 'cuda';
  config?: string;
}

function scoreArg(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < -1 || n > 1) throw new InvalidArgumentError(`--min-score must be a number in [-1, 1], got "${value}"`);
  return n;
}

export function searchCommand(_ctx: CommandContext): Command {
  return new Command('search')
    .description('search an index: label segments by name, or frames that look like a picture or a stored frame')
    .option('--index <file>', `index file [default: ./${DEFAULT_INDEX_FILE}]`)
    .option('--label <name>', 'segments where this label is present (any case; one ImageNet synonym is enough: "tabby")')
    .option(
      '--image <file>',
      'frames nearest to this picture: JPEG, PNG, WebP, BMP, TIFF or GIF, at most search.maxImageBytes and decode.maxPixels (decoded and preprocessed as frames are)',
    )
    .option('--frame <video@seconds>', 'frames nearest to the stored frame of VIDEO at SECONDS')
    .option('--video <path>', 'only this video (its path, file name, or a path suffix)')
    .addOption(new Option('--limit <n>', `hits returned [default: ${DEFAULT_LIMIT}]`).argParser(positiveInt('--limit')))
    .addOption(new Option('--min-score <s>', 'leave out hits below this score (label: peak probability; image/frame: cosine similarity)').argParser(scoreArg))
    .option('--json', 'one JSON object on stdout instead of a table')
    .option('--model <name|file>', 'with --image: embed with this model [default: the model the index was made with]')
    .option('--labels <file>', 'with --image and --model: class names')
    .addOption(new Option('--device <device>', 'with --image: execution provider [default: auto]').choices(['auto', 'cpu', 'cuda']))
    .option('--config <file>', 'YAML config file [default: config/default.yaml]')
    .addHelpText(
      'after',
      `
Examples:
  streamsight search --label "tabby cat" --limit 10
  streamsight search --image query.jpg --min-score 0.8 --json
  streamsight search --frame clips/a.mp4@12.5 --video clips/b.mp4`,
    )
    .action(async (flags: SearchFlags) => {
      const config = loadConfig({ file: flags.config, flags: flags.device ? { model: { device: flags.device } } : {} });
      const store = IndexStore.open(resolve(flags.index ?? DEFAULT_INDEX_FILE), { readonly: true });
      const maxPixels = config.decode.maxPixels;
      const embed = createImageEmbedder({
        model: flags.model,
        labelsFile: flags.labels ?? config.model.labels,
        cacheDir: config.models.cacheDir,
        device: config.model.device,
        threads: config.model.threads,
        maxPixels,
        maxBytes: config.search.maxImageBytes,
      });
      try {
        // The picture's format and pixels are checked before a model is loaded (about a second); the embedder
        // reads the file again (at most search.maxImageBytes), checks it again and pipes it to ffmpeg.
        if (flags.image !== undefined) inspectPicture(await readPictureFile(flags.image, config.search.maxImageBytes), maxPixels, flags.image);
        const response = await runSearch(
          new IndexSearcher(store),
          {
            label: flags.label,
            image: flags.image,
            frame: flags.frame,
            video: flags.video,
            limit: flags.limit ?? DEFAULT_LIMIT,
            minScore: flags.minScore,
          },
          embed,
        );
        for (const w of response.warnings ?? []) process.stderr.write(`warning: ${flags.image ?? ''}: ${w}\n`);
        process.stdout.write(flags.json ? JSON.stringify(response) + '\n' : formatSearchTable(response));
      } finally {
        store.close();
      }
    });
}
