/**
 * The inference ceiling: ONNX Runtime alone on ready tensors, with the model
 * edited exactly as `analyze` loads it (loadModel: embedding output added)
 * and the same session options (openSession), batch and thread count.
 *
 * Two figures:
 *   raw     InferenceSession.run in this process on one prepared NCHW float
 *           tensor, fetching what analyze fetches (logits only);
 *   engine  the InferenceEngine that analyze uses (worker thread, rgb24 ->
 *           NCHW normalisation, top-k), fed ready rgb24 frames, two batches
 *           in flight as analyze keeps them.
 * Warm-up batches are run first and not counted.
 */
import * as ort from 'onnxruntime-node';
import type { Frame } from '../src/contracts/frame.ts';
import { InferenceEngine } from '../src/inference/inference-engine.ts';
import type { LoadedModel } from '../src/inference/model-loader.ts';
import { openSession, type DeviceChoice } from '../src/inference/ort-session.ts';

export interface CeilingOptions {
  batch: number;
  threads: number;
  device: DeviceChoice;
  /** Measure for at least this long, seconds (after warm-up). */
  minSeconds: number;
  /** ...and at least this many batches. */
  minBatches: number;
  /** Batches run before the clock starts. */
  warmupBatches: number;
}

export interface CeilingResult {
  framesPerSecond: number;
  frames: number;
  seconds: number;
  /** Mean session.run time per batch, milliseconds. */
  runMsPerBatch: number;
  provider: string;
}

/** Deterministic pseudo-random bytes (xorshift32): the same input every run. */
function fillPseudoRandom(out: Uint8Array, seed = 0x9e3779b9): void {
  let x = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
}

export async function measureRawCeiling(model: LoadedModel, opts: CeilingOptions): Promise<CeilingResult> {
  const { inputWidth: w, inputHeight: h } = model.preprocess;
  const opened = await openSession(model.bytes, { device: opts.device, threads: opts.threads });
  try {
    const bytes = new Uint8Array(opts.batch * 3 * h * w);
    fillPseudoRandom(bytes);
    // Roughly the range of ImageNet-normalised pixels, about [-2.1, 2.6].
    const data = Float32Array.from(bytes, (b) => (b / 255 - 0.45) / 0.226);
    const feeds = { [model.inputName]: new ort.Tensor('float32', data, [opts.batch, 3, h, w]) };
    const fetches = [model.logitsName];
    const runOnce = async (): Promise<void> => {
      const out = await opened.session.run(feeds, fetches);
      for (const t of Object.values(out)) t.dispose?.();
    };
    for (let i = 0; i < opts.warmupBatches; i++) await runOnce();
    const started = performance.now();
    let batches = 0;
    let elapsed = 0;
    while (batches < opts.minBatches || elapsed < opts.minSeconds * 1000) {
      await runOnce();
      batches++;
      elapsed = performance.now() - started;
    }
    const frames = batches * opts.batch;
    return { framesPerSecond: frames / (elapsed / 1000), frames, seconds: elapsed / 1000, runMsPerBatch: elapsed / batches, provider: opened.provider };
  } finally {
    await opened.session.release();
  }
}

export async function measureEngineCeiling(model: LoadedModel, opts: CeilingOptions): Promise<CeilingResult> {
  const { inputWidth: w, inputHeight: h } = model.preprocess;
  const engine = await InferenceEngine.start(model, { device: opts.device, threads: opts.threads, topK: 5, embeddings: false });
  try {
    const data = Buffer.alloc(w * h * 3);
    fillPseudoRandom(data);
    const batch: Frame[] = Array.from({ length: opts.batch }, (_, seq) => ({
      streamId: 'bench',
      runId: 'bench',
      seq,
      ptsMs: seq * 40,
      capturedAt: Date.now(),
      width: w,
      height: h,
      data,
    }));
    for (let i = 0; i < opts.warmupBatches; i++) await engine.infer(batch);
    // Two in flight, as runAnalyze keeps them: one running, one queued.
    const started = performance.now();
    const inFlight: Array<Promise<{ runMs: number }>> = [];
    let done = 0;
    let runMs = 0;
    let elapsed = 0;
    while (done < opts.minBatches || elapsed < opts.minSeconds * 1000) {
      while (inFlight.length < 2) inFlight.push(engine.infer(batch));
      runMs += (await inFlight.shift()!).runMs;
      done++;
      elapsed = performance.now() - started;
    }
    // The one still queued is finished but not counted: the clock stopped at `done`.
    await Promise.all(inFlight);
    const frames = done * opts.batch;
    return { framesPerSecond: frames / (elapsed / 1000), frames, seconds: elapsed / 1000, runMsPerBatch: runMs / done, provider: engine.provider };
  } finally {
    await engine.close();
  }
}
