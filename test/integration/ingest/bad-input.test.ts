import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { Frame, FrameGeometry, Sampling } from '../../../src/contracts/frame.ts';
import { decodeFrames, type DecodeOptions } from '../../../src/ingest/file-decoder.ts';
import { killAllFfmpeg, spawnFfmpeg } from '../../../src/ingest/ffmpeg-process.ts';
import { probeInput } from '../../../src/ingest/probe.ts';
import { StreamSightError } from '../../../src/shared/errors.ts';
import { ffmpeg, makeClip } from '../../helpers/clips.ts';
import { childFfmpegPids, zombieChildren } from '../../helpers/processes.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { waitFor } from '../../helpers/wait.ts';
import { listenOnFreePort } from '../../helpers/ports.ts';

const geometry: FrameGeometry = { resize: { shorter: 256 }, cropWidth: 224, cropHeight: 224 };
const every: Sampling = { mode: 'every' };

interface Outcome {
  frames: Frame[];
  error: unknown;
}

async function decode(input: string, extra: Partial<DecodeOptions> = {}): Promise<Outcome> {
  const frames: Frame[] = [];
  try {
    for await (const f of decodeFrames(input, { streamId: 's', runId: 'r', sampling: every, geometry, ...extra })) frames.push(f);
    return { frames, error: null };
  } catch (error) {
    return { frames, error };
  }
}

function assertCode(error: unknown, code: string): StreamSightError {
  assert.ok(error instanceof StreamSightError, `expected a StreamSightError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  assert.doesNotMatch(error.message, /\n/, 'one-line message');
  return error;
}

const { dir, cleanup } = makeTempDir();
let good = '';
let goodPts: number[] = [];
let server: Server;
let baseUrl = '';

before(async () => {
  // 4 s, 30 fps, moov atom at the front so a truncated copy still opens.
  good = makeClip(join(dir, 'good.mp4'), { seconds: 4, rate: 30, gop: 30, preset: 'veryfast', extra: ['-movflags', '+faststart'] });
  goodPts = (await decode(good)).frames.map((f) => f.ptsMs);
  assert.equal(goodPts.length, 120);
  server = createServer((req, res) => {
    if (req.url === '/good.mp4') {
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': statSync(good).size });
      createReadStream(good).pipe(res);
    } else {
      res.writeHead(404).end('not found');
    }
  });
  baseUrl = `http://127.0.0.1:${await listenOnFreePort(server)}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  cleanup();
});

test('a missing file is InputNotFoundError, without starting ffmpeg', async () => {
  const { frames, error } = await decode(join(dir, 'nope.mp4'));
  assertCode(error, 'E_INPUT_NOT_FOUND');
  assert.equal(frames.length, 0);
  await assert.rejects(probeInput(join(dir, 'nope.mp4')), { code: 'E_INPUT_NOT_FOUND' });
});

test('a text file is NotAVideoError (ffmpeg would render a .txt as ANSI art)', async () => {
  const path = join(dir, 'notes.txt');
  writeFileSync(path, 'this is not a video\n'.repeat(50));
  const { frames, error } = await decode(path);
  assertCode(error, 'E_NOT_A_VIDEO');
  assert.equal(frames.length, 0);
  await assert.rejects(probeInput(path), { code: 'E_NOT_A_VIDEO' });
  assert.deepEqual(childFfmpegPids(), []);
});

test('a short file of random bytes is NotAVideoError with ffmpeg reason', async () => {
  const path = join(dir, 'random.mp4');
  writeFileSync(path, Buffer.from('hello, not a movie\n'));
  const { error } = await decode(path);
  const err = assertCode(error, 'E_NOT_A_VIDEO');
  assert.match(err.message, /moov atom not found|Invalid data found/); // the demuxer's own reason, not only its wrap-up
});

test('an audio-only file is NotAVideoError', async () => {
  const path = join(dir, 'tone.wav');
  ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', path]);
  assertCode((await decode(path)).error, 'E_NOT_A_VIDEO');
  await assert.rejects(probeInput(path), { code: 'E_NOT_A_VIDEO' });
});

