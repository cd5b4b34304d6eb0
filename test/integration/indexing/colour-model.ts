import { DataType, attrInt, encodeModel, floatTensor, makeNode, tensorValueInfo } from '../../../src/inference/onnx-proto.ts';

/**
 * A model whose outputs the test controls: class c reads only the mean of
 * channel c (a red frame scores highest for "red"), and the embedding is the
 * pooled channel means, so pictures of one colour are each other's nearest.
 */
export function colourModel(): Uint8Array {
  return encodeModel({
    ir_version: 8, opset_import: [{ domain: '', version: 17 }], producer_name: 'streamsight-test',
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

/** An ffmpeg lavfi graph: solid colours one after another, `[colour, seconds]` each. */
export const colourSpans = (spans: [string, number][]): string =>
  spans.map(([c, d], i) => `color=c=${c}:s=160x120:r=25:d=${d}[v${i}]`).join(';') + ';' + spans.map((_, i) => `[v${i}]`).join('') + `concat=n=${spans.length}:v=1:a=0`;
