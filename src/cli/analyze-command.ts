import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Sampling } from '../contracts/frame.ts';
import { loadConfig } from '../config/loader.ts';
import { DEFAULTS } from '../config/schema.ts';
import type { Hysteresis } from '../events/hysteresis-config.ts';
import { loadModel, modelIdentity, modelLoadOptions, requireEmbedding } from '../inference/model-loader.ts';
import { runAnalyze } from '../pipeline/analyze-pipeline.ts';
import { batchesInFlight } from '../pipeline/ordered-batches.ts';
import { OutputSink } from '../pipeline/output-sink.ts';
import { FramesLostError, UsageError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import { createProgress } from '../shared/progress.ts';
import { flagsToSettings, modelOptions, positiveInt, positiveNumber, type ModelFlags } from './options.ts';
import { startInferer } from './inferer-start.ts';
import { onInterrupt } from './signals.ts';
import type { CommandContext } from './context.ts';

interface AnalyzeFlags extends ModelFlags {
  everyFrame?: boolean;
  keyframes?: boolean;
  embeddings?: boolean;
  out?: string;
  progress?: 'bar' | 'json' | 'none';
  json?: boolean;
  segments?: boolean;
  enterScore?: number;
  exitScore?: number;
  enterFrames?: number;
  exitFrames?: number;
  redis?: string;
  index?: string;
  skipUnchanged?: boolean;
}

/** Loaded only with --index: analyze alone does not load SQLite or sharp. */
async function loadIndexing() {
  const [{ IndexingInferer }, { IndexStore }, { THUMBNAIL_SIZE }] = await Promise.all([
    import('../indexing/indexing-inferer.ts'),
    import('../indexing/index-store.ts'),
    import('../indexing/thumbnail.ts'),
  ]);
  return { IndexingInferer, IndexStore, THUMBNAIL_SIZE };
}

/** A score threshold flag: a probability in (0, 1]. */
function scoreArg(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError(`${name} must be a number in (0, 1], got "${value}"`);
    return n;
  };
}

/** The hysteresis from the flags, or undefined without --segments. */
function segmentOptions(flags: AnalyzeFlags): Hysteresis | undefined {
  const given = (['enterScore', 'exitScore', 'enterFrames', 'exitFrames'] as const).filter((k) => flags[k] !== undefined);
  if (!flags.segments) {
    if (given.length > 0) throw new UsageError(`--${given[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} only applies with --segments`);
    return undefined;
  }
  // The flags over the schema's defaults (not the config's `events`: --segments has always been flags only).
  const { enterScore, exitScore, enterFrames, exitFrames } = DEFAULTS.events;
  const h: Hysteresis = {
    enterScore: flags.enterScore ?? enterScore,
    exitScore: flags.exitScore ?? exitScore,
    enterFrames: flags.enterFrames ?? enterFrames,
    exitFrames: flags.exitFrames ?? exitFrames,
  };
  if (h.exitScore > h.enterScore) throw new UsageError(`--exit-score (${h.exitScore}) must be <= --enter-score (${h.enterScore})`);
  return h;
}

