import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { OutputError } from '../shared/errors.ts';

/**
 * Where JSON Lines go: stdout or a file. Writes wait for 'drain', so a slow
 * disk or reader pauses the pipeline instead of buffering without bound.
 * Each line is written as soon as its frame is done, so an interrupted run
 * keeps everything finished before the interruption.
 */
export class OutputSink {
  private failed: Error | undefined;
  private closed = false;

  private constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly ownsStream: boolean,
    readonly target: string,
  ) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      this.failed =
        err.code === 'EPIPE'
          ? new OutputError(`${target} was closed by the reader`, { cause: err })
          : new OutputError(`cannot write ${target}: ${err.code ?? err.message}`, { cause: err });
    });
  }

  static async open(file: string | undefined): Promise<OutputSink> {
    if (file === undefined || file === '-') return new OutputSink(process.stdout, false, 'stdout');
    const stream: WriteStream = createWriteStream(file, { flags: 'w' });
    try {
      await once(stream, 'open');
    } catch (err) {
      throw new OutputError(`cannot open --out ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
    return new OutputSink(stream, true, file);
  }

  /** Lines into a stream the caller owns (the library's analyze feeds its iterator through one); close() leaves it open. */
  static toStream(stream: NodeJS.WritableStream, target: string): OutputSink {
    return new OutputSink(stream, false, target);
  }

  async writeLine(line: string): Promise<void> {
    if (this.failed) throw this.failed;
    if (!this.stream.write(line + '\n')) {
      // once('drain') rejects with the stream's raw error (EPIPE when the reader is gone, as with `| head`):
      // the listener above has made it an OutputError by then, and that is what the caller gets.
      await Promise.race([once(this.stream, 'drain'), once(this.stream, 'error')]).catch((err: unknown) => {
        throw this.failed ?? err;
      });
      if (this.failed) throw this.failed;
    }
  }

  /** Idempotent; flushes a file and waits until it is on disk (closed). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.ownsStream) return;
    const ws = this.stream as WriteStream;
    await new Promise<void>((resolve) => ws.end(() => resolve()));
    if (this.failed) throw this.failed;
  }
}
