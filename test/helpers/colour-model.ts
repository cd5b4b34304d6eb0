/**
 * A classifier whose outputs the tests know in advance, and clips of solid
 * colours to feed it. Test support only.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataType, attrInt, encodeModel, floatTensor, makeNode, tensorValueInfo } from '../../src/inference/onnx-proto.ts';
import { runCli } from './cli.ts';
import { makeClip } from './clips.ts';

/**
 * An ONNX model, input [N,3,64,64] -> GlobalAveragePool -> Flatten -> Gemm,
 * 3 classes (label files: "red", "green", "blue"). Class c reads only the mean
 * of channel c (weight 3 on the diagonal), so after ImageNet normalisation a
 * red frame scores ~1 for "red", a blue one ~1 for "blue"; the embedding is
 * the pooled channel means, so pictures of one colour are each other's
 * nearest. GlobalAveragePool + Flatten are the "feature extractor" the graph
 * edit needs between the input and the head.
 */
export function colourModel(): Uint8Array {
  return encodeModel({
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    producer_name: 'streamsight-test',
    graph: {
      name: 'colour',
      node: [
        makeNode('GlobalAveragePool', ['input'], ['pooled'], 'pool'),
        makeNode('Flatten', ['pooled'], ['features'], 'flatten', [attrInt('axis', 1)]),
        makeNode('Gemm', ['features', 'fc.weight', 'fc.bias'], ['output'], 'fc'),
      ],
      initializer: [floatTensor('fc.weight', [3, 3], new Float32Array([3, 0, 0, 0, 3, 0, 0, 0, 3])), floatTensor('fc.bias', [3], new Float32Array(3))],
      input: [tensorValueInfo('input', DataType.FLOAT, ['batch', 3, 64, 64])],
      output: [tensorValueInfo('output', DataType.FLOAT, ['batch', 3])],
    },
  });
}

/** An ffmpeg lavfi graph: solid colours one after another, `[colour, seconds]` each, 160x120 at 25 fps. */
export const colourSpans = (spans: [string, number][]): string =>
  spans.map(([c, d], i) => `color=c=${c}:s=160x120:r=25:d=${d}[v${i}]`).join(';') +
  ';' +
  spans.map((_, i) => `[v${i}]`).join('') +
  `concat=n=${spans.length}:v=1:a=0`;

export interface ColourIndex {
  /** Where the colour model is written (.onnx). */
  model: string;
  /** Where its label file is written ("red", "green", "blue"). */
  labels: string;
  /** The folder the clips are made in (created) and indexed. */
  videos: string;
  /** The index file. */
  db: string;
}

/**
 * Writes the colour model and its labels, makes one clip per entry of
 * `clips` (file name in `videos` -> its colour spans) and indexes `videos`
 * with `streamsight index` (2 frames/s, CPU). Throws with the command's
 * stderr when it fails.
 */
export async function indexColourClips(at: ColourIndex, clips: Record<string, [string, number][]>): Promise<void> {
  mkdirSync(at.videos, { recursive: true });
  writeFileSync(at.model, colourModel());
  writeFileSync(at.labels, 'red\ngreen\nblue\n');
  for (const [name, spans] of Object.entries(clips)) {
    makeClip(join(at.videos, name), { seconds: spans.reduce((t, [, d]) => t + d, 0), source: colourSpans(spans) });
  }
  const r = await runCli(['index', '--model', at.model, '--labels', at.labels, '--fps', '2', '--device', 'cpu', '--index', at.db, at.videos]);
  if (r.code !== 0) throw new Error(`streamsight index exited with ${r.code}:\n${r.stderr}`);
}
