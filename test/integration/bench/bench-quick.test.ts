import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchReportSchema } from '../../../bench/report.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;

/** Every figure a full suite reports; the quick run must produce each one. */
const MEASUREMENTS = [
  'startup.node.ms',
  'startup.help.ms',
  'startup.analyzeHelp.ms',
  'startup.helpTsx.ms',
  'startup.analyzeFirstFrame.ms',
  'ceiling.raw.fps',
  'ceiling.raw.batchMs',
  'ceiling.engine.fps',
  'ceiling.engine.runMs',
  'inference.analyze.fps',
  'inference.analyze.wallFps',
  'inference.analyze.wallSeconds',
  'inference.ffmpeg.seconds',
  'inference.sharedCpuBound.fps',
  'decode.ffmpeg.fps1.seconds',
  'decode.analyze.fps1.wallSeconds',
  'decode.analyze.fps1.seconds',
  'decode.ffmpeg.keyframes.seconds',
  'decode.analyze.keyframes.wallSeconds',
  'decode.analyze.keyframes.seconds',
  'decode.lightCeiling.fps',
  'decode.sharedCpuBound.seconds',
  'memory.short.peakTotalMiB',
  'memory.short.nodeHwmMiB',
  'memory.short.childrenPeakMiB',
  'memory.long.peakTotalMiB',
  'memory.long.nodeHwmMiB',
  'memory.long.childrenPeakMiB',
  'memory.long.firstHalfPeakMiB',
  'memory.long.secondHalfPeakMiB',
  'ws.normal.messagesPerSecond',
  'ws.slow.messagesPerSecond',
  'ws.normal.delayP99Ms',
  'ws.slow.delayP99Ms',
  'live.batchMs',
  'live.streams1.p50Ms',
  'live.overload.p99Ms',
  'cameras.resnet18.batchMs',
  'cameras.decodeThreads.1.cores',
  'cameras.hwaccel.vaapi.firstFrameMs',
  'distributed.embedded.threads2.fps',
  'distributed.workers2x1.fps',
  'distributed.workers1x1.fps',
  'distributed.queue.batch1.redisCpuUsPerFrame',
  'distributed.queue.batch8.bytesPerFrame',
  'distributed.queue.batch32.framesPerSecondPerRedisCore',
  'index.analyze.fps',
  'index.index.fps',
  'index.search.5000.p50Ms',
  'index.search.5000.recallAt10',
  'index.search.5000.exactP50Ms',
  'quantize.resnet18.top1InTop5',
  'quantize.resnet18.embeddingCosineMedian',
  'quantize.resnet18.b1.fp32.fps',
  'quantize.resnet18.b1.int8.fps',
  'quantize.resnet18.b8.fp32.fps',
  'quantize.resnet18.b8.int8.fps',
  'quantize.resnet18.b8.int8zp0.fps',
  'quantize.e2e.ffmpeg.seconds',
  'quantize.e2e.fp32.analyze.fps',
  'quantize.e2e.int8.analyze.fps',
  'quantize.e2e.fp32.sharedCpuBound.fps',
  'quantize.e2e.int8.sharedCpuBound.fps',
];
const RATIOS = [
  'startup.help/node',
  'startup.analyzeHelp/node',
  'startup.helpTsx/node',
  'startup.analyzeFirstFrame/node',
  'ceiling.engine/raw',
  'inference.analyze/ceiling.raw',
  'inference.analyze.wall/ceiling.raw',
  'inference.analyze/ceiling.engine',
  'inference.sharedCpuBound/ceiling.raw',
  'inference.analyze/sharedCpuBound',
  'decode.analyze.wall/ffmpeg',
  'decode.analyze.pipeline/ffmpeg',
  'decode.analyze.keyframes/fps1',
  'decode.ffmpeg.keyframes/fps1',
  'decode.sharedCpuBound/ffmpeg',
  'decode.analyze.pipeline/sharedCpuBound',
  'memory.long/short.total',
  'memory.long/short.nodeHwm',
  'memory.long.secondHalf/firstHalf',
  'ws.slow/normal.messagesPerSecond',
  'ws.slow/normal.delayP99Ms',
  'live.overload.p99/batch',
  'distributed/embedded.threads2',
  'distributed.workers2/workers1',
  'index.index/analyze',
  'index.search.5000.ivf/exact.p50',
  'quantize.resnet18.b1.int8/fp32',
  'quantize.resnet18.b8.int8/fp32',
  'quantize.resnet18.b8.int8zp0/fp32',
  'quantize.e2e.fp32.analyze/ceiling',
  'quantize.e2e.int8.analyze/ceiling',
  'quantize.e2e.fp32.analyze/sharedCpuBound',
  'quantize.e2e.int8.analyze/sharedCpuBound',
  'quantize.e2e.analyze.int8/fp32',
];

test('npm run bench -- --quick measures every suite for real and ends stdout with one parseable JSON line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-bench-'));
  try {
    const jsonOut = join(dir, 'bench.json');
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--json-out', jsonOut], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    });
    assert.equal(res.status, 0, `bench exited ${res.status}: ${res.stderr.slice(-2000)}`);
    const lines = res.stdout.trimEnd().split('\n');
    const report = BenchReportSchema.parse(JSON.parse(lines[lines.length - 1]!));
    assert.deepEqual(report.errors, []);
    assert.equal(report.quick, true);
    assert.ok(lines.length > 1, 'a table comes before the JSON line');

    const byName = new Map(report.measurements.map((m) => [m.name, m]));
    for (const name of MEASUREMENTS) {
      const m = byName.get(name);
      assert.ok(m, `measurement ${name} is missing`);
      assert.ok(Number.isFinite(m.value) && m.value > 0, `${name} = ${m.value} is not a positive number`);
    }
    const ratios = new Map(report.ratios.map((r) => [r.name, r]));
    for (const name of RATIOS) {
      const r = ratios.get(name);
      assert.ok(r, `ratio ${name} is missing`);
      assert.ok(Number.isFinite(r.value) && r.value > 0, `${name} = ${r.value} is not a positive number`);
      assert.equal(r.value, byName.get(r.numerator)!.value / byName.get(r.denominator)!.value, `${name} is its numerator over its denominator`);
    }
    // The same report, written to --json-out.
    assert.deepEqual(BenchReportSchema.parse(JSON.parse(readFileSync(jsonOut, 'utf8'))), report);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('streamsight bench offers the suites bench/run.ts has, and runs one from any working folder', async () => {
  const { BENCH_SUITES } = await import('../../../src/cli/bench-command.ts');
  const { SUITE_NAMES } = await import('../../../bench/run.ts');
  assert.deepEqual([...BENCH_SUITES], [...SUITE_NAMES]);
  const res = spawnSync(process.execPath, [join(ROOT, 'bin', 'streamsight.js'), 'bench', '--help'], { cwd: tmpdir(), encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /startup/);
});
