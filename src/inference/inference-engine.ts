import { Worker } from 'node:worker_threads';
import { InferenceError, StreamSightError, DeviceUnavailableError, ModelInvalidError } from '../shared/errors.ts';
import type { Frame } from '../contracts/frame.ts';
import type { PreprocessSpec } from '../contracts/preprocess.ts';
import type { BatchInferer, FrameInference } from './batch-inferer.ts';
import type { FromWorker, InitMessage, ResultMessage } from './inference-protocol.ts';
import type { DeviceChoice, ExecutionProvider } from './ort-session.ts';
import type { ScoredClass } from './postprocess.ts';

export interface EngineModel {
  /** Edited model bytes (with the embedding output). */
  bytes: Uint8Array;
  inputName: string;
  logitsName: string;
  /** The pooled-feature output; null for a labels-only model (frames then carry no embedding). */
  embeddingName: string | null;
  alreadyProbabilities: boolean;
  preprocess: PreprocessSpec;
  /** Batch size fixed by the file; shorter batches are padded with black frames. */
  fixedBatch: number | null;
}

export interface EngineOptions {
  device: DeviceChoice;
  threads: number;
  topK: number;
  /** Return L2-normalised embeddings with each result (none when the model's embeddingName is null). */
  embeddings: boolean;
}

/** The engine's answer: every frame inferred (it never loses one), with timings. */
export interface BatchInference {
  frames: FrameInference[];
  /** session.run time of the batch, milliseconds. */
  runMs: number;
  /** Time in the worker thread (normalise + run + top-k), milliseconds. */
  totalMs: number;
}

interface Pending {
  /** Real frames in the batch; results past it belong to padding. */
  count: number;
  resolve: (r: BatchInference) => void;
  reject: (e: Error) => void;
}

/**
 * The inference thread's entry, next to this module: compiled JavaScript in
 * an installed package (dist/), TypeScript in a checkout run through tsx.
 * Node 20 does not apply `--import tsx` to a worker's entry module, so for
 * TypeScript a tiny script registers tsx (a dev dependency), then imports it.
 */
function startThread(): Worker {
  const compiled = import.meta.url.endsWith('.js');
  const entry = new URL(compiled ? './inference-thread.js' : './inference-thread.ts', import.meta.url);
  if (compiled) return new Worker(entry);
  const bootstrap = `
    (async () => {
      const { register } = await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))});
      register();
      await import(${JSON.stringify(entry.href)});
    })().catch((err) => { throw err; });
  `;
  return new Worker(bootstrap, { eval: true });
}

/**
 * Runs inference in a worker thread. Batches are answered in the order they
 * were sent; several may be in flight so decoding overlaps inference.
 */
