/**
 * Live decoders run nicer than streamsight (`live.decodeNice`): every thread
 * of the ffmpeg that decodes, read back from /proc while it decodes, with
 * real ffmpeg; and `serve --decode-nice` on a live source end to end.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { decodeFrames } from '../../../src/ingest/file-decoder.ts';
import { CLI, ROOT } from '../../helpers/cli.ts';
import { makeClip } from '../../helpers/clips.ts';
import { freePort } from '../../helpers/ports.ts';
import { ffmpegChildrenOf } from '../../helpers/processes.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { waitFor } from '../../helpers/wait.ts';
import { writeTinyModel } from '../../e2e/distributed-helpers.ts';

let tmp: ReturnType<typeof makeTempDir>;
let clip: string;
const geometry = { resize: { shorter: 64 }, cropWidth: 64, cropHeight: 64 };

before(() => {
  tmp = makeTempDir('ss-nice-');
  clip = makeClip(join(tmp.dir, 'clip.mp4'), { seconds: 4, rate: 25, gop: 25, size: '640x360' });
});
after(() => tmp.cleanup());

/** Niceness of each thread of `pid` (field 19 of /proc/PID/task/TID/stat). */
function threadNiceness(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

for (const nice of [7, undefined]) {
  test(`decodeFrames with nice ${nice ?? 'unset'}: every thread of its ffmpeg (several decoder threads) at ${nice === undefined ? 'our own niceness' : `ours + ${nice}`}`, async () => {
    const ours = getPriority();
    let pid: number | undefined;
    let seen: number[] = [];
    let n = 0;
    for await (const _ of decodeFrames(clip, {
      streamId: 's',
      runId: 'r',
      sampling: { mode: 'every' },
      geometry,
      decodeThreads: 3,
      realtime: true,
      ...(nice !== undefined ? { nice } : {}),
      onSpawn: (p) => (pid = p),
    })) {
      // Mid-stream: decoder, filter and muxer threads are all up.
      if (++n === 10) seen = threadNiceness(pid!);
      if (n === 12) break;
    }
    assert.ok(seen.length >= 3, `ffmpeg ran ${seen.length} threads`);
    assert.deepEqual(new Set(seen), new Set([Math.min(19, ours + (nice ?? 0))]));
  });
}

test("serve --decode-nice 5: the live source's ffmpeg runs 5 nicer than the server; the server itself is not reniced", async () => {
  const model = join(tmp.dir, 'tiny.onnx');
  writeTinyModel(model);
  const port = await freePort();
  let stderr = '';
  const server = spawn(
    process.execPath,
    [CLI, 'serve', '--model', model, '--port', String(port), '--source', `cam=${clip}`, '--live', '--loop', '--decode-nice', '5', '--log-level', 'warn'],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  server.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  try {
    // The camera's ffmpeg: the one that plays the file at its rate (a short-lived ffmpeg may come and go first).
    const niceness = await waitFor(
      "the camera's ffmpeg",
      () => {
        for (const pid of ffmpegChildrenOf(server.pid!)) {
          if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('-re')) return threadNiceness(pid);
        }
        return undefined;
      },
      { timeoutMs: 60_000, retryErrors: true, detail: () => stderr },
    );
    assert.deepEqual(new Set(niceness), new Set([Math.min(19, getPriority() + 5)]));
    assert.deepEqual(new Set(threadNiceness(server.pid!)), new Set([getPriority()]));
  } finally {
    const exited = once(server, 'exit');
    server.kill('SIGTERM');
    await exited;
  }
});

test('serve --decode-nice 20 is refused with one line', async () => {
  const r = spawn(process.execPath, [CLI, 'serve', '--decode-nice', '20'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  r.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const [code] = (await once(r, 'exit')) as [number];
  assert.notEqual(code, 0);
  assert.match(err, /--decode-nice must be an integer from 0 to 19, got "20"/);
});
