/**
 * StreamSight as a library: what the commands do, for a Node program
 * (README "Use it from Node").
 *
 *   analyze      a video's frames, labelled, as an async iterable (streamsight analyze)
 *   createServer sources, inference, events, the WebSocket feed and HTTP API in process (streamsight serve)
 *   openIndex    search an index by label, frame or picture, and export it (streamsight search / export)
 *   loadModel    a model file or registry name, edited and checked as every command loads it
 */
export { analyze, type AnalyzeOptions } from './library/analyze.ts';
export { createServer, type ServerEvents, type ServerOptions, type SourceSpec, type StreamSightServer } from './library/server.ts';
export {
  openIndex,
  type ExportFormat,
  type ExportQuery,
  type FrameHit,
  type IndexQuery,
  type OpenIndexOptions,
  type SearchResponse,
  type SegmentHit,
  type StreamSightIndex,
} from './library/index-api.ts';
export { loadModel, type LoadedModel, type LoadModelOptions } from './inference/model-loader.ts';
export type { DeviceChoice } from './inference/ort-session.ts';
export type { PreprocessOverrides, PreprocessSpec, PresetName } from './contracts/preprocess.ts';
export { importModel, type ImportOptions, type ImportResult } from './inference/model-import.ts';
export type { FrameLine, Label, Summary } from './contracts/analyze-output.ts';
export type { FrameResult, LabelEvent, StreamInfo, StreamStatus } from './contracts/results.ts';
export type { ConfigInput } from './config/schema.ts';
export { isStreamSightError, StreamSightError } from './shared/errors.ts';
