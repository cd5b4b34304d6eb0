import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every Prometheus metric StreamSight exports, on one registry per process
 * (no global registry: tests make several). Names end in their unit.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly framesDecoded = new Counter({
    name: 'streamsight_frames_decoded_total',
    help: 'Frames cut from ffmpeg output',
    labelNames: ['stream'],
    registers: [this.registry],
  });
  readonly framesProcessed = new Counter({
    name: 'streamsight_frames_processed_total',
    help: 'Frames inferred and published',
    labelNames: ['stream'],
    registers: [this.registry],
  });
  readonly framesDropped = new Counter({
    name: 'streamsight_frames_dropped_total',
    help: 'Frames dropped before inference, by reason',
    labelNames: ['stream', 'reason'],
    registers: [this.registry],
  });
  readonly framesSkipped = new Counter({
    name: 'streamsight_frames_skipped_total',
    help: 'Frames published without inference, by reason (unchanged: --skip-unchanged repeated the last result)',
    labelNames: ['stream', 'reason'],
    registers: [this.registry],
  });
  readonly inferenceSeconds = new Histogram({
    name: 'streamsight_inference_seconds',
    help: 'ONNX Runtime run time per batch',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'streamsight_batch_size_frames',
    help: 'Frames per inference batch',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'streamsight_queue_depth_frames',
    help: 'Frames waiting for inference',
    labelNames: ['stream'],
    registers: [this.registry],
  });
  readonly latencySeconds = new Histogram({
    name: 'streamsight_latency_seconds',
    help: 'End-to-end latency: frame out of ffmpeg to result out of the gateway',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [this.registry],
  });
  readonly wsClients = new Gauge({ name: 'streamsight_ws_clients', help: 'Connected WebSocket clients', registers: [this.registry] });
  readonly wsDroppedMessages = new Counter({
    name: 'streamsight_ws_dropped_messages_total',
    help: 'Frame messages dropped for slow WebSocket clients',
    registers: [this.registry],
  });
  readonly wsMessagesSent = new Counter({
    name: 'streamsight_ws_messages_sent_total',
    help: 'Messages sent to WebSocket clients',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly decoderRestarts = new Counter({
    name: 'streamsight_decoder_restarts_total',
    help: 'ffmpeg restarts per stream',
    labelNames: ['stream'],
    registers: [this.registry],
  });
  readonly labelEvents = new Counter({
    name: 'streamsight_label_events_total',
    help: 'Label start/end events',
    labelNames: ['stream', 'label', 'kind'],
    registers: [this.registry],
  });
  readonly streamState = new Gauge({
    name: 'streamsight_stream_state',
    help: '1 for the state each stream is in',
    labelNames: ['stream', 'state'],
    registers: [this.registry],
  });
  readonly searchImageEngineStarts = new Counter({
    name: 'streamsight_search_image_engine_starts_total',
    help: 'Inference engines started for search by picture (POST /api/search); one is kept between pictures',
    registers: [this.registry],
  });
  readonly executionProvider = new Gauge({
    name: 'streamsight_execution_provider_info',
    help: 'ONNX Runtime execution provider in use (1 = active)',
    labelNames: ['provider', 'model'],
    registers: [this.registry],
  });

  /**
   * processMetrics (default true): prom-client's default metrics, under their
   * usual unprefixed names (`process_cpu_seconds_total`,
   * `process_resident_memory_bytes`, `nodejs_eventloop_lag_seconds`,
   * `nodejs_heap_size_used_bytes`, ...) so stock Node.js dashboards and
   * alerts work as they are; the `job`/`instance` labels tell processes apart.
   */
  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Prometheus text exposition format. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
