/**
 * StreamSight as a library: `import { analyze } from 'streamsight'`.
 * What the commands do, for a Node program (see README "Use it from Node").
 */
export { analyze, type AnalyzeOptions } from './library/analyze.ts';
export type { FrameLine, Label, Summary } from './contracts/analyze-output.ts';
export { isStreamSightError, StreamSightError } from './shared/errors.ts';
