import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { frameGeometry, preprocessValues } from '../../../src/contracts/preprocess.ts';
import { decodeFrames } from '../../../src/ingest/file-decoder.ts';
import { inspectModel } from '../../../src/inference/model-inspect.ts';
import { loadModel, type LoadedModel } from '../../../src/inference/model-loader.ts';
import {
  DataType,
  decodeModel,
  encodeModel,
  findAttr,
  floatTensor,
  makeNode,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from '../../../src/inference/onnx-proto.ts';
import { biasShifts, correctionTensors, withReferenceConvs } from '../../../src/inference/quantize/bias-correction.ts';
import { collectCalibrationFrames } from '../../../src/inference/quantize/calibration-frames.ts';
import { collectTensorStats } from '../../../src/inference/quantize/calibration-session.ts';
import { batchNormToConv, foldBatchNorm } from '../../../src/inference/quantize/fold-batchnorm.ts';
import { TensorStats } from '../../../src/inference/quantize/tensor-stats.ts';
import { planQdq } from '../../../src/inference/quantize/qdq-plan.ts';
import { quantizeModel, type QuantizeReport } from '../../../src/inference/quantize/quantize-model.ts';
import { synthResnet, synthResnetModel } from '../../../src/inference/resnet-synth.ts';
import { ModelInvalidError, NotAVideoError, UsageError } from '../../../src/shared/errors.ts';
import { makeClip } from '../../helpers/clips.ts';
import { FAMILIES, synthFamily } from '../../helpers/family-models.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';

const { dir, cleanup } = makeTempDir('ss-quantize-');
const floatPath = join(dir, 'r18.onnx');
const int8Path = join(dir, 'r18-int8.onnx');
const clip = join(dir, 'clip.mp4');
const SYNTH = { arch: 'resnet18', baseWidth: 16, inputSize: 64, numClasses: 10, seed: 3 } as const;
let report: QuantizeReport;

before(async () => {
  writeFileSync(floatPath, synthResnet(SYNTH));
  makeClip(clip, { seconds: 4, size: '320x240', rate: 25 });
  const phases = new Set<string>();
  const result = await quantizeModel({ model: floatPath, videos: [clip], frames: 24, onProgress: (p) => phases.add(p) });
  assert.deepEqual([...phases], ['decode', 'calibrate', 'bias-correction', 'compare']);
  writeFileSync(int8Path, result.bytes);
  report = result.report;
});

after(cleanup);

function opCounts(model: ModelProto): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of model.graph?.node ?? []) counts.set(n.op_type ?? '', (counts.get(n.op_type ?? '') ?? 0) + 1);
  return counts;
}

/** NCHW float32 of rgb24 frames, written here from the spec (not with the module under test). */
function toTensor(frames: Buffer[], m: LoadedModel): ort.Tensor {
  const { inputWidth: w, inputHeight: h, mean, std, scale } = m.preprocess;
  const out = new Float32Array(frames.length * 3 * w * h);
  frames.forEach((f, n) => {
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[((n * 3 + c) * h + y) * w + x] = (f[(y * w + x) * 3 + c]! * scale - mean[c]!) / std[c]!;
  });
  return new ort.Tensor('float32', out, [frames.length, 3, h, w]);
}