test('a truncated mp4 yields the frames before the cut, then DecodeError', async () => {
  const path = join(dir, 'truncated.mp4');
  const bytes = readFileSync(good);
  writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  const { frames, error } = await decode(path);
  const err = assertCode(error, 'E_DECODE');
  assert.ok(frames.length > 30 && frames.length < 120, `${frames.length} frames before the cut`);
  assert.deepEqual(
    frames.map((f) => f.ptsMs),
    goodPts.slice(0, frames.length),
    'the same frames as the intact file',
  );
  assert.match(err.message, new RegExp(`after ${frames.length} frames`));
  assert.match(err.message, /partial file|truncat|Invalid/i, 'carries ffmpeg reason');
});

test('garbage in the middle of an MPEG-TS: frames before and after the damage come out; stats count the errors', async () => {
  const ts = join(dir, 'clip.ts');
  makeClip(ts, { seconds: 4, rate: 30, gop: 30, preset: 'veryfast' });
  const intact = (await decode(ts)).frames.map((f) => f.ptsMs);
  const bytes = Buffer.from(readFileSync(ts));
  const start = Math.floor(bytes.length * 0.45);
  for (let i = start; i < start + 20_000; i++) bytes[i] = (i * 7919) & 0xff;
  const damaged = join(dir, 'damaged.ts');
  writeFileSync(damaged, bytes);

  const decodeRun = decodeFrames(damaged, { streamId: 's', runId: 'r', sampling: every, geometry });
  const pts: number[] = [];
  for await (const f of decodeRun) pts.push(f.ptsMs);
  // ffmpeg conceals and carries on (exit 0): not an error, but visible in stats.
  assert.equal(decodeRun.stats.exitCode, 0);
  assert.ok(decodeRun.stats.errorLines > 0, 'decode errors counted');
  assert.ok(decodeRun.stats.firstErrors.length > 0);
  assert.ok(pts.length < intact.length && pts.length > intact.length / 2, `${pts.length} of ${intact.length} frames`);
  const firstLost = intact.findIndex((p, i) => pts[i] !== p);
  assert.ok(firstLost > 30, `every frame before the damage was yielded (first difference at ${firstLost})`);
  assert.equal(pts.at(-1), intact.at(-1), 'decoding resumed after the damage');
});

test('an unreachable URL is SourceUnreachableError (retryable)', async () => {
  const { frames, error } = await decode('http://127.0.0.1:9/clip.mp4');
  const err = assertCode(error, 'E_SOURCE_UNREACHABLE');
  assert.equal(err.retryable, true);
  assert.match(err.message, /Connection refused/);
  assert.equal(frames.length, 0);
  await assert.rejects(probeInput('http://127.0.0.1:9/clip.mp4'), { code: 'E_SOURCE_UNREACHABLE' });
});

test('an HTTP 404 is SourceUnreachableError; a served clip decodes over HTTP', async () => {
  assertCode((await decode(`${baseUrl}/missing.mp4`)).error, 'E_SOURCE_UNREACHABLE');
  const { frames, error } = await decode(`${baseUrl}/good.mp4`, { sampling: { mode: 'fps', fps: 1 } });
  assert.equal(error, null);
  assert.deepEqual(
    frames.map((f) => f.ptsMs),
    [0, 1000, 2000, 3000],
  );
});

test('a missing ffmpeg binary is FfmpegMissingError', async () => {
  const { error } = await decode(good, { ffmpegPath: join(dir, 'no-such-ffmpeg') });
  assertCode(error, 'E_FFMPEG_MISSING');
});

test('aborting mid-stream stops ffmpeg and throws the abort reason; no child is left', async () => {
  const controller = new AbortController();
  const frames: Frame[] = [];
  await assert.rejects(
    (async () => {
      for await (const f of decodeFrames(good, { streamId: 's', runId: 'r', sampling: every, geometry, signal: controller.signal })) {
        frames.push(f);
        if (frames.length === 3) controller.abort();
      }
    })(),
    { name: 'AbortError' },
  );
  assert.equal(frames.length, 3);
  assert.deepEqual(childFfmpegPids(), [], 'no ffmpeg child running');
  assert.deepEqual(zombieChildren(), [], 'no zombie');
});

