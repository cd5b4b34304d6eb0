/**
 * `streamsight models quantize`: static INT8 quantization of a float ONNX
 * classifier, calibrated on frames of the user's videos.
 *
 *   1. load and check the model as analyze does (loadModel), fold BatchNormalization;
 *   2. decode frames with the model's geometry: even ones calibrate, odd ones are held out;
 *   3. run the float model with every tensor to quantize as an output: histograms;
 *      uint8 ranges by percentile clipping;
 *   4. run the QDQ model with a float twin of each Conv (bias-correction.ts) on the same
 *      frames: the per-channel mean shift of each Conv's output is subtracted from its bias;
 *   5. write the corrected QDQ model with its metadata, and compare it with FP32 on the
 *      held-out frames.
 */
import { readFileSync } from 'node:fs';
import { frameGeometry, preprocessValues, type PreprocessSpec } from '../../contracts/preprocess.ts';
import { ModelInvalidError, UsageError } from '../../shared/errors.ts';
import { addEmbeddingOutput } from '../graph-edit.ts';
import { loadModel, type LoadedModel } from '../model-loader.ts';
import type { PreprocessLayer } from '../preprocess-resolve.ts';
import { decodeModel, encodeModel, type GraphProto, type ModelProto, type StringStringEntryProto } from '../onnx-proto.ts';
import { compareOutputs, type Agreement } from './agreement.ts';
import { biasShifts, correctionTensors, withReferenceConvs } from './bias-correction.ts';
import { collectCalibrationFrames, type CalibrationFrame, type InputSampling } from './calibration-frames.ts';
import { collectTensorStats } from './calibration-session.ts';
import { batchNormToConv, foldBatchNorm } from './fold-batchnorm.ts';
import { upgradeToQdqOpset } from './opset-upgrade.ts';
import { LABELS_KEY, PRECISION_KEY, PREPROCESS_KEY } from './metadata-keys.ts';
import { buildQdqModel, type WeightZeroPoint } from './qdq-graph.ts';
import { planQdq, type QdqPlan } from './qdq-plan.ts';
import { activationParams, type ActivationParams } from './quant-params.ts';
import { runOutputs } from './run-outputs.ts';
import { TensorStats } from './tensor-stats.ts';

export type QuantizePhase = 'decode' | 'calibrate' | 'bias-correction' | 'compare';