export class InferenceEngine implements BatchInferer {
  readonly provider: ExecutionProvider;
  readonly fallbackReason: string | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;
  private fatal: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly preprocess: PreprocessSpec,
    private readonly fixedBatch: number | null,
    ready: { provider: ExecutionProvider; fallbackReason?: string },
  ) {
    this.provider = ready.provider;
    this.fallbackReason = ready.fallbackReason;
    worker.on('message', (msg: FromWorker) => this.onMessage(msg));
    worker.on('error', (err) => this.failAll(new InferenceError(`inference thread crashed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => {
      if (!this.closed) this.failAll(new InferenceError(`inference thread exited unexpectedly (code ${code})`));
    });
  }

  static async start(model: EngineModel, options: EngineOptions): Promise<InferenceEngine> {
    const worker = startThread();
    // A private copy: the caller keeps its bytes, the worker gets ours by transfer.
    // new Uint8Array(x) copies (Buffer#slice would be a view, and the transfer would empty the caller's bytes).
    const copy = new Uint8Array(model.bytes).buffer as ArrayBuffer;
    const init: InitMessage = {
      type: 'init',
      model: copy,
      inputName: model.inputName,
      logitsName: model.logitsName,
      embeddingName: model.embeddingName,
      alreadyProbabilities: model.alreadyProbabilities,
      preprocess: model.preprocess,
      device: options.device,
      threads: options.threads,
      topK: options.topK,
      embeddings: options.embeddings,
    };
    const ready = await new Promise<{ provider: ExecutionProvider; fallbackReason?: string }>((resolve, reject) => {
      const onMessage = (msg: FromWorker): void => {
        cleanup();
        if (msg.type === 'ready') resolve(msg);
        else if (msg.type === 'failed') reject(rebuildError(msg.code, msg.message));
        else reject(new InferenceError(`unexpected message from inference thread: ${msg.type}`));
      };
      const onError = (err: Error): void => {
        cleanup();
        reject(new InferenceError(`inference thread failed to start: ${err.message}`, { cause: err }));
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(new InferenceError(`inference thread exited during start (code ${code})`));
      };
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      worker.postMessage(init, [copy]);
    }).catch(async (err: unknown) => {
      await worker.terminate();
      throw err;
    });
    return new InferenceEngine(worker, model.preprocess, model.fixedBatch, ready);
  }

  /** Batches currently sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Infers one batch of frames (already at the model's input size). */
  infer(frames: readonly Frame[]): Promise<BatchInference> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.closed) return Promise.reject(new InferenceError('inference engine is closed'));
    const { inputWidth: w, inputHeight: h } = this.preprocess;
    const frameBytes = w * h * 3;
    if (this.fixedBatch !== null && frames.length > this.fixedBatch) {
      return Promise.reject(new RangeError(`frames: the model takes at most ${this.fixedBatch} per batch, got ${frames.length}`));
    }
    const sent = this.fixedBatch ?? frames.length;
    const pixels = new Uint8Array(sent * frameBytes);
    for (const [i, f] of frames.entries()) {
      if (f.data.length !== frameBytes)
        return Promise.reject(new RangeError(`frame ${f.seq}: expected ${frameBytes} bytes (${w}x${h} rgb24), got ${f.data.length}`));
      pixels.set(f.data, i * frameBytes);
    }
    const id = this.nextId++;
    return new Promise<BatchInference>((resolve, reject) => {
      this.pending.set(id, { count: frames.length, resolve, reject });
      this.worker.postMessage({ type: 'run', id, pixels: pixels.buffer, count: sent }, [pixels.buffer]);
    });
  }

  private onMessage(msg: FromWorker): void {
    if (msg.type === 'ready') return;
    const id = msg.id;
    if (id === undefined) return;
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (msg.type === 'failed') p.reject(rebuildError(msg.code, msg.message));
    else if (msg.type === 'result') {
      const result = unpack(msg);
      result.frames.length = p.count;
      p.resolve(result);
    }
  }

  private failAll(err: Error): void {
    this.fatal ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Idempotent. Pending batches are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new InferenceError('inference engine closed'));
    this.worker.postMessage({ type: 'close' });
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
  }
}

function unpack(msg: ResultMessage): BatchInference {
  const count = msg.k === 0 ? 0 : msg.indices.length / msg.k;
  const frames: FrameInference[] = [];
  for (let f = 0; f < count; f++) {
    const top: ScoredClass[] = [];
    for (let j = 0; j < msg.k; j++) top.push({ index: msg.indices[f * msg.k + j]!, score: msg.scores[f * msg.k + j]! });
    const item: FrameInference = { top };
    if (msg.embeddings) item.embedding = msg.embeddings.subarray(f * msg.embeddingDim, (f + 1) * msg.embeddingDim);
    frames.push(item);
  }
  return { frames, runMs: msg.runMs, totalMs: msg.totalMs };
}

/** Errors cross the thread boundary as code + message; rebuild the class. */
function rebuildError(code: string, message: string): StreamSightError {
  if (code === 'E_DEVICE_UNAVAILABLE') return new DeviceUnavailableError(message, { hint: 'use --device cpu, or see README "GPU hosts"' });
  if (code === 'E_MODEL_INVALID') return new ModelInvalidError(message);
  return new InferenceError(message);
}