test('an already aborted signal starts nothing', async () => {
  const { error, frames } = await decode(good, { signal: AbortSignal.abort() });
  assert.equal((error as Error).name, 'AbortError');
  assert.equal(frames.length, 0);
});

test('breaking out of the loop stops ffmpeg', async () => {
  for await (const _f of decodeFrames(good, { streamId: 's', runId: 'r', sampling: every, geometry })) break;
  assert.deepEqual(childFfmpegPids(), []);
  assert.deepEqual(zombieChildren(), []);
});

test('killAllFfmpeg kills live children (for signal handlers); the decode then fails with DecodeError', async () => {
  const frames: Frame[] = [];
  const outcome = (async () => {
    // -re: reads at 30 fps, so it is still running when killed.
    for await (const f of decodeFrames(good, { streamId: 's', runId: 'r', sampling: every, geometry, realtime: true })) frames.push(f);
  })();
  await waitFor('frames flowing', () => frames.length >= 2, { timeoutMs: 5000, intervalMs: 20 });
  assert.ok(killAllFfmpeg() >= 1);
  await assert.rejects(outcome, { code: 'E_DECODE' });
  await waitFor('ffmpeg children gone', () => childFfmpegPids().length === 0, { timeoutMs: 3000, intervalMs: 20 });
});

test('stop() is idempotent and reaps the child', async () => {
  const handle = spawnFfmpeg(['-f', 'lavfi', '-i', 'testsrc2=rate=30', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
  let bytes = 0;
  handle.stdout.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  await waitFor('ffmpeg producing', () => bytes > 0, { timeoutMs: 5000, intervalMs: 20 });
  const [a, b] = await Promise.all([handle.stop(500), handle.stop(500)]);
  assert.deepEqual(a, b);
  assert.deepEqual(await handle.stop(), a, 'after exit too');
  assert.deepEqual(childFfmpegPids(), []);
  assert.deepEqual(zombieChildren(), []);
  assert.ok(handle.stderrTail().length > 0, 'stderr kept');
});

test('ffmpeg children die with the process that started them (exit hook)', async () => {
  // A child Node process starts a real-time decode, reports ffmpeg's pid, then exits.
  // A 30 s clip read in real time, one frame per 20 s: after the first frame
  // ffmpeg writes nothing for a while, so a broken pipe would not end it;
  // only the exit hook does.
  const slow = makeClip(join(dir, 'slow.mp4'), { size: '160x120', rate: 10, seconds: 30, gop: 50, preset: 'veryfast' });
  const script = `
    import { decodeFrames } from ${JSON.stringify(new URL('../../../src/ingest/file-decoder.ts', import.meta.url).href)};
    import { readdirSync, readFileSync } from 'node:fs';
    for await (const _f of decodeFrames(${JSON.stringify(slow)}, { streamId: 's', runId: 'r', sampling: { mode: 'fps', fps: 0.05 },
        geometry: { resize: { shorter: 256 }, cropWidth: 224, cropHeight: 224 }, realtime: true })) {
      const kids = readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).filter((p) => {
        try { return readFileSync('/proc/' + p + '/stat', 'utf8').split(') ')[1].split(' ')[1] === String(process.pid); }
        catch { return false; }
      });
      console.log(kids.join(','));
      process.exit(0);
    }`;
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 20_000 }).toString().trim();
  const pids = out.split(',').filter(Boolean).map(Number);
  assert.equal(pids.length, 1, `one ffmpeg child while decoding (${out})`);
  const gone = (pid: number): boolean => {
    try {
      // Re-parented to init; a zombie waiting for init to reap it is dead too.
      return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
    } catch {
      return true;
    }
  };
  const killed = await waitFor('ffmpeg gone', () => pids.every(gone), { timeoutMs: 3000, intervalMs: 20 }).catch(() => false);
  for (const pid of pids) if (!gone(pid)) process.kill(pid, 'SIGKILL'); // don't leak it if the test fails
  assert.ok(killed, 'ffmpeg was killed when its parent exited');
});
