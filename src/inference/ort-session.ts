import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { defaultInferenceThreads } from '../shared/cpu-cores.ts';
import { DeviceUnavailableError, ModelInvalidError } from '../shared/errors.ts';

export type DeviceChoice = 'auto' | 'cpu' | 'cuda';
export type ExecutionProvider = 'cpu' | 'cuda';

export interface OrtSessionOptions {
  device: DeviceChoice;
  /** Intra-op threads; 0 = one per physical core this process may use (within a cgroup v2 CPU quota). */
  threads: number;
}

export interface OpenedSession {
  session: ort.InferenceSession;
  /** The provider the session actually runs on. */
  provider: ExecutionProvider;
  /** Set when `auto` wanted CUDA and fell back to CPU: why. */
  fallbackReason?: string;
}

function sessionOptions(provider: ExecutionProvider, threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    // Never ONNX Runtime's own choice (0): its core detection gives one thread on some VMs and ignores CPU quotas.
    intraOpNumThreads: threads > 0 ? threads : defaultInferenceThreads(),
  };
}

/**
 * Opens an ONNX Runtime session on the requested device. onnxruntime-node
 * does not fall back by itself (`['cuda','cpu']` throws when CUDA is
 * missing), so `auto` tries CUDA alone, then CPU, and reports why.
 */
export async function openSession(model: Uint8Array, options: OrtSessionOptions): Promise<OpenedSession> {
  if (options.device === 'cuda' || options.device === 'auto') {
    const missing = cudaProviderMissing();
    if (missing) {
      if (options.device === 'cuda') {
        throw new DeviceUnavailableError(`CUDA execution provider unavailable: ${missing}`, {
          hint: 'use --device cpu, or see README "GPU hosts" to install the CUDA provider',
        });
      }
      return { ...(await openCpu(model, options.threads)), fallbackReason: missing };
    }
    try {
      const session = await ort.InferenceSession.create(model, sessionOptions('cuda', options.threads));
      return { session, provider: 'cuda' };
    } catch (err) {
      const reason = firstLine(err);
      if (options.device === 'cuda') {
        throw new DeviceUnavailableError(`CUDA execution provider unavailable: ${reason}`, {
          cause: err,
          hint: 'use --device cpu, or see README "GPU hosts" to install the CUDA provider',
        });
      }
      const opened = await openCpu(model, options.threads);
      return { ...opened, fallbackReason: reason };
    }
  }
  return openCpu(model, options.threads);
}

async function openCpu(model: Uint8Array, threads: number): Promise<OpenedSession> {
  try {
    const session = await ort.InferenceSession.create(model, sessionOptions('cpu', threads));
    return { session, provider: 'cpu' };
  } catch (err) {
    throw new ModelInvalidError(`ONNX Runtime cannot load the model: ${firstLine(err)}`, { cause: err });
  }
}

/**
 * onnxruntime-node ships the CUDA provider as a separate download. When its
 * library is absent, trying CUDA only prints a native error on stderr, so
 * say why up front instead. Returns the reason, or undefined if present.
 */
export function cudaProviderMissing(): string | undefined {
  const pkg = createRequire(import.meta.url).resolve('onnxruntime-node');
  // .../onnxruntime-node/dist/index.js -> .../onnxruntime-node/bin/napi-v6/<platform>/<arch>/
  const binDir = join(dirname(pkg), '..', 'bin', 'napi-v6', process.platform, process.arch);
  const lib = join(binDir, process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so');
  return existsSync(lib) ? undefined : `CUDA provider library not installed (${lib} missing)`;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.slice(0, 300);
}