export function analyzeCommand(ctx: CommandContext): Command {
  const cmd = new Command('analyze')
    .description('decode video files or URLs, classify and embed sampled frames; JSON Lines per frame to stdout or --out')
    .argument('<input...>', 'video files or http(s) URLs')
    .addOption(new Option('--fps <n>', 'frames sampled per second of video [default: 1]').argParser(positiveNumber('--fps')))
    .addOption(new Option('--every-frame', 'take every decoded frame').conflicts(['fps', 'keyframes']))
    .addOption(new Option('--keyframes', 'decode key frames only (much faster on long files)').conflicts(['fps']))
    .addOption(new Option('--top-k <n>', 'labels per frame [default: 5]').argParser(positiveInt('--top-k')))
    .option('--embeddings', 'add the L2-normalised embedding to each line')
    .option('--out <file>', 'write JSON Lines to this file instead of stdout')
    .addOption(new Option('--progress <mode>', 'progress on stderr [default: bar on a terminal, else none]').choices(['bar', 'json', 'none']))
    .option('--json', 'print the final summary as one JSON line on stderr')
    .option('--redis <url>', 'distributed: decode here, let `streamsight worker` processes infer (also REDIS_URL)')
    .option(
      '--index <file>',
      'also store every frame in this index file, as `streamsight index` does (unchanged files are left as they are, an interrupted one resumes)',
    )
    .option(
      '--skip-unchanged',
      'a frame that did not change since the last inferred one is not inferred: its line repeats that frame\'s labels with "reused": true (threshold and maxSkipMs: config live.skipUnchanged)',
    )
    .option('--segments', 'after each input\'s frame lines, one {"type":"segment",...} line per label segment (start, end, peak score)')
    .addOption(
      new Option('--enter-score <p>', 'with --segments: a label starts after --enter-frames frames at or above this score [default: 0.5]').argParser(
        scoreArg('--enter-score'),
      ),
    )
    .addOption(
      new Option('--exit-score <p>', 'with --segments: a label ends after --exit-frames frames below this score [default: 0.3]').argParser(
        scoreArg('--exit-score'),
      ),
    )
    .addOption(new Option('--enter-frames <n>', 'with --segments: consecutive frames that start a label [default: 3]').argParser(positiveInt('--enter-frames')))
    .addOption(new Option('--exit-frames <n>', 'with --segments: consecutive frames that end a label [default: 3]').argParser(positiveInt('--exit-frames')));
  for (const o of modelOptions()) cmd.addOption(o);
  cmd.addHelpText(
    'after',
    `
Examples:
  streamsight analyze clip.mp4 > labels.jsonl
  streamsight analyze --model resnet18 --fps 2 --embeddings --out clip.jsonl clip.mp4
  streamsight analyze --model ./my-resnet.onnx --labels classes.txt --keyframes archive/*.mp4
  streamsight analyze --fps 2 --segments --enter-score 0.6 --exit-frames 5 clip.mp4
  streamsight analyze --fps 5 --skip-unchanged lobby-24h.mp4 > lobby.jsonl
  streamsight analyze --fps 2 --index archive.db --out clip.jsonl clip.mp4`,
  );
  return cmd.action(async (inputs: string[], flags: AnalyzeFlags & { config?: string }) => {
    const settings = flagsToSettings(flags);
    if (flags.redis !== undefined) settings.redis = { url: flags.redis };
    const config = loadConfig({ file: flags.config, flags: settings });
    const sampling: Sampling = flags.everyFrame ? { mode: 'every' } : flags.keyframes ? { mode: 'keyframes' } : { mode: 'fps', fps: config.sampling.fps };
    if (inputs.length === 0) throw new UsageError('analyze needs at least one input');
    const segments = segmentOptions(flags);
    if (flags.skipUnchanged && flags.index !== undefined)
      throw new UsageError('--skip-unchanged does not go with --index: an index stores every frame inferred');
    if (flags.index !== undefined) {
      // An index stores a file's content hash and reads the file again to resume: no URL, stdin, pipe or device.
      const notAFile = inputs.find((i) => i === '-' || /^[a-z][a-z0-9+.-]*:\/\//i.test(i) || statSync(i, { throwIfNoEntry: false })?.isFile() === false);
      if (notAFile !== undefined)
        throw new UsageError(`--index takes files only (an index stores a file's content hash), got ${notAFile === '-' ? 'stdin' : notAFile}`);
    }
    const logger = createLogger({ level: config.log.level });
    const model = loadModel(config.model.name, modelLoadOptions(config));
    if (flags.index !== undefined) requireEmbedding(model, '--index');
    if (flags.embeddings) requireEmbedding(model, '--embeddings');
    if (model.untrained) {
      process.stderr.write(
        `WARNING: model "${model.name}" is UNTRAINED (made by \`streamsight models synth\`): its labels mean nothing; every output line is marked "untrained": true\n`,
      );
    }
    let batch = config.model.batch;
    if (model.fixedBatch !== null && batch !== model.fixedBatch) {
      // The file fixes its batch size (older ONNX Model Zoo exports): larger batches would fail in ONNX Runtime.
      logger.warn(
        { requested: batch, fixedBatch: model.fixedBatch },
        `model ${model.name} takes batches of exactly ${model.fixedBatch}; using --batch ${model.fixedBatch}`,
      );
      batch = model.fixedBatch;
    }
    // Before the engine starts: starting it transfers the model's bytes to the inference thread.
    const modelHash = flags.index === undefined ? '' : modelIdentity(model);
    const indexMods = flags.index === undefined ? undefined : await loadIndexing();
    const store = flags.index === undefined ? undefined : indexMods?.IndexStore.open(resolve(flags.index));
    const sink = await OutputSink.open(flags.out).catch((err: unknown) => {
      store?.close();
      throw err;
    });
    // The index needs every frame's embedding, whether or not the lines carry it.
    const engineEmbeddings = (flags.embeddings ?? false) || store !== undefined;
    const redisUrl = config.redis.url;
    const abort = new AbortController();
    const starting = startInferer(config, model, { embeddings: engineEmbeddings, batch, logger, signal: abort.signal });
    const indexing =
      store === undefined || indexMods === undefined
        ? undefined
        : starting.then(
            (inner) =>
              new indexMods.IndexingInferer({
                inner,
                store,
                model,
                modelHash,
                sampling,
                hysteresis: config.events,
                thumbnailSize: indexMods.THUMBNAIL_SIZE,
                logger,
              }),
          );
    indexing?.catch(() => undefined);

    const progressMode = flags.progress ?? (process.stderr.isTTY ? 'bar' : 'none');
    const offInterrupt = onInterrupt(() => abort.abort());
    try {
      const summary = await runAnalyze({
        inputs,
        model,
        engine: indexing ?? starting,
        sink,
        sampling,
        maxPixels: config.decode.maxPixels,
        batch,
        embeddings: flags.embeddings ?? false,
        logger,
        segments,
        ...(flags.skipUnchanged ? { skipUnchanged: { threshold: config.live.skipUnchanged.threshold, maxSkipMs: config.live.skipUnchanged.maxSkipMs } } : {}),
        maxInFlight: batchesInFlight(batch, redisUrl === undefined ? undefined : config.redis.inFlightFrames),
        signal: abort.signal,
        progress: (input, i) =>
          createProgress({ mode: progressMode, stream: process.stderr, label: inputs.length > 1 ? `[${i + 1}/${inputs.length}] ${input}` : input }),
      });
      const indexed = indexing === undefined ? undefined : { file: store!.file, ...(await (await indexing).finish(inputs, summary)) };
      if (flags.json || progressMode === 'json') {
        process.stderr.write(JSON.stringify(summary) + '\n');
        if (indexed) process.stderr.write(JSON.stringify({ type: 'index-summary', ...indexed }) + '\n');
      } else {
        const failed = summary.failedInputs.length ? ` · ${summary.failedInputs.length} input(s) failed` : '';
        process.stderr.write(
          `${summary.interrupted ? 'interrupted: ' : ''}${summary.frames} frames from ${summary.inputs} input(s) in ${summary.seconds.toFixed(1)} s ` +
            `(${summary.framesPerSecond.toFixed(1)} frames/s) · model ${summary.model}${summary.untrained ? ' (UNTRAINED)' : ''} · device ${summary.device} · batch ${summary.batch}` +
            `${summary.segments === undefined ? '' : ` · ${summary.segments} segments`}` +
            `${summary.reusedFrames === undefined ? '' : ` · ${summary.reusedFrames} reused (unchanged)`}${failed}\n`,
        );
        if (indexed) {
          process.stderr.write(
            `index ${indexed.file}: ${indexed.stored} stored, ${indexed.resumed} resumed, ${indexed.unchanged} unchanged, ${indexed.failed} failed · ${indexed.frames} frames written\n`,
          );
        }
      }
      for (const w of summary.decodeWarnings)
        process.stderr.write(
          `warning: ${w.input}: ffmpeg reported ${w.errorLines} error(s) in the data (first: ${w.firstError}); damaged frames were concealed or skipped\n`,
        );
      for (const f of summary.failedInputs)
        process.stderr.write(
          `error[${f.code}]: ${f.message.includes(f.input) ? '' : `${f.input}: `}${f.message} (${f.framesWritten} frames written before it)\n`,
        );
      if (summary.lostFrames) {
        const byInput = new Map<string, typeof summary.lostFrames>();
        for (const l of summary.lostFrames) byInput.set(l.input, [...(byInput.get(l.input) ?? []), l]);
        for (const [input, lost] of byInput) {
          const err = new FramesLostError(
            `${input}: ${lost.length} frame(s) could not be inferred: ${lost
              .slice(0, 20)
              .map((l) => `seq ${l.seq} (${l.ptsMs} ms)`)
              .join(', ')}${lost.length > 20 ? ', ...' : ''}; last reason: ${lost[lost.length - 1]!.reason}`,
          );
          process.stderr.write(err.toLine() + '\n');
          ctx.setExitCode(err.exitCode);
        }
      }
      if (summary.interrupted) ctx.setExitCode(130);
      else if (summary.failedInputs.length > 0) ctx.setExitCode(summary.failedInputs[0]!.exitCode);
    } finally {
      offInterrupt();
      await starting.then(
        (e) => e.close(),
        () => undefined,
      );
      await sink.close();
      store?.close();
    }
  });
}
