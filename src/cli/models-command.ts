import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig, proxySettingsFromEnv } from '../config/loader.ts';
import { downloadModel } from '../inference/model-download.ts';
import { LABELS_ONLY } from '../inference/graph-edit.ts';
import { inspectModel } from '../inference/model-inspect.ts';
import { findEntry, loadManifest, modelCachePath } from '../inference/model-registry.ts';
import { synthResnet, TORCHVISION_PARAM_COUNTS, type ResnetArch } from '../inference/resnet-synth.ts';
import { ModelNotFoundError, OutputError, UsageError } from '../shared/errors.ts';
import { createProgress } from '../shared/progress.ts';
import type { CommandContext } from './context.ts';
import { nonNegativeInt, positiveInt } from './options.ts';

const RESNET_ARCHS = Object.keys(TORCHVISION_PARAM_COUNTS) as ResnetArch[];
const MODELS_DIR_HELP = 'where downloaded models live [default: models/ in a checkout, ~/.cache/streamsight/models installed; STREAMSIGHT_MODELS_DIR]';

export function modelsCommand(_ctx: CommandContext): Command {
  const models = new Command('models').description('the model registry: list, pull, synth, inspect');

  models
    .command('list')
    .description('models in the registry (models/manifest.json) and whether they are downloaded')
    .option('--models-dir <dir>', MODELS_DIR_HELP)
    .option('--json', 'one JSON object per model')
    .action((flags: { modelsDir?: string; json?: boolean }) => {
      const cacheDir = cacheDirOf(flags.modelsDir);
      for (const m of loadManifest().models) {
        const path = modelCachePath(m.name, cacheDir);
        const downloaded = existsSync(path) && statSync(path).size === m.bytes;
        if (flags.json) process.stdout.write(JSON.stringify({ ...m, path, downloaded }) + '\n');
        else
          process.stdout.write(
            `${m.name.padEnd(10)} ${(m.bytes / 1e6).toFixed(1).padStart(6)} MB  ${downloaded ? 'downloaded ' : 'not pulled '} ${m.source}\n`,
          );
      }
    });

  models
    .command('pull')
    .description(
      'download a registry model: progress bar, resumes a partial download, verifies sha256, renames into place only when verified; honours HTTPS_PROXY, HTTP_PROXY and NO_PROXY',
    )
    .argument('<name>', 'registry name, e.g. resnet50')
    .option('--models-dir <dir>', MODELS_DIR_HELP)
    .addOption(new Option('--progress <mode>', 'progress on stderr [default: bar on a terminal]').choices(['bar', 'json', 'none']))
    .action(async (name: string, flags: { modelsDir?: string; progress?: 'bar' | 'json' | 'none' }) => {
      const manifest = loadManifest();
      const entry = findEntry(manifest, name);
      if (!entry) throw new ModelNotFoundError(`unknown model "${name}"`, { hint: `known models: ${manifest.models.map((m) => m.name).join(', ')}` });
      const dest = modelCachePath(entry.name, cacheDirOf(flags.modelsDir));
      if (existsSync(dest) && statSync(dest).size === entry.bytes) {
        process.stderr.write(`${entry.name} is already downloaded: ${dest}\n`);
        return;
      }
      mkdirSync(dirname(dest), { recursive: true });
      const progress = createProgress({ mode: flags.progress ?? (process.stderr.isTTY ? 'bar' : 'none'), stream: process.stderr, label: entry.name });
      try {
        await downloadModel(entry.url, dest, {
          sha256: entry.sha256,
          bytes: entry.bytes,
          proxy: proxySettingsFromEnv(),
          onProgress: (received, total) => progress.update({ done: received, total: total ?? entry.bytes, unit: 'bytes' }),
        });
      } finally {
        progress.finish();
      }
      process.stderr.write(`${entry.name}: ${dest} (${entry.bytes} bytes, sha256 verified)\n`);
    });

  models
    .command('synth')
    .description(
      'write an UNTRAINED model of a real torchvision ResNet topology (seeded weights, dynamic batch) for tests and throughput runs; its labels mean nothing',
    )
    .argument('<arch>', `one of ${RESNET_ARCHS.join(', ')}`)
    .requiredOption('--out <file>', 'where to write the .onnx file')
    .addOption(new Option('--seed <n>', 'weight seed [default: 1]').argParser(nonNegativeInt('--seed')))
    .addOption(new Option('--classes <n>', 'number of classes [default: 1000]').argParser(positiveInt('--classes')))
    .addOption(new Option('--input-size <n>', 'input height and width [default: 224]').argParser(positiveInt('--input-size')))
    .action((arch: string, flags: { out: string; seed?: number; classes?: number; inputSize?: number }) => {
      if (!(RESNET_ARCHS as readonly string[]).includes(arch)) throw new UsageError(`unknown architecture "${arch}"; one of ${RESNET_ARCHS.join(', ')}`);
      const bytes = synthResnet({
        arch: arch as ResnetArch,
        seed: flags.seed ?? 1,
        numClasses: flags.classes ?? 1000,
        inputSize: flags.inputSize ?? 224,
      });
      const tmp = `${flags.out}.tmp-${process.pid}`;
      try {
        mkdirSync(dirname(flags.out), { recursive: true });
        writeFileSync(tmp, bytes);
        renameSync(tmp, flags.out);
      } catch (err) {
        throw new OutputError(`cannot write ${flags.out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
      }
      process.stderr.write(
        `wrote UNTRAINED ${arch} (${(bytes.length / 1e6).toFixed(1)} MB) to ${flags.out}: for tests and throughput only, its labels mean nothing\n`,
      );
    });

  models
    .command('inspect')
    .description('inputs, outputs, the layer used for embeddings, and where labels and preprocessing come from')
    .argument('<model>', 'registry name or .onnx file')
    .option('--labels <file>', 'labels file, as analyze would use it')
    .option('--models-dir <dir>', MODELS_DIR_HELP)
    .option('--json', 'print JSON')
    .action((model: string, flags: { labels?: string; modelsDir?: string; json?: boolean }) => {
      const report = inspectModel(model, { labelsFile: flags.labels, cacheDir: cacheDirOf(flags.modelsDir) });
      process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatInspect(report));
    });

  return models;
}

/** The loader always sets models.cacheDir (checkout or installed default). */
function cacheDirOf(flag: string | undefined): string {
  const dir = flag ?? loadConfig().models.cacheDir;
  if (dir === undefined) throw new Error('the config loader left models.cacheDir unset');
  return dir;
}

function formatInspect(r: ReturnType<typeof inspectModel>): string {
  const lines = [
    `model:        ${r.name}${r.untrained ? '  (UNTRAINED: labels mean nothing)' : ''}`,
    `file:         ${r.path} (${(r.bytes / 1e6).toFixed(1)} MB)`,
    `input:        ${r.input.name} ${JSON.stringify(r.input.shape)} float32 ${r.inputLayout}`,
    `outputs:      ${r.outputs.map((o) => `${o.name} ${JSON.stringify(o.shape)}`).join(', ')}`,
    `classifier:   ${r.classifier.op} ${r.classifier.name} (${r.classCount} classes${r.outputIsProbability ? ', ends in Softmax' : ''})`,
    `embedding:    ${r.embedding === null ? LABELS_ONLY : `${r.embedding.name}: ${r.embedding.description}, added as a graph output at load`}`,
    `labels:       ${r.labelsSource} (e.g. ${r.labelExamples.join(' | ')})`,
    `preprocess:   resize shorter side ${r.preprocess.resizeShorter}, centre crop ${r.preprocess.inputWidth}x${r.preprocess.inputHeight}, ${r.preprocess.channelOrder}, mean ${r.preprocess.mean.join('/')}, std ${r.preprocess.std.join('/')} (from ${r.preprocess.source})`,
    `opset:        ${r.opset}  producer: ${r.producer || '(none)'}`,
  ];
  return lines.join('\n') + '\n';
}
