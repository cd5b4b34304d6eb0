import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig, proxySettingsFromEnv } from '../config/loader.ts';
import { downloadModel } from '../inference/model-download.ts';
import { describeResize, type PreprocessSpec } from '../contracts/preprocess.ts';
import { LABELS_ONLY } from '../inference/graph-edit.ts';
import { inspectModel } from '../inference/model-inspect.ts';
import { importModel } from '../inference/model-import.ts';
import { loadLocalModels } from '../inference/local-models.ts';
import { modelLoadOptions } from '../inference/model-loader.ts';
import type { PreprocessLayer } from '../inference/preprocess-resolve.ts';
import { PREPROCESS_METADATA_KEY } from '../inference/preprocess-sources.ts';
import { STREAMSIGHT_LABELS_KEY } from '../inference/labels.ts';
import { findEntry, loadManifest, modelCachePath } from '../inference/model-registry.ts';
import { synthResnet, TORCHVISION_PARAM_COUNTS, type ResnetArch } from '../inference/resnet-synth.ts';
import { ModelNotFoundError, OutputError, UsageError } from '../shared/errors.ts';
import { createProgress } from '../shared/progress.ts';
import type { CommandContext } from './context.ts';
import { quantizeCommand } from './models-quantize.ts';
import { flagsToSettings, nonNegativeInt, positiveInt, preprocessFromFlags, preprocessOptions, type PreprocessFlags } from './options.ts';

const RESNET_ARCHS = Object.keys(TORCHVISION_PARAM_COUNTS) as ResnetArch[];
const MODELS_DIR_HELP = 'where downloaded models live [default: models/ in a checkout, ~/.cache/streamsight/models installed; STREAMSIGHT_MODELS_DIR]';