export interface QuantizeOptions {
  /** Registry name or .onnx file of the float model. */
  model: string;
  videos: readonly string[];
  /** Calibration frames (as many again are held out). Default 200. */
  frames?: number;
  /** Fewest calibration frames accepted. Default 8. */
  minFrames?: number;
  /** Fraction of values inside each activation range. Default 0.9999. */
  percentile?: number;
  /** Subtract the mean shift of each Conv output from its bias. Default true. */
  biasCorrection?: boolean;
  /** How the int8 weights are stored (qdq-graph.ts WeightZeroPoint). Default -1. */
  weightZeroPoint?: WeightZeroPoint;
  /** Frames per ONNX Runtime run. Default 8. */
  batch?: number;
  /** Intra-op threads, 0 = one per physical core this process may use (within a cgroup v2 CPU quota). */
  threads?: number;
  cacheDir?: string | undefined;
  labelsFile?: string | undefined;
  /** Preprocessing layers from flags and config, as analyze would be given them (loadModel's `preprocess`). */
  preprocess?: readonly PreprocessLayer[] | undefined;
  onProgress?: (phase: QuantizePhase, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface QuantizeReport {
  model: string;
  calibrationFrames: number;
  heldOutFrames: number;
  percentile: number;
  biasCorrection: boolean;
  weightZeroPoint: WeightZeroPoint;
  /** Nodes that ONNX Runtime runs in integer arithmetic. */
  quantized: { conv: number; add: number; activations: number };
  /** Op types left in float, with counts. */
  floatOps: Record<string, number>;
  agreement: Agreement;
  inputs: InputSampling[];
  /** Which frames were held out: per input, their positions and timestamps in its sampled sequence. */
  heldOut: Array<{ input: string; seq: number; ptsMs: number }>;
}

export interface QuantizeResult {
  bytes: Uint8Array;
  report: QuantizeReport;
}

export async function quantizeModel(options: QuantizeOptions): Promise<QuantizeResult> {
  const frames = options.frames ?? 200;
  const percentile = options.percentile ?? 0.9999;
  const requestedBatch = options.batch ?? 8;
  const threads = options.threads ?? 0;
  const biasCorrection = options.biasCorrection ?? true;
  const weightZeroPoint = options.weightZeroPoint ?? -1;
  const progress = options.onProgress ?? ((): void => undefined);

  const loaded = loadModel(options.model, { cacheDir: options.cacheDir, labelsFile: options.labelsFile, preprocess: options.preprocess });
  const model = decodeModel(readFileSync(loaded.path));
  checkFloatModel(model, loaded.name);
  upgradeToQdqOpset(model, loaded.name);
  const graph = model.graph as GraphProto;
  foldBatchNorm(graph);
  batchNormToConv(graph);
  const plan = planQdq(graph, new Set([loaded.classifier.name]));
  if (plan.convs.length === 0) throw new ModelInvalidError(`${loaded.name}: no Conv layer to quantize; only convolutional classifiers are supported`);

  // A file that fixes its batch size (older exports say 1) takes batches of exactly that size.
  const batch = loaded.fixedBatch ?? requestedBatch;
  const pre = loaded.preprocess;
  const collected = await collectCalibrationFrames(options.videos, {
    geometry: frameGeometry(pre),
    frames,
    minFrames: options.minFrames ?? 8,
    onFrame: (done, total) => progress('decode', done, total),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const whole = <T>(list: T[]): T[] => (loaded.fixedBatch === null ? list : list.slice(0, list.length - (list.length % batch)));
  const split = { ...collected, calibration: whole(collected.calibration), heldOut: whole(collected.heldOut) };
  if (split.calibration.length === 0 || split.heldOut.length === 0) {
    throw new UsageError(`too few frames for the model's fixed batch of ${batch}: the videos gave ${collected.calibration.length + collected.heldOut.length}`);
  }
  const runOpts = { inputName: loaded.inputName, preprocess: pre, batch, threads };
  const calib = split.calibration;

  const floatStats = new TensorStats(plan.tensors, new Map());
  await collectTensorStats(model, calib, floatStats, { ...runOpts, onBatch: (n) => progress('calibrate', n, calib.length) });
  const params = rangesToParams(plan, floatStats, percentile);

  let biasShift: Map<string, Float32Array> | undefined;
  if (biasCorrection) {
    const emulated = withReferenceConvs(buildQdqModel({ model, plan, params, weightZeroPoint }), model, plan);
    const quantStats = new TensorStats([], correctionTensors(plan));
    await collectTensorStats(emulated, calib, quantStats, { ...runOpts, onBatch: (n) => progress('bias-correction', n, calib.length) });
    biasShift = biasShifts(plan, quantStats);
  }

  const quantized = buildQdqModel({ model, plan, params, weightZeroPoint, ...(biasShift ? { biasShift } : {}) });
  setMetadata(quantized, pre, loaded.labelsSource === 'none (class_N)' ? undefined : loaded.labels);
  const bytes = encodeModel(quantized);

  const agreement = await compareOnHeldOut(loaded, bytes, split.heldOut, { preprocess: pre, batch, threads }, (n) =>
    progress('compare', n, 2 * split.heldOut.length),
  );
  return {
    bytes,
    report: {
      model: loaded.name,
      calibrationFrames: calib.length,
      heldOutFrames: split.heldOut.length,
      percentile,
      biasCorrection,
      weightZeroPoint,
      quantized: { conv: plan.convs.length, add: plan.adds.length, activations: plan.tensors.length },
      floatOps: plan.floatOps,
      agreement,
      inputs: split.inputs,
      heldOut: split.heldOut.map((f) => ({ input: f.input, seq: f.seq, ptsMs: f.ptsMs })),
    },
  };
}

/** Refuses a model that is already quantized. */
function checkFloatModel(model: ModelProto, name: string): void {
  const meta = Object.fromEntries((model.metadata_props ?? []).map((p) => [p.key, p.value]));
  const quantOps = (model.graph?.node ?? []).filter((n) => /^(QuantizeLinear|DequantizeLinear|QLinear\w+|ConvInteger|MatMulInteger)$/.test(n.op_type ?? ''));
  if (meta[PRECISION_KEY] === 'int8' || quantOps.length > 0) {
    throw new ModelInvalidError(`${name} is already quantized (${quantOps.length} quantization nodes); give the float model`);
  }
}

function rangesToParams(plan: QdqPlan, stats: TensorStats, percentile: number): Map<string, ActivationParams> {
  const params = new Map<string, ActivationParams>();
  for (const t of plan.tensors) {
    if (plan.sharesParamsWith.has(t)) continue;
    const range = stats.histograms.get(t)!.clippedRange(percentile);
    // A Relu folded into its producer: the quantized range starts at 0, so that ONNX Runtime drops the Relu.
    params.set(t, activationParams(plan.reluOutputs.has(t) ? { lo: 0, hi: range.hi } : range));
  }
  for (const [t, from] of plan.sharesParamsWith) params.set(t, params.get(from)!);
  return params;
}

function setMetadata(model: ModelProto, preprocess: PreprocessSpec, labels: readonly string[] | undefined): void {
  const set: Record<string, string> = {
    [PRECISION_KEY]: 'int8',
    [PREPROCESS_KEY]: JSON.stringify(preprocessValues(preprocess)),
    ...(labels ? { [LABELS_KEY]: JSON.stringify(labels) } : {}),
  };
  const kept: StringStringEntryProto[] = (model.metadata_props ?? []).filter((p) => !(p.key !== undefined && p.key in set));
  model.metadata_props = [...kept, ...Object.entries(set).map(([key, value]) => ({ key, value }))];
}

async function compareOnHeldOut(
  loaded: LoadedModel,
  int8Bytes: Uint8Array,
  heldOut: readonly CalibrationFrame[],
  opts: { preprocess: PreprocessSpec; batch: number; threads: number },
  onFrames: (done: number) => void,
): Promise<Agreement> {
  const fp32 = await runOutputs(loaded, heldOut, { ...opts, onBatch: onFrames });
  const int8Model = addEmbeddingOutput(int8Bytes);
  const int8 = await runOutputs(int8Model, heldOut, { ...opts, onBatch: (n) => onFrames(heldOut.length + n) });
  return compareOutputs(fp32, int8, heldOut.length);
}
