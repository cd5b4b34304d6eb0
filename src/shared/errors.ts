/**
 * The error catalogue. Every error StreamSight raises on purpose is one of
 * these: a stable `code` (programs match on it, never on the message), the
 * `cause`, and whether retrying can help. A user error prints as one line;
 * anything else is a bug and is logged with its stack.
 */

export interface ErrorOptions {
  cause?: unknown;
  /** A hint printed after the message, e.g. the command that fixes it. */
  hint?: string;
}

export abstract class StreamSightError extends Error {
  abstract readonly code: string;
  /** True when the same operation may succeed later (network, busy device). */
  readonly retryable: boolean = false;
  /** True when the user can fix it (bad flag, missing file): no stack trace. */
  readonly userError: boolean = true;
  /** Process exit code for the CLI. */
  readonly exitCode: number = 1;
  readonly hint: string | undefined;

  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }

  /** One line for a terminal: `error[CODE]: message (hint)`. */
  toLine(): string {
    return `error[${this.code}]: ${this.message}${this.hint ? ` (${this.hint})` : ''}`;
  }
}

/** A bad flag or argument on the command line. */
export class UsageError extends StreamSightError {
  readonly code = 'E_USAGE';
  override readonly exitCode = 2;
}

/** A configuration value failed validation; the message names the key path. */
export class ConfigError extends StreamSightError {
  readonly code = 'E_CONFIG';
  override readonly exitCode = 2;
}

/** An input file or folder does not exist or cannot be read. */
export class InputNotFoundError extends StreamSightError {
  readonly code = 'E_INPUT_NOT_FOUND';
  override readonly exitCode = 3;
}

/** The input exists but ffmpeg finds no decodable video stream in it. */
export class NotAVideoError extends StreamSightError {
  readonly code = 'E_NOT_A_VIDEO';
  override readonly exitCode = 3;
}

/** A picture (or frame) is larger than `decode.maxPixels` (width x height): refused before it is decoded. */
export class TooManyPixelsError extends StreamSightError {
  readonly code = 'E_TOO_MANY_PIXELS';
  override readonly exitCode = 3;
}

/** Decoding stopped before the end: truncated or corrupt data. */
export class DecodeError extends StreamSightError {
  readonly code = 'E_DECODE';
  override readonly exitCode = 4;
}

/** A network source (http, rtsp, ...) cannot be reached. */
export class SourceUnreachableError extends StreamSightError {
  readonly code = 'E_SOURCE_UNREACHABLE';
  override readonly retryable = true;
  override readonly exitCode = 5;
}

/** ffmpeg or ffprobe is not installed or not runnable. */
export class FfmpegMissingError extends StreamSightError {
  readonly code = 'E_FFMPEG_MISSING';
  override readonly exitCode = 6;
}

/** A model is named that is neither a file nor downloaded yet. */
export class ModelNotFoundError extends StreamSightError {
  readonly code = 'E_MODEL_NOT_FOUND';
  override readonly exitCode = 7;
}

/** The file is not a usable image classifier (corrupt, wrong input rank, no head). */
export class ModelInvalidError extends StreamSightError {
  readonly code = 'E_MODEL_INVALID';
  override readonly exitCode = 7;
}

/** A downloaded file's sha256 differs from the manifest. */
export class ChecksumMismatchError extends StreamSightError {
  readonly code = 'E_CHECKSUM';
  override readonly exitCode = 8;
}

/** A download failed: no network, HTTP error, connection cut. */
export class DownloadError extends StreamSightError {
  readonly code = 'E_DOWNLOAD';
  override readonly retryable = true;
  override readonly exitCode = 8;
}

/** `--device cuda` was asked for and the CUDA provider cannot be used. */
export class DeviceUnavailableError extends StreamSightError {
  readonly code = 'E_DEVICE_UNAVAILABLE';
  override readonly exitCode = 9;
}

/** Inference failed on a batch (ONNX Runtime error, worker thread died). */
export class InferenceError extends StreamSightError {
  readonly code = 'E_INFERENCE';
  override readonly userError = false;
  override readonly exitCode = 10;
}

/** The output file cannot be written. */
export class OutputError extends StreamSightError {
  readonly code = 'E_OUTPUT';
  override readonly exitCode = 11;
}

/** Redis (queue or frame store) could not be reached for longer than the configured patience. */
export class RedisUnavailableError extends StreamSightError {
  readonly code = 'E_REDIS_UNAVAILABLE';
  override readonly retryable = true;
  override readonly exitCode = 12;
}

/** Frames that could not be inferred even after re-sending; the summary names them. */
export class FramesLostError extends StreamSightError {
  readonly code = 'E_FRAMES_LOST';
  override readonly exitCode = 13;
}

/** A job whose data can never succeed (bad schema, wrong model, frames gone): never retried. */
export class BadJobError extends StreamSightError {
  readonly code = 'E_BAD_JOB';
}

/** The index file cannot be used: not an index, a newer layout, locked, or unwritable. */
export class IndexFileError extends StreamSightError {
  readonly code = 'E_INDEX';
  override readonly exitCode = 14;
}

/**
 * Refusals of the live server's streams (add, remove, snapshot). Domain
 * errors: the gateway alone turns each code into an HTTP status and the
 * wire code of docs/PROTOCOL.md (gateway/http-problem.ts).
 */

/** A source the allowlist does not let a request open. */
export class SourceRefusedError extends StreamSightError {
  readonly code = 'E_SOURCE_REFUSED';
}

/** A model file a request names that the allowlist does not let it read. */
export class ForbiddenModelError extends StreamSightError {
  readonly code = 'E_FORBIDDEN_MODEL';
}

/** A stream id already in use. */
export class StreamExistsError extends StreamSightError {
  readonly code = 'E_STREAM_EXISTS';
}

/** No stream by that id. */
export class UnknownStreamError extends StreamSightError {
  readonly code = 'E_UNKNOWN_STREAM';
}

/** A second source reading standard input: the process has one. */
export class StdinTakenError extends StreamSightError {
  readonly code = 'E_STDIN_TAKEN';
}

/** A stream's own model cannot be loaded or started; the cause says why. */
export class ModelUnavailableError extends StreamSightError {
  readonly code = 'E_MODEL_UNAVAILABLE';
}

/** A stream asks for a model this server does not run (one model only, or workers that run one). */
export class ModelNotServedError extends StreamSightError {
  readonly code = 'E_MODEL_NOT_SERVED';
}

/** A watchdog tuning the watchdog refuses (e.g. a backoff maximum below its initial delay); the message starts `watchdog: `. */
export class WatchdogTuningError extends StreamSightError {
  readonly code = 'E_WATCHDOG_TUNING';
}

/** A stream ingested by another process (distributed mode): change it there. */
export class StreamElsewhereError extends StreamSightError {
  readonly code = 'E_STREAM_ELSEWHERE';
}

/** This server only reads results (`streamsight gateway`): streams are added and removed where they are ingested. */
export class ReadOnlyError extends StreamSightError {
  readonly code = 'E_READ_ONLY';
}

/** The server is shutting down, or not started yet: nothing new is taken. */
export class ClosingError extends StreamSightError {
  readonly code = 'E_CLOSING';
  override readonly retryable = true;
}

/** A server used before listen(). */
export class NotListeningError extends StreamSightError {
  readonly code = 'E_NOT_LISTENING';
}

/** A picture given to search by picture that cannot be decoded; the cause says why. */
export class BadPictureError extends StreamSightError {
  readonly code = 'E_BAD_PICTURE';
}

export function isStreamSightError(err: unknown): err is StreamSightError {
  return err instanceof StreamSightError;
}
