/**
 * Worker-thread entry: owns the ONNX Runtime session. `session.run` is a
 * synchronous native call, so it must never run on the thread that serves
 * sockets and reads ffmpeg's pipes.
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { isStreamSightError } from '../shared/errors.ts';
import type { FromWorker, InitMessage, RunMessage, ToWorker } from './inference-protocol.ts';
import { prefixFramesInput } from './input-prefix.ts';
import { openSession } from './ort-session.ts';
import { l2Normalize, topKSoftmax } from './postprocess.ts';

if (!parentPort) throw new Error('inference-thread must run in a worker thread');
const port = parentPort;

let init: InitMessage | undefined;
let session: ort.InferenceSession | undefined;
/** The graph's uint8 frames input (input-prefix.ts): batches go in as the bytes ffmpeg wrote. */
let framesInput = '';

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

function failure(err: unknown, id?: number): FromWorker {
  const code = isStreamSightError(err) ? err.code : 'E_INFERENCE';
  const message = err instanceof Error ? err.message.split('\n')[0]! : String(err);
  return id === undefined ? { type: 'failed', code, message } : { type: 'failed', id, code, message };
}

async function handleInit(msg: InitMessage): Promise<void> {
  init = msg;
  // Scale, mean/std, channel order and layout become nodes of the graph, so no per-pixel work runs in JavaScript.
  const prefixed = prefixFramesInput(new Uint8Array(msg.model), msg.inputName, msg.preprocess);
  framesInput = prefixed.inputName;
  const opened = await openSession(prefixed.bytes, { device: msg.device, threads: msg.threads });
  session = opened.session;
  post({ type: 'ready', provider: opened.provider, ...(opened.fallbackReason ? { fallbackReason: opened.fallbackReason } : {}) });
}

async function handleRun(msg: RunMessage): Promise<void> {
  if (!init || !session) throw new Error('run before init');
  const started = performance.now();
  const { inputWidth: w, inputHeight: h } = init.preprocess;
  // The transferred bytes, as they are: uint8 NHWC RGB.
  const input = new ort.Tensor('uint8', new Uint8Array(msg.pixels), [msg.count, h, w, 3]);
  const embeddingName = init.embeddings ? init.embeddingName : null;
  const fetches = embeddingName !== null ? [init.logitsName, embeddingName] : [init.logitsName];
  const runStart = performance.now();
  const out = await session.run({ [framesInput]: input }, fetches);
  const runMs = performance.now() - runStart;

  const logits = out[init.logitsName]!.data as Float32Array;
  const classes = logits.length / msg.count;
  const k = Math.min(init.topK, classes);
  const indices = new Int32Array(msg.count * k);
  const scores = new Float32Array(msg.count * k);
  for (let f = 0; f < msg.count; f++) {
    const top = topKSoftmax(logits.subarray(f * classes, (f + 1) * classes), k, init.alreadyProbabilities);
    top.forEach((c, j) => {
      indices[f * k + j] = c.index;
      scores[f * k + j] = c.score;
    });
  }
  let embeddings: Float32Array | undefined;
  let embeddingDim = 0;
  if (embeddingName !== null) {
    // Copy out of ONNX Runtime's buffer so it can be transferred.
    embeddings = Float32Array.from(out[embeddingName]!.data as Float32Array);
    embeddingDim = embeddings.length / msg.count;
    for (let f = 0; f < msg.count; f++) l2Normalize(embeddings.subarray(f * embeddingDim, (f + 1) * embeddingDim));
  }
  for (const t of Object.values(out)) t.dispose?.();
  const result: FromWorker = {
    type: 'result',
    id: msg.id,
    indices,
    scores,
    k,
    embeddingDim,
    runMs,
    totalMs: performance.now() - started,
    ...(embeddings ? { embeddings } : {}),
  };
  post(result, [indices.buffer, scores.buffer, ...(embeddings ? [embeddings.buffer as ArrayBuffer] : [])]);
}

// Messages are handled one at a time, in order: batches finish in the order sent.
let chain: Promise<void> = Promise.resolve();
port.on('message', (msg: ToWorker) => {
  chain = chain.then(async () => {
    if (msg.type === 'init') {
      await handleInit(msg).catch((err: unknown) => post(failure(err)));
    } else if (msg.type === 'run') {
      await handleRun(msg).catch((err: unknown) => post(failure(err, msg.id)));
    } else {
      await session?.release();
      session = undefined;
      port.close();
    }
  });
});
