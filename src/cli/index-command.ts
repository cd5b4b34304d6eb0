import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { Sampling } from '../contracts/frame.ts';
import { loadConfig } from '../config/loader.ts';
import { loadModel, modelIdentity, modelLoadOptions, requireEmbedding } from '../inference/model-loader.ts';
import { batchesInFlight } from '../pipeline/ordered-batches.ts';
import { IndexProgress } from '../indexing/index-progress.ts';
import { runIndex } from '../indexing/index-pipeline.ts';
import { IndexStore } from '../indexing/index-store.ts';
import { THUMBNAIL_SIZE } from '../indexing/thumbnail.ts';
import { collectVideoFiles } from '../indexing/video-files.ts';
import { UsageError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import { flagsToSettings, modelOptions, nonNegativeInt, positiveInt, positiveNumber, type ModelFlags } from './options.ts';
import { startInferer } from './inferer-start.ts';
import { onInterrupt } from './signals.ts';
import type { CommandContext } from './context.ts';

/** Where `index`, `search` and `export` look when --index is not given: the working folder. */
export const DEFAULT_INDEX_FILE = 'streamsight.index.db';

interface IndexFlags extends ModelFlags {
  index?: string;
  everyFrame?: boolean;
  keyframes?: boolean;
  progress?: 'bar' | 'json' | 'none';
  json?: boolean;
  retryFailed?: boolean;
  thumbnailSize?: number;
  redis?: string;
  config?: string;
}

export function indexCommand(ctx: CommandContext): Command {
  const cmd = new Command('index')
    .description('index video files and folders (recursive) into a searchable file: labels, embeddings, thumbnails and label segments per video')
    .argument('<path...>', 'video files or folders')
    .option('--index <file>', `index file [default: ./${DEFAULT_INDEX_FILE}]`)
    .addOption(new Option('--fps <n>', 'frames sampled per second of video [default: 1]').argParser(positiveNumber('--fps')))
    .addOption(new Option('--every-frame', 'take every decoded frame').conflicts(['fps', 'keyframes']))
    .addOption(new Option('--keyframes', 'decode key frames only (much faster on long files)').conflicts(['fps']))
    .addOption(new Option('--top-k <n>', 'labels stored per frame [default: 5]').argParser(positiveInt('--top-k')))
    .addOption(
      new Option('--thumbnail-size <px>', `longer side of stored thumbnails, 0 for none [default: ${THUMBNAIL_SIZE}]`).argParser(
        nonNegativeInt('--thumbnail-size'),
      ),
    )
    .option('--redis <url>', 'distributed: decode here, let `streamsight worker` processes infer (also REDIS_URL)')
    .option('--retry-failed', 'index again files that failed before (same content, model and sampling)')
    .addOption(new Option('--progress <mode>', 'progress on stderr [default: bar on a terminal, else none]').choices(['bar', 'json', 'none']))
    .option('--json', 'print the final summary as one JSON line on stdout');
  for (const o of modelOptions()) cmd.addOption(o);
  cmd.addHelpText(
    'after',
    `
A video already indexed with the same content, model and sampling is skipped; a changed
file, model or sampling re-indexes it. Killed at any point, a rerun goes on where it stopped.
Label segments use the hysteresis of the config's "events" section.

Examples:
  streamsight index ~/videos
  streamsight index --model resnet18 --fps 2 --index archive.db clips/ extra.mp4
  streamsight index --redis redis://queue:6379 --model resnet50.onnx archive/   (with \`streamsight worker\` processes running the same model)`,
  );
  return cmd.action(async (paths: string[], flags: IndexFlags) => {
    const settings = flagsToSettings(flags);
    if (flags.redis !== undefined) settings.redis = { url: flags.redis };
    const config = loadConfig({ file: flags.config, flags: settings });
    const sampling: Sampling = flags.everyFrame ? { mode: 'every' } : flags.keyframes ? { mode: 'keyframes' } : { mode: 'fps', fps: config.sampling.fps };
    if (paths.length === 0) throw new UsageError('index needs at least one file or folder');
    const logger = createLogger({ level: config.log.level });
    const { files, missing } = await collectVideoFiles(paths);
    for (const m of missing) process.stderr.write(`error[E_INPUT_NOT_FOUND]: ${m.path}: ${m.reason}\n`);
    const model = loadModel(config.model.name, modelLoadOptions(config));
    requireEmbedding(model, 'index');
    if (model.untrained) process.stderr.write(`WARNING: model "${model.name}" is UNTRAINED (made by \`streamsight models synth\`): its labels mean nothing\n`);
    const batch = model.fixedBatch ?? config.model.batch;
    const store = IndexStore.open(resolve(flags.index ?? DEFAULT_INDEX_FILE));
    // Before the engine starts: starting it transfers the model's bytes to the inference thread.
    const modelHash = modelIdentity(model);
    const redisUrl = config.redis.url;
    const abort = new AbortController();
    const starting = startInferer(config, model, { embeddings: true, batch, logger, signal: abort.signal });
    const totalBytes = files.reduce((n, f) => n + (statSync(f, { throwIfNoEntry: false })?.size ?? 0), 0);
    const progress = new IndexProgress({
      mode: flags.progress ?? (process.stderr.isTTY ? 'bar' : 'none'),
      stream: process.stderr,
      totalBytes,
      totalFiles: files.length,
    });
    const offInterrupt = onInterrupt(() => abort.abort());
    try {
      const summary = await runIndex({
        files,
        store,
        model,
        modelHash,
        engine: starting,
        sampling,
        maxPixels: config.decode.maxPixels,
        batch,
        hysteresis: config.events,
        thumbnailSize: flags.thumbnailSize ?? THUMBNAIL_SIZE,
        retryFailed: flags.retryFailed ?? false,
        progress,
        logger,
        signal: abort.signal,
        maxInFlight: batchesInFlight(batch, redisUrl === undefined ? undefined : config.redis.inFlightFrames),
      });
      if (flags.json) process.stdout.write(JSON.stringify(summary) + '\n');
      else {
        process.stderr.write(
          `${summary.interrupted ? 'interrupted: ' : ''}${summary.files} file(s): ${summary.indexed} indexed, ${summary.resumed} resumed, ${summary.skipped} unchanged, ` +
            `${summary.failed.length} failed · ${summary.frames} frames in ${summary.seconds.toFixed(1)} s (${summary.framesPerSecond.toFixed(1)} frames/s) · ` +
            `model ${summary.model}${summary.untrained ? ' (UNTRAINED)' : ''} · device ${summary.device} · vectors ${summary.vectorIndex} · ${store.file}\n`,
        );
      }
      for (const f of summary.failed) process.stderr.write(`error[${f.code}]: ${f.message.includes(f.path) ? f.message : `${f.path}: ${f.message}`}\n`);
      if (summary.interrupted) ctx.setExitCode(130);
      else if (summary.failed.length > 0 || missing.length > 0) ctx.setExitCode(1);
    } finally {
      offInterrupt();
      await starting.then(
        (e) => e.close(),
        () => undefined,
      );
      store.close();
    }
  });
}