export function modelsCommand(_ctx: CommandContext): Command {
  const models = new Command('models').description('models: list, pull, synth, inspect, import, quantize');

  models
    .command('list')
    .description('imported models, and the models in the registry (models/manifest.json) and whether they are downloaded')
    .option('--models-dir <dir>', MODELS_DIR_HELP)
    .option('--json', 'one JSON object per model')
    .action((flags: { modelsDir?: string; json?: boolean }) => {
      const cacheDir = cacheDirOf(flags.modelsDir);
      for (const m of loadLocalModels(cacheDir)) {
        const path = join(cacheDir, m.file);
        if (flags.json) process.stdout.write(JSON.stringify({ ...m, path, downloaded: true, local: true }) + '\n');
        else
          process.stdout.write(
            `${m.name.padEnd(10)} ${(m.bytes / 1e6).toFixed(1).padStart(6)} MB  ${m.how === 'quantize' ? 'quantized  ' : 'imported   '} ${m.precision} from ${m.from}\n`,
          );
      }
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

  const inspect = models
    .command('inspect')
    .description('inputs, outputs, the layer used for embeddings, and where labels and preprocessing come from')
    .argument('<model>', 'registry name or .onnx file')
    .option('--labels <file>', 'labels file, as analyze would use it')
    .option('--models-dir <dir>', MODELS_DIR_HELP)
    .option('--config <file>', 'YAML config file whose model.preprocess applies, as analyze would read it')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nThe preprocessing flags are those of analyze; each field printed says where it came from (docs/models.md).');
  for (const o of preprocessOptions()) inspect.addOption(o);
  inspect.action((model: string, flags: PreprocessFlags & { labels?: string; modelsDir?: string; json?: boolean; config?: string }) => {
    const config = loadConfig({ file: flags.config, flags: flagsToSettings({ ...flags, model }) });
    const options = modelLoadOptions(config, flagLayers(flags));
    const report = inspectModel(model, { ...options, labelsFile: flags.labels ?? config.model.labels, cacheDir: cacheDirOf(flags.modelsDir) });
    process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatInspect(report));
  });

  const importCmd = models
    .command('import')
    .description(
      'check an ONNX classifier, write its preprocessing and labels into its metadata, and add it to the models folder as NAME, so --model NAME works everywhere',
    )
    .argument('<file>', 'the .onnx file (Ultralytics, torchvision, timm, Hugging Face exports; docs/models.md)')
    .requiredOption('--name <name>', 'what --model will call it (lowercase letters, digits, ".", "_", "-")')
    .option('--labels <file>', 'class names: text (one per line), JSON array, or Hugging Face config.json')
    .option('--models-dir <dir>', MODELS_DIR_HELP)
    .option('--force', 'replace an imported model of the same name')
    .option('--json', 'print the result as one JSON object');
  for (const o of preprocessOptions()) importCmd.addOption(o);
  importCmd.addHelpText(
    'after',
    `
Examples:
  streamsight models import yolo11n-cls.onnx --name yolo-cls          # Ultralytics: read from its metadata
  streamsight models import resnet50-v2.onnx --name r50v2 --preset torchvision-v2 --labels imagenet.txt
  streamsight models import convnext.onnx --name convnext --preset timm --resize 236 --crop 224
  streamsight analyze --model yolo-cls clip.mp4`,
  );
  importCmd.action((file: string, flags: PreprocessFlags & { name: string; labels?: string; modelsDir?: string; force?: boolean; json?: boolean }) => {
    const cacheDir = cacheDirOf(flags.modelsDir);
    const { entry, model, settled } = importModel(file, {
      name: flags.name,
      cacheDir,
      overrides: preprocessFromFlags(flags),
      labelsFile: flags.labels,
      replace: flags.force ?? false,
    });
    if (flags.json) {
      const { origins: _o, source: _s, ...preprocess } = model.preprocess;
      const summary = {
        ...entry,
        preprocess,
        origins: settled.preprocess.origins,
        labels: model.labelsSource,
        classes: model.classCount,
        embedding: model.embedding,
      };
      process.stdout.write(JSON.stringify(summary) + '\n');
      return;
    }
    process.stdout.write(
      [
        `imported ${entry.name}: ${entry.path} (${(entry.bytes / 1e6).toFixed(1)} MB, sha256 ${entry.sha256})`,
        `classes:      ${model.classCount}, labels from ${model.labelsSource} (e.g. ${model.labels.slice(0, 3).join(' | ')})`,
        `embedding:    ${model.embedding === null ? `${LABELS_ONLY} (analyze and serve give labels; index and search need an embedding)` : `${model.embedding.name}: ${model.embedding.description}`}`,
        ...formatPreprocess(settled.preprocess),
        `written to its metadata (${PREPROCESS_METADATA_KEY}${settled.labelsSource === 'none (class_N)' ? '' : `, ${STREAMSIGHT_LABELS_KEY}`}); use it with: --model ${entry.name}`,
      ].join('\n') + '\n',
    );
  });

  models.addCommand(
    quantizeCommand({
      cacheDirOf,
      loadOptions: (model, flags) => {
        const config = loadConfig({ file: flags.config, flags: flagsToSettings({ ...flags, model }) });
        return modelLoadOptions(config, flagLayers(flags));
      },
    }),
  );

  return models;
}

/** The loader always sets models.cacheDir (checkout or installed default). */
function cacheDirOf(flag: string | undefined): string {
  const dir = flag ?? loadConfig().models.cacheDir;
  if (dir === undefined) throw new Error('the config loader left models.cacheDir unset');
  return dir;
}

/** The flags given, as the first layer (so `models inspect` names them as flags, not as config). */
function flagLayers(flags: PreprocessFlags): PreprocessLayer[] {
  const values = preprocessFromFlags(flags);
  return Object.keys(values).length > 0 ? [{ origin: 'flags', values }] : [];
}

/** One line per preprocessing field: the value and where it came from. */
function formatPreprocess(p: PreprocessSpec): string[] {
  const o = p.origins;
  const rows: Array<[string, string, string]> = [
    ['resize', describeResize(p.resize), o.resize],
    ['crop', `centre ${p.inputWidth}x${p.inputHeight}`, o.crop],
    ['interpolation', p.interpolation, o.interpolation],
    ['mean', p.mean.join(', '), o.mean],
    ['std', p.std.join(', '), o.std],
    ['scale', p.scale === 1 / 255 ? '1/255' : String(p.scale), o.scale],
    ['channels', p.channelOrder, o.channelOrder],
    ['layout', p.layout, o.layout],
  ];
  return ['preprocess:', ...rows.map(([k, v, from]) => `  ${k.padEnd(14)}${v.padEnd(28)} from ${from}`)];
}

function formatInspect(r: ReturnType<typeof inspectModel>): string {
  const lines = [
    `model:        ${r.name}${r.untrained ? '  (UNTRAINED: labels mean nothing)' : ''}`,
    `file:         ${r.path} (${(r.bytes / 1e6).toFixed(1)} MB)`,
    `precision:    ${r.precision === 'int8' ? 'INT8 (static QDQ, written by models quantize)' : 'float32'}`,
    `input:        ${r.input.name} ${JSON.stringify(r.input.shape)} float32 ${r.inputLayout}`,
    `outputs:      ${r.outputs.map((o) => `${o.name} ${JSON.stringify(o.shape)}`).join(', ')}`,
    `classifier:   ${r.classifier.op} ${r.classifier.name} (${r.classCount} classes${r.outputIsProbability ? ', ends in Softmax' : ''})`,
    `embedding:    ${r.embedding === null ? LABELS_ONLY : `${r.embedding.name}: ${r.embedding.description}, added as a graph output at load`}`,
    `labels:       ${r.labelsSource} (e.g. ${r.labelExamples.join(' | ')})`,
    ...formatPreprocess(r.preprocess),
    `opset:        ${r.opset}  producer: ${r.producer || '(none)'}`,
  ];
  return lines.join('\n') + '\n';
}
