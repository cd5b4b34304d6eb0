/**
 * The change gate's arithmetic on pictures made here (real footage:
 * test/integration/pipeline/change-gate-footage.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeGate, FrameGate, changedFraction, lumaThumbnail } from '../../../src/pipeline/change-gate.ts';
import { mulberry32 } from '../../../src/shared/mulberry32.ts';

const W = 224;
const H = 224;

/** A grey picture with optional per-pixel noise (+-amp) and a black square (x, y, size). */
function picture(opts: { grey?: number; noise?: number; seed?: number; square?: [number, number, number] } = {}): {
  width: number;
  height: number;
  data: Uint8Array;
} {
  const data = new Uint8Array(W * H * 3);
  const rnd = mulberry32(opts.seed ?? 1);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const sq = opts.square;
      const inSquare = sq !== undefined && x >= sq[0] && x < sq[0] + sq[2] && y >= sq[1] && y < sq[1] + sq[2];
      for (let c = 0; c < 3; c++) {
        const base = inSquare ? 0 : (opts.grey ?? 128) + 20 * c;
        const n = opts.noise ? Math.round((rnd() * 2 - 1) * opts.noise) : 0;
        data[(y * W + x) * 3 + c] = Math.max(0, Math.min(255, base + n));
      }
    }
  }
  return { width: W, height: H, data };
}

test('the thumbnail is 32x32 block means of BT.601 luma; a smaller picture gets one block per pixel', () => {
  const t = lumaThumbnail(picture({ grey: 100 }));
  assert.equal(t.cols, 32);
  assert.equal(t.rows, 32);
  // (77*100 + 150*120 + 29*140) / 256
  assert.ok(Math.abs(t.means[0]! - (77 * 100 + 150 * 120 + 29 * 140) / 256) < 1e-3);
  const small = lumaThumbnail({ width: 4, height: 2, data: new Uint8Array(4 * 2 * 3).fill(255) });
  assert.deepEqual([small.cols, small.rows], [4, 2]);
  assert.ok(Math.abs(small.means[0]! - 255) < 1e-3);
  assert.throws(() => lumaThumbnail({ width: 4, height: 4, data: new Uint8Array(10) }), RangeError);
});

test('per-pixel noise of +-30 levels moves no block past the noise floor; a black square of 10% of the picture moves about 10% of the blocks', () => {
  const a = lumaThumbnail(picture({ noise: 30, seed: 1 })).means;
  const b = lumaThumbnail(picture({ noise: 30, seed: 2 })).means;
  assert.equal(changedFraction(a, b), 0);
  const moved = lumaThumbnail(picture({ noise: 30, seed: 3, square: [50, 50, 71] })).means;
  const f = changedFraction(a, moved);
  assert.ok(f > 0.08 && f < 0.13, `fraction ${f}`);
});

test('the gate infers the first frame, skips unchanged ones, infers a change (which becomes the reference) and infers after maxSkipMs', () => {
  const gate = new ChangeGate({ threshold: 0.01, maxSkipMs: 1000 });
  const still = picture({ noise: 10 });
  assert.deepEqual(gate.decide(still, 0), { infer: true, reason: 'first', score: 1 });
  assert.equal(gate.decide(picture({ noise: 10, seed: 9 }), 200).reason, 'unchanged');
  const person = picture({ noise: 10, square: [100, 20, 40] });
  const d = gate.decide(person, 400);
  assert.equal(d.reason, 'changed');
  assert.ok(d.score >= 0.01);
  // The reference is now the frame with the square: the same scene again is unchanged.
  assert.equal(gate.decide(picture({ noise: 10, seed: 4, square: [100, 20, 40] }), 600).infer, false);
  assert.equal(gate.decide(picture({ noise: 10, seed: 5, square: [100, 20, 40] }), 1399).infer, false);
  assert.equal(gate.decide(picture({ noise: 10, seed: 6, square: [100, 20, 40] }), 1400).reason, 'max_skip');
  gate.reset();
  assert.equal(gate.decide(person, 1500).reason, 'reset');
});

test('a change under the threshold is skipped; the same change over it is inferred', () => {
  // A 16x16 square: 4-9 blocks of 1024 (0.4-0.9%).
  const ref = picture();
  const small = picture({ square: [100, 100, 16] });
  assert.equal(new ChangeGate({ threshold: 0.01, maxSkipMs: 60_000 }).decide(ref, 0).infer, true);
  const loose = new ChangeGate({ threshold: 0.01, maxSkipMs: 60_000 });
  loose.decide(ref, 0);
  assert.equal(loose.decide(small, 1).infer, false);
  const strict = new ChangeGate({ threshold: 0.003, maxSkipMs: 60_000 });
  strict.decide(ref, 0);
  assert.equal(strict.decide(small, 1).infer, true);
});

test('FrameGate names the reference seq of a reused frame, and infers the first frame of every run', () => {
  const gate = new FrameGate({ threshold: 0.01, maxSkipMs: 60_000 });
  const f = (runId: string, seq: number) => ({ ...picture(), runId, seq });
  assert.equal(gate.check(f('a', 0), 0), undefined);
  assert.equal(gate.check(f('a', 1), 1), 0);
  assert.equal(gate.check(f('a', 2), 2), 0);
  assert.equal(gate.check(f('b', 0), 3), undefined);
  assert.equal(gate.check(f('b', 1), 4), 0);
});

test('bad settings are RangeErrors naming the setting', () => {
  assert.throws(() => new ChangeGate({ threshold: 2, maxSkipMs: 1 }), /threshold/);
  assert.throws(() => new ChangeGate({ threshold: 0.1, maxSkipMs: -1 }), /maxSkipMs/);
  assert.throws(() => new ChangeGate({ threshold: 0.1, maxSkipMs: 1, grid: 0 }), /grid/);
});

test('spread: each forced inference comes within [(1 - spread) x maxSkipMs, maxSkipMs] after the last one, so streams started together drift apart', () => {
  const still = { width: 32, height: 32, data: new Uint8Array(32 * 32 * 3).fill(90) };
  const forcedAfter = (r: number): number => {
    const gate = new ChangeGate({ threshold: 0.01, maxSkipMs: 1000, spread: 0.25, random: () => r });
    gate.decide(still, 0);
    for (let t = 10; t <= 2000; t += 10) if (gate.decide(still, t).reason === 'max_skip') return t;
    return NaN;
  };
  assert.equal(forcedAfter(0), 1000);
  assert.equal(forcedAfter(0.999), 760); // 1000 x (1 - 0.25 x 0.999) = 750.25, the first 10 ms step past it
  assert.equal(forcedAfter(0.5), 880);
  // Without spread (analyze): exactly maxSkipMs, whatever the draw.
  const exact = new ChangeGate({ threshold: 0.01, maxSkipMs: 1000, random: () => 0.9 });
  exact.decide(still, 0);
  assert.equal(exact.decide(still, 990).infer, false);
  assert.equal(exact.decide(still, 1000).reason, 'max_skip');
  assert.throws(() => new ChangeGate({ threshold: 0.01, maxSkipMs: 1000, spread: 2 }), /spread/);
});
