import { isAbsolute } from 'node:path';
import type { Frame } from '../contracts/frame.ts';
import type { StreamInfo, StreamState } from '../contracts/results.ts';
import type { AddStreamRequest } from '../contracts/stream-request.ts';
import { checkSource, protocolWhitelistFor, type SourceAllowlist } from '../ingest/source-allowlist.ts';
import { overridesFromSettings } from '../ingest/source-watchdog.ts';
import {
  ClosingError,
  ForbiddenModelError,
  ReadOnlyError,
  SourceRefusedError,
  StdinTakenError,
  StreamElsewhereError,
  StreamExistsError,
} from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from '../shared/metrics.ts';
import type { LiveResultPublisher } from './live-result-publisher.ts';
import { SnapshotEncoder } from './snapshot-encoder.ts';
import { planSource, type PlanDefaults, type SourcePlan, type SourceSpec } from './source-plan.ts';

/** A stream opened by a transport: decoding here, inferred where the transport sends its frames. */
export interface LiveStream {
  readonly state: StreamState;
  readonly model: { name: string; untrained?: boolean | undefined };
  /** The latest decoded frame (snapshots). */
  readonly latest: Frame | undefined;
  /** Stops the source (ffmpeg reaped) and lets go of what it held (a model's engine). Idempotent. */
  stop(): Promise<void>;
}

/**
 * What differs between the modes of a live server: where a stream's frames
 * go to be inferred, and so where its results come from. Embedded `serve`
 * (live-pipeline.ts): an inference loop in this process. `serve --redis`
 * (transport/distributed-sources.ts): jobs for `streamsight worker`s, results
 * read back from Redis. `streamsight gateway`: no sources, results only.
 * Either way the results reach the registry's LiveResultPublisher.
 */
export interface StreamTransport {
  /** Set where streams cannot be added or removed here: what the refusal of each says. */
  readonly readOnly?: { add: string; remove: string } | undefined;
  /**
   * Starts a stream planned by the registry (refusals common to both modes
   * already checked). Rejects with the catalogue's errors: ModelNotServedError,
   * ModelUnavailableError, WatchdogTuningError.
   */
  open(spec: SourceSpec, plan: SourcePlan): Promise<LiveStream>;
  /** True when a stream naming this model makes this process load it (a model file named over HTTP then needs the allowlist). */
  loadsModel(name: string): boolean;
  /** Streams whose results are served here but which another process ingests (distributed mode). */
  others(): StreamInfo[];
  readiness(): { ready: boolean; reasons: string[] };
  /** After every stream is stopped. Idempotent. */
  close(): Promise<void>;
}

export interface StreamRegistryOptions {
  transport: StreamTransport;
  publisher: LiveResultPublisher;
  /** What POST /api/streams may open; undefined: nothing. */
  allowlist: SourceAllowlist | undefined;
  /** How sources are planned: default rates, the server's watchdog, the pixel limit (source-plan.ts). */
  plan: PlanDefaults;
  logger: Logger;
  metrics: Metrics;
}

interface Entry {
  spec: SourceSpec;
  plan: SourcePlan;
  stream: LiveStream;
}

/**
 * The streams of a live server, in every mode: add (trusted sources from the
 * config, requests checked against the allowlist), remove, list, snapshot,
 * and the refusals (shutting down, an id in use, a second reader of standard
 * input). It is the HTTP API's backend (gateway/http-api.ts). What runs a
 * stream's inference is the transport's business.
 */
export class StreamRegistry {
  private readonly streams = new Map<string, Entry>();
  /** Ids being opened (a model starting): taken, not yet listed. */
  private readonly opening = new Set<string>();
  private readonly snapshots = new SnapshotEncoder();
  /** Standard input is read once, for the life of the process. */
  private stdinUsed = false;
  private closed = false;

  constructor(private readonly registry: StreamRegistryOptions) {}

  get metrics(): Metrics {
    return this.registry.metrics;
  }

  /** Adds a trusted source (config file, command line): no allowlist check. */
  async addSource(spec: SourceSpec): Promise<StreamInfo> {
    const { transport, publisher, logger } = this.registry;
    if (transport.readOnly) throw new ReadOnlyError(transport.readOnly.add);
    const plan = planSource(spec, this.registry.plan);
    this.refuse(spec.id, plan);
    this.opening.add(spec.id);
    if (plan.stdin) this.stdinUsed = true;
    let stream: LiveStream;
    try {
      stream = await transport.open(spec, plan);
    } catch (err) {
      if (plan.stdin) this.stdinUsed = false;
      throw err;
    } finally {
      this.opening.delete(spec.id);
    }
    if (this.closed) {
      await stream.stop();
      throw new ClosingError('server is shutting down');
    }
    this.streams.set(spec.id, { spec, plan, stream });
    publisher.track(spec.id, spec.model);
    logger.info({ stream: spec.id, kind: plan.kind, live: plan.live, fps: plan.fps, model: stream.model.name }, 'stream added');
    return this.info(spec.id, stream, plan);
  }