async function outputs(m: LoadedModel, frames: Buffer[]): Promise<{ logits: Float32Array; embeddings: Float32Array }> {
  const session = await ort.InferenceSession.create(m.bytes, { graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const logits: number[] = [];
  const embeddings: number[] = [];
  for (let i = 0; i < frames.length; i += 8) {
    const out = await session.run({ [m.inputName]: toTensor(frames.slice(i, i + 8), m) }, [m.logitsName, m.embeddingName!]);
    logits.push(...(out[m.logitsName]!.data as Float32Array));
    embeddings.push(...(out[m.embeddingName!]!.data as Float32Array));
  }
  await session.release();
  return { logits: Float32Array.from(logits), embeddings: Float32Array.from(embeddings) };
}

describe('models quantize (quantizeModel) on a synthesized resnet18 and a generated clip', () => {
  test('ONNX Runtime fuses every Conv into QLinearConv and every Add into QLinearAdd: no float Conv left', async () => {
    const optimized = join(dir, 'optimized.onnx');
    const session = await ort.InferenceSession.create(readFileSync(int8Path), {
      graphOptimizationLevel: 'all',
      optimizedModelFilePath: optimized,
      logSeverityLevel: 3,
    });
    await session.release();
    const ops = opCounts(decodeModel(readFileSync(optimized)));
    const floatOps = opCounts(decodeModel(readFileSync(floatPath)));
    const leftConv = [...ops.keys()].filter((op) => /Conv/.test(op) && op !== 'QLinearConv');
    assert.deepEqual(leftConv, [], `float convolutions left: ${JSON.stringify([...ops])}`);
    assert.equal(ops.get('QLinearConv'), floatOps.get('Conv'));
    assert.equal(ops.get('QLinearAdd'), floatOps.get('Add'));
    assert.equal(ops.get('Add'), undefined);
    assert.equal(ops.get('Relu'), undefined, 'every Relu folded into its producer');
    // The only conversions left: the input once into uint8, the last block once back to float.
    assert.equal(ops.get('QuantizeLinear'), 1);
    assert.equal(ops.get('DequantizeLinear'), 1);
    assert.deepEqual(report.quantized, { conv: floatOps.get('Conv'), add: floatOps.get('Add'), activations: report.quantized.activations });
    assert.deepEqual(report.floatOps, { GlobalAveragePool: 1, Flatten: 1, Gemm: 1 });
  });

  test('weights int8 per output channel (axis 0), biases int32 at input scale x weight scale, activations uint8 per tensor', () => {
    const model = decodeModel(readFileSync(int8Path));
    const init = new Map<string, TensorProto>((model.graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
    const scalar = (name: string): number => new Float32Array(Uint8Array.prototype.slice.call(init.get(name)!.raw_data!).buffer)[0]!;
    const dqByOutput = new Map((model.graph?.node ?? []).filter((n) => n.op_type === 'DequantizeLinear').map((n) => [n.output![0]!, n]));
    const convs = (model.graph?.node ?? []).filter((n) => n.op_type === 'Conv');
    assert.equal(convs.length, 20);
    for (const conv of convs) {
      const [x, w, b] = conv.input!.map((i) => dqByOutput.get(i)!);
      const weight = init.get(w!.input![0]!)!;
      assert.equal(weight.data_type, DataType.INT8);
      assert.equal(findAttr(w!, 'axis')?.i, 0);
      const channels = weight.dims![0]!;
      assert.deepEqual(init.get(w!.input![1]!)!.dims, [channels]);
      const zp = init.get(w!.input![2]!)!;
      assert.equal(zp.data_type, DataType.INT8);
      // Symmetric grid -127..127 per channel, stored offset by the zero point -1 (the default).
      assert.deepEqual([...new Int8Array(Uint8Array.prototype.slice.call(zp.raw_data!).buffer)], new Array<number>(channels).fill(-1));
      const q = new Int8Array(Uint8Array.prototype.slice.call(weight.raw_data!).buffer);
      const per = q.length / channels;
      for (let c = 0; c < channels; c++) {
        let maxAbs = 0;
        for (let i = c * per; i < (c + 1) * per; i++) maxAbs = Math.max(maxAbs, Math.abs(q[i]! + 1));
        assert.equal(maxAbs, 127, `channel ${c} spans the symmetric grid`);
      }
      const bias = init.get(b!.input![0]!)!;
      assert.equal(bias.data_type, DataType.INT32);
      const xScale = scalar(x!.input![1]!);
      assert.equal(init.get(x!.input![2]!)!.data_type, DataType.UINT8);
      const wScales = new Float32Array(Uint8Array.prototype.slice.call(init.get(w!.input![1]!)!.raw_data!).buffer);
      const bScales = new Float32Array(Uint8Array.prototype.slice.call(init.get(b!.input![1]!)!.raw_data!).buffer);
      bScales.forEach((s, c) => assert.ok(Math.abs(s - xScale * wScales[c]!) <= 1e-6 * s, `bias scale of channel ${c}`));
    }
  });

  test('weights stored with zero point 0 or -1: the same outputs bit for bit, every Conv fused either way', async () => {
    const zero = await quantizeModel({ model: floatPath, videos: [clip], frames: 24, weightZeroPoint: 0 });
    const offset = await quantizeModel({ model: floatPath, videos: [clip], frames: 24, weightZeroPoint: -1 });
    assert.equal(zero.report.weightZeroPoint, 0);
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 3 * 3 * 64 * 64 }, (_, i) => Math.sin(i * 0.11) * 2),
      [3, 3, 64, 64],
    );
    const logits = async (bytes: Uint8Array): Promise<Float32Array> => {
      const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', logSeverityLevel: 3 });
      const out = await s.run({ input: x });
      await s.release();
      return out.output!.data as Float32Array;
    };
    assert.deepEqual(await logits(zero.bytes), await logits(offset.bytes));
    const optimized = join(dir, 'optimized-zero.onnx');
    await (await ort.InferenceSession.create(zero.bytes, { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized, logSeverityLevel: 3 })).release();
    assert.equal(opCounts(decodeModel(readFileSync(optimized))).get('QLinearConv'), 20);
  });

  test('the file records INT8 and its preprocessing, which the loader reads back; analyze loads it with a float embedding output', () => {
    const meta = Object.fromEntries((decodeModel(readFileSync(int8Path)).metadata_props ?? []).map((p) => [p.key, p.value]));
    assert.equal(meta['streamsight.precision'], 'int8');
    const floatModel = loadModel(floatPath);
    assert.deepEqual(JSON.parse(meta['streamsight.preprocess']!), JSON.parse(JSON.stringify(preprocessValues(floatModel.preprocess))));
    assert.equal(floatModel.labelsSource, 'none (class_N)');
    assert.equal(meta['streamsight.labels'], undefined, 'placeholder names are not written as labels');
    const loaded = loadModel(int8Path);
    assert.equal(loaded.preprocess.origins.resize, 'model metadata streamsight.preprocess');
    assert.deepEqual(preprocessValues(loaded.preprocess), preprocessValues(floatModel.preprocess));
    assert.equal(loaded.embeddingDim, floatModel.embeddingDim);
    assert.equal(loaded.classCount, 10);
    assert.equal(inspectModel(int8Path).precision, 'int8');
    assert.equal(inspectModel(floatPath).precision, 'float32');
  });

  test("the report's figures, recomputed here from FP32 and INT8 sessions on the held-out frames", async () => {
    assert.equal(report.calibrationFrames, 24);
    assert.equal(report.heldOutFrames, 24);
    assert.equal(report.heldOut.length, 24);
    const fp32Model = loadModel(floatPath);
    const int8Model = loadModel(int8Path);
    const input = report.inputs[0]!;
    assert.equal(input.input, clip);
    const pre = fp32Model.preprocess;
    const held = new Map(report.heldOut.map((h) => [h.seq, h.ptsMs]));
    const calibrationSeqs = new Set<number>();
    const frames: Buffer[] = [];
    let seq = 0;
    const decode = decodeFrames(clip, {
      streamId: 't',
      runId: 't',
      sampling: input.sampling,
      geometry: frameGeometry(pre),
    });
    for await (const f of decode) {
      if (held.has(seq)) {
        assert.equal(f.ptsMs, held.get(seq));
        frames.push(Buffer.from(f.data));
      } else calibrationSeqs.add(seq);
      seq++;
    }
    assert.equal(frames.length, 24);
    assert.ok(calibrationSeqs.size >= 24, 'held-out frames are not calibration frames');

    const a = await outputs(fp32Model, frames);
    const b = await outputs(int8Model, frames);
    const classes = 10;
    const dim = fp32Model.embeddingDim!;
    const argmax = (v: Float32Array): number => v.indexOf(Math.max(...v));
    let same = 0;
    let inTop5 = 0;
    const cosines: number[] = [];
    for (let f = 0; f < frames.length; f++) {
      const la = a.logits.subarray(f * classes, (f + 1) * classes);
      const lb = b.logits.subarray(f * classes, (f + 1) * classes);
      const best = argmax(la);
      const top5 = [...lb.keys()].sort((i, j) => lb[j]! - lb[i]!).slice(0, 5);
      if (argmax(lb) === best) same++;
      if (top5.includes(best)) inTop5++;
      const ea = a.embeddings.subarray(f * dim, (f + 1) * dim);
      const eb = b.embeddings.subarray(f * dim, (f + 1) * dim);
      let dot = 0;
      let na = 0;
      let nb = 0;
      ea.forEach((x, i) => {
        dot += x * eb[i]!;
        na += x * x;
        nb += eb[i]! * eb[i]!;
      });
      cosines.push(dot / Math.sqrt(na * nb));
    }
    cosines.sort((x, y) => x - y);
    assert.equal(report.agreement.frames, 24);
    assert.equal(report.agreement.top1Agreement, same / 24);
    assert.equal(report.agreement.top1InTop5, inTop5 / 24);
    assert.ok(Math.abs(report.agreement.embeddingCosine!.min - cosines[0]!) < 1e-5);
    assert.ok(Math.abs(report.agreement.embeddingCosine!.median - (cosines[11]! + cosines[12]!) / 2) < 1e-5);
    // And the INT8 model is a faithful copy: what a broken scale or zero point would not give.
    assert.ok(cosines[0]! > 0.99, `embedding cosine min ${cosines[0]}`);
    assert.ok(inTop5 >= 22, `FP32 top-1 within INT8 top-5 on ${inTop5}/24 frames`);
  });

  test('a BatchNormalization no Conv feeds, written as a 1x1 depthwise Conv, keeps the outputs', async () => {
    const model = synthResnetModel(SYNTH);
    const g = model.graph!;
    // Put a BatchNormalization between the stem's MaxPool and the first block.
    const pool = g.node!.find((n) => n.op_type === 'MaxPool')!;
    const c = 16;
    g.initializer!.push(
      floatTensor(
        'extra.g',
        [c],
        Float32Array.from({ length: c }, (_, i) => 0.5 + 0.1 * i),
      ),
      floatTensor(
        'extra.b',
        [c],
        Float32Array.from({ length: c }, (_, i) => Math.cos(i)),
      ),
      floatTensor(
        'extra.m',
        [c],
        Float32Array.from({ length: c }, (_, i) => 0.2 * i),
      ),
      floatTensor(
        'extra.v',
        [c],
        Float32Array.from({ length: c }, (_, i) => 0.5 + i),
      ),
    );
    const out = pool.output![0]!;
    for (const n of g.node!) n.input = n.input!.map((i) => (i === out ? 'extra.out' : i));
    g.node!.splice(g.node!.indexOf(pool) + 1, 0, makeNode('BatchNormalization', [out, 'extra.g', 'extra.b', 'extra.m', 'extra.v'], ['extra.out'], 'extra'));
    const before = encodeModel(model);
    assert.equal(batchNormToConv(model.graph!), 1 + 20, 'the added one, and the 20 that follow a Conv (not folded first here)');
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 2 * 3 * 64 * 64 }, (_, i) => Math.sin(i * 0.29) * 2),
      [2, 3, 64, 64],
    );
    const run = async (bytes: Uint8Array): Promise<Float32Array> => {
      const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
      const res = await s.run({ input: x });
      await s.release();
      return res.output!.data as Float32Array;
    };
    const a = await run(before);
    const b = await run(encodeModel(model));
    const scale = Math.max(...a.map(Math.abs));
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) <= 1e-4 * scale, `logit ${i}: ${v} vs ${b[i]}`));
  });

  test('folding BatchNormalization into the convolutions keeps the outputs', async () => {
    const model = synthResnetModel(SYNTH);
    const before = encodeModel(model);
    const folded = foldBatchNorm(model.graph!);
    assert.equal(folded, 20);
    assert.equal(opCounts(model).get('BatchNormalization'), undefined);
    const x = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 2 * 3 * 64 * 64 }, (_, i) => Math.sin(i * 0.37) * 2),
      [2, 3, 64, 64],
    );
    const run = async (bytes: Uint8Array): Promise<Float32Array> => {
      const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
      const out = await s.run({ input: x });
      await s.release();
      return out.output!.data as Float32Array;
    };
    const a = await run(before);
    const b = await run(encodeModel(model));
    const scale = Math.max(...a.map(Math.abs));
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) <= 1e-4 * scale, `logit ${i}: ${v} vs ${b[i]}`));
  });

  test('bias correction: the per-channel mean shift of each INT8 Conv against its float twin on the same input mostly vanishes', async () => {
    const folded = synthResnetModel(SYNTH);
    foldBatchNorm(folded.graph!);
    const plan = planQdq(folded.graph!);
    const loaded = loadModel(floatPath);
    const pre = loaded.preprocess;
    const geometry = frameGeometry(pre);
    const frames = (await collectCalibrationFrames([clip], { geometry, frames: 24, minFrames: 8 })).calibration;
    const meanAbsShift = async (bytes: Uint8Array): Promise<number> => {
      const stats = new TensorStats([], correctionTensors(plan));
      await collectTensorStats(withReferenceConvs(decodeModel(bytes), folded, plan), frames, stats, {
        inputName: loaded.inputName,
        preprocess: pre,
        batch: 8,
        threads: 0,
      });
      const all = [...biasShifts(plan, stats).values()].flatMap((s) => [...s].map(Math.abs));
      return all.reduce((a, b) => a + b, 0) / all.length;
    };
    const without = await quantizeModel({ model: floatPath, videos: [clip], frames: 24, biasCorrection: false });
    const corrected = await meanAbsShift(readFileSync(int8Path));
    const uncorrected = await meanAbsShift(without.bytes);
    assert.ok(corrected < uncorrected / 3, `mean |shift| ${corrected} with correction, ${uncorrected} without`);
    assert.ok(report.agreement.embeddingCosine!.mean >= without.report.agreement.embeddingCosine!.mean - 1e-6);
  });

  test('the plan: Relu outputs at [0, hi], MaxPool shares its input parameters, the classifier stays float', () => {
    const model = synthResnetModel(SYNTH);
    foldBatchNorm(model.graph!);
    const plan = planQdq(model.graph!);
    assert.equal(plan.convs.length, 20);
    assert.equal(plan.adds.length, 8);
    // stem Relu + (Relu after conv1 and after the Add) in each of 8 blocks
    assert.equal(plan.reluOutputs.size, 17);
    assert.equal(plan.sharesParamsWith.size, 1);
    assert.deepEqual(plan.floatOps, { GlobalAveragePool: 1, Flatten: 1, Gemm: 1 });
  });

  test('every model family of test/helpers/family-models.ts: each Conv but a Conv classifier fused, the classifier found again at load', async () => {
    for (const family of FAMILIES) {
      const m = synthFamily(family);
      const path = join(dir, `family-${family}.onnx`);
      writeFileSync(path, m.bytes);
      const { bytes, report: r } = await quantizeModel({ model: path, videos: [clip], frames: 8 });
      const optimized = join(dir, `family-${family}-optimized.onnx`);
      await (await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized, logSeverityLevel: 3 })).release();
      const ops = opCounts(decodeModel(readFileSync(optimized)));
      const floatConvs = [...ops].filter(([op]) => /Conv/.test(op) && op !== 'QLinearConv').reduce((n, [, c]) => n + c, 0);
      assert.equal(floatConvs, m.classifierOp === 'Conv' ? 1 : 0, `${family}: ${JSON.stringify([...ops])}`);
      assert.equal(ops.get('QLinearConv'), r.quantized.conv, family);
      const fp32 = loadModel(path);
      writeFileSync(join(dir, `family-${family}-int8.onnx`), bytes);
      const loaded = loadModel(join(dir, `family-${family}-int8.onnx`));
      assert.equal(loaded.classifier.op, m.classifierOp, family);
      assert.equal(loaded.embeddingDim, fp32.embeddingDim, family);
      assert.equal(loaded.inputLayout, m.inputLayout, family);
    }
  });

  test('an opset 7 model as the ONNX Model Zoo writes it (IR 3, initializers listed as inputs, BatchNormalization spatial): moved to opset 13 and fused', async () => {
    const old = synthResnetModel({ ...SYNTH, headStyle: 'zoo-v2' });
    old.opset_import = [{ domain: '', version: 7 }];
    old.ir_version = 3;
    for (const n of old.graph!.node!) {
      if (n.op_type === 'BatchNormalization') (n.attribute ??= []).push({ name: 'spatial', type: 2, i: 1 });
      // Attributes MaxPool only has from opset 10 on.
      if (n.op_type === 'MaxPool') n.attribute = (n.attribute ?? []).filter((a) => a.name !== 'ceil_mode' && a.name !== 'dilations');
    }
    const path = join(dir, 'zoo-opset7.onnx');
    writeFileSync(path, encodeModel(old));
    await (await ort.InferenceSession.create(path)).release(); // a valid opset 7 model
    const { bytes, report: r } = await quantizeModel({ model: path, videos: [clip], frames: 8 });
    const q = decodeModel(bytes);
    assert.equal(q.opset_import?.find((o) => !o.domain)?.version, 13);
    const optimized = join(dir, 'zoo-opset7-optimized.onnx');
    await (await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized, logSeverityLevel: 3 })).release();
    const ops = opCounts(decodeModel(readFileSync(optimized)));
    assert.equal(ops.get('QLinearConv'), 20);
    assert.equal(ops.get('QLinearAdd'), 8);
    assert.ok(r.agreement.embeddingCosine!.min > 0.99);
    assert.equal(loadModel(path).embeddingDim, 128);
  });

  test('a BatchNormalization after the residual Add (pre-activation, as ResNet v2) becomes an integer 1x1 depthwise Conv; every Conv and Add fuses', async () => {
    const model = synthResnetModel(SYNTH);
    const g = model.graph!;
    const producers = new Map(g.node!.map((n) => [n.output![0]!, n]));
    const channels = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t.dims?.[0] ?? 0]));
    const nodes: NodeProto[] = [];
    let k = 0;
    for (const n of g.node!) {
      const add = producers.get(n.input![0]!);
      if (n.op_type === 'Relu' && add?.op_type === 'Add') {
        // The Add's channels: those of the conv (folded BN's) that feeds it.
        const bn = producers.get(add.input![0]!)!;
        const c = channels.get(bn.input![1]!)!;
        const base = `preact${k++}`;
        g.initializer!.push(
          floatTensor(
            `${base}.g`,
            [c],
            Float32Array.from({ length: c }, (_, i) => 0.8 + 0.01 * i),
          ),
          floatTensor(
            `${base}.b`,
            [c],
            Float32Array.from({ length: c }, (_, i) => 0.05 * Math.sin(i)),
          ),
          floatTensor(`${base}.m`, [c], new Float32Array(c).fill(0.1)),
          floatTensor(`${base}.v`, [c], new Float32Array(c).fill(1.2)),
        );
        nodes.push(makeNode('BatchNormalization', [n.input![0]!, `${base}.g`, `${base}.b`, `${base}.m`, `${base}.v`], [`${base}.out`], base));
        n.input = [`${base}.out`];
      }
      nodes.push(n);
    }
    g.node = nodes;
    const path = join(dir, 'preact.onnx');
    writeFileSync(path, encodeModel(model));
    const { bytes, report: r } = await quantizeModel({ model: path, videos: [clip], frames: 8 });
    assert.equal(r.floatOps.BatchNormalization, undefined);
    assert.equal(r.quantized.conv, 28);
    const optimized = join(dir, 'preact-optimized.onnx');
    await (await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized, logSeverityLevel: 3 })).release();
    const ops = opCounts(decodeModel(readFileSync(optimized)));
    assert.equal(ops.get('QLinearConv'), 28);
    assert.equal(ops.get('BatchNormalization'), undefined);
    assert.equal(ops.get('DequantizeLinear'), 1, 'one dequantization, before the pooling');
    assert.equal(ops.get('QLinearAdd'), 8);
    assert.equal(ops.get('Conv'), undefined);
    assert.ok(r.agreement.embeddingCosine!.min > 0.99);
  });

  test('refused with one clear error: an INT8 model, a video that cannot be decoded, too few frames', async () => {
    await assert.rejects(
      quantizeModel({ model: int8Path, videos: [clip] }),
      (e: unknown) => e instanceof ModelInvalidError && /already quantized/.test(e.message),
    );
    const notVideo = join(dir, 'notes.mp4');
    writeFileSync(notVideo, 'not a video');
    await assert.rejects(quantizeModel({ model: floatPath, videos: [notVideo] }), NotAVideoError);
    const short = join(dir, 'short.mp4');
    makeClip(short, { seconds: 0.2, rate: 25 });
    await assert.rejects(quantizeModel({ model: floatPath, videos: [short] }), (e: unknown) => e instanceof UsageError && /too few frames/.test(e.message));
  });
});
