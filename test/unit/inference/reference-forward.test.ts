import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { addEmbeddingOutput } from '../../../src/inference/graph-edit.ts';
import { synthResnet, type ResnetArch, type HeadStyle } from '../../../src/inference/resnet-synth.ts';
import { referenceForward } from '../../helpers/reference-resnet.ts';

// ORT (MLAS, float32, BN folded into the convs) and the float64-accumulating
// reference sum in different orders; 1e-4 of the vector's largest magnitude
// leaves ~100x headroom over the differences seen on these tiny models.
const RELATIVE_TOLERANCE = 1e-4;
const INPUT_SIZE = 64; // px: small enough for the plain-loop reference

/** Deterministic input in [-2, 2), roughly a normalised image's range. */
function randomImage(seed: number, length: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 4 - 2;
  });
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const scale = Math.max(...expected.map(Math.abs));
  assert.ok(scale > 0, `${what}: reference is all zeros`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs((actual[i] ?? NaN) - (expected[i] ?? NaN)));
  }
  assert.ok(worst <= RELATIVE_TOLERANCE * scale, `${what}: max |ORT - reference| = ${worst}, allowed ${RELATIVE_TOLERANCE * scale}`);
}

async function compareWithOrt(arch: ResnetArch, headStyle: HeadStyle, embeddingDim: number): Promise<void> {
  const model = synthResnet({ arch, seed: 7, baseWidth: 8, inputSize: INPUT_SIZE, numClasses: 10, headStyle });
  const edited = addEmbeddingOutput(model);
  assert.equal(edited.embeddingDim, embeddingDim);
  const session = await ort.InferenceSession.create(edited.bytes, { executionProviders: ['cpu'], logSeverityLevel: 3 });
  try {
    for (const seed of [1, 2]) {
      const image = randomImage(seed, 3 * INPUT_SIZE * INPUT_SIZE);
      const feeds = { [edited.inputName]: new ort.Tensor('float32', image, [1, 3, INPUT_SIZE, INPUT_SIZE]) };
      const result = await session.run(feeds);
      const reference = referenceForward(model, image, INPUT_SIZE, INPUT_SIZE);
      assert.equal(reference.embedding.length, embeddingDim);
      assertClose(result[edited.logitsName]?.data as Float32Array, reference.logits, `${arch}/${headStyle} logits`);
      assertClose(result[edited.embeddingName!]?.data as Float32Array, reference.embedding, `${arch}/${headStyle} embedding`);
    }
  } finally {
    await session.release();
  }
}

test('tiny resnet18 (BasicBlock): ORT logits and embedding match the TypeScript reference', async () => {
  await compareWithOrt('resnet18', 'torchvision', 64);
});

test('tiny resnet50 (Bottleneck, stride on the 3x3): ORT logits and embedding match the reference', async () => {
  await compareWithOrt('resnet50', 'torchvision', 256);
});

test('tiny resnet18 with a Reshape head (zoo-v2) matches the reference', async () => {
  await compareWithOrt('resnet18', 'zoo-v2', 64);
});