  /** A request (POST /api/streams): the source and a model file it names must pass the allowlist. */
  async addStream(request: AddStreamRequest): Promise<StreamInfo> {
    const { transport, allowlist } = this.registry;
    if (transport.readOnly) throw new ReadOnlyError(transport.readOnly.add);
    const checked = checkSource(request.url, allowlist);
    if (!checked.ok) throw new SourceRefusedError(`source refused: ${checked.reason}`);
    const modelName = request.model?.name;
    if (modelName !== undefined && transport.loadsModel(modelName) && /[/\\]|^\.|\.onnx$/i.test(modelName)) {
      const file = checkSource(modelName, allowlist);
      if (!file.ok || file.scheme !== 'file' || !isAbsolute(modelName)) {
        throw new ForbiddenModelError(`model.name refused: ${file.ok ? 'model files must be absolute paths' : file.reason}`);
      }
    }
    return this.addSource({
      id: request.id,
      url: checked.url,
      fps: request.fps,
      live: request.live,
      loop: request.loop,
      // Always the checked scheme's whitelist, also for files: a playlist cannot reach past it.
      protocolWhitelist: protocolWhitelistFor(checked.scheme),
      rtspTransport: request.rtspTransport,
      ...(request.watchdog ? { watchdog: overridesFromSettings(request.watchdog) } : {}),
      ...(request.model ? { model: request.model } : {}),
      ...(request.skipUnchanged ? { skipUnchanged: request.skipUnchanged } : {}),
      ...(request.decodeThreads !== undefined ? { decodeThreads: request.decodeThreads } : {}),
      ...(request.hwaccel ? { hwaccel: request.hwaccel } : {}),
    });
  }

  /** Stops and removes a stream of this process; false when there is none by that id. */
  async removeStream(id: string): Promise<boolean> {
    const { transport, publisher, logger } = this.registry;
    if (transport.readOnly) throw new ReadOnlyError(transport.readOnly.remove);
    const entry = this.streams.get(id);
    if (!entry) {
      if (this.hasStream(id)) throw new StreamElsewhereError(`stream "${id}" is ingested by another process; remove it there`);
      return false;
    }
    this.streams.delete(id);
    await entry.stream.stop();
    publisher.forget(id);
    this.snapshots.forget(id);
    logger.info({ stream: id }, 'stream removed');
    return true;
  }

  listStreams(): StreamInfo[] {
    const mine = [...this.streams.entries()].map(([id, e]) => this.info(id, e.stream, e.plan));
    return [...mine, ...this.othersListed()];
  }

  hasStream(id: string): boolean {
    return this.streams.has(id) || this.othersListed().some((s) => s.id === id);
  }

  async snapshot(id: string): Promise<Buffer | undefined> {
    const frame = this.streams.get(id)?.stream.latest;
    return frame ? this.snapshots.encode(frame) : undefined;
  }

  readiness(): { ready: boolean; reasons: string[] } {
    return this.closed ? { ready: false, reasons: ['shutting down'] } : this.registry.transport.readiness();
  }

  /** Stops every stream (ffmpeg reaped), then the transport. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.streams.values()].map((e) => e.stream.stop()));
    await this.registry.transport.close();
  }

  /** Refusals common to both modes, before anything is opened. */
  private refuse(id: string, plan: SourcePlan): void {
    if (this.closed) throw new ClosingError('server is shutting down');
    if (this.opening.has(id) || this.hasStream(id)) throw new StreamExistsError(`stream "${id}" already exists`);
    if (plan.stdin && this.stdinUsed) throw new StdinTakenError('only one stream can read standard input');
  }

  /** Other processes' streams, less those this one removed (their last entries may still come). */
  private othersListed(): StreamInfo[] {
    const { transport, publisher } = this.registry;
    return transport.others().filter((s) => !this.streams.has(s.id) && !publisher.isGone(s.id));
  }

  private info(id: string, stream: LiveStream, plan: SourcePlan): StreamInfo {
    const { model } = stream;
    return { id, state: stream.state, model: model.name, fps: plan.fps, ...(model.untrained ? { untrained: true } : {}) };
  }
}
