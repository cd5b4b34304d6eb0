/**
 * ffmpeg's geometry (resize shorter side to 256 bilinear, centre crop 224)
 * against an independent implementation of the reference transform
 * (torchvision Resize(256) + CenterCrop(224) on a PIL image; see
 * reference-transform.ts), on the same decoded RGB pixels.
 *
 * Both sides start from the same full-resolution RGB frame: the reference
 * decodes it with ffmpeg using the accurate YUV->RGB conversion the pipeline
 * also uses (chroma interpolated, exact rounding), so what is compared is
 * the geometry alone.
 *
 * Tolerance, in 0..255 units over all 224x224x3 values:
 *   mean |diff| <= 0.5, 99th percentile <= 4, max <= 12.
 * Measured with ffmpeg 5.1 (Debian): 320x240, 240x320, 200x150: mean 0.14-0.15,
 * p99 1, max 1 (upscale: plain bilinear); 1920x1080: 0.19 / 1 / 4;
 * 1280x720: 0.31 / 3 / 8; 640x640: 0.40 / 4 / 8. No bias (signed mean
 * ~ -0.01). The residue sits on testsrc2's sharp edges and comes from
 * swscale's fixed-point filter, not from PIL's 8-bit rounding between its
 * two passes (a float reference changes it by < 0.03). In normalised model
 * input units (std 0.225 * 255) a mean of 0.4 is 0.007.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrames } from '../../../src/ingest/file-decoder.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { decodeFullResolution, diffStats, makeSourceFrame } from '../../helpers/reference-frames.ts';
import { centerCrop, centerCropOffset, cropAt, pilBilinearResize, referenceTransform, resizedSize } from '../../helpers/reference-transform.ts';

const TOLERANCE = { mean: 0.5, p99: 4, max: 12 };
const geometry = { resize: { shorter: 256 }, cropWidth: 224, cropHeight: 224 };

const { dir, cleanup } = makeTempDir();
after(cleanup);

async function pipelineFrame(path: string): Promise<Buffer> {
  for await (const frame of decodeFrames(path, { streamId: 's', runId: 'r', sampling: { mode: 'every' }, geometry })) {
    return frame.data;
  }
  throw new Error('no frame decoded');
}

const sizes: [number, number][] = [
  [320, 240],
  [240, 320], // portrait: the crop offset is vertical
  [1280, 720],
  [640, 640], // square
  [200, 150], // upscale
  [1920, 1080],
];

for (const [width, height] of sizes) {
  test(`${width}x${height}: ffmpeg resize+crop matches the PIL/torchvision reference within tolerance`, async (t) => {
    const path = makeSourceFrame(dir, width, height);
    const full = decodeFullResolution(path, width, height);
    const reference = referenceTransform(full, 256, 224, 224);
    const stats = diffStats(await pipelineFrame(path), reference.data);
    const line = `mean=${stats.mean.toFixed(3)} p99=${stats.p99} max=${stats.max}`;
    t.diagnostic(`${width}x${height} ${line}`);
    assert.ok(stats.mean <= TOLERANCE.mean, line);
    assert.ok(stats.p99 <= TOLERANCE.p99, line);
    assert.ok(stats.max <= TOLERANCE.max, line);
  });
}

test('the comparison has teeth: a crop one pixel off is far outside the tolerance', async (t) => {
  const path = makeSourceFrame(dir, 1280, 720);
  const full = decodeFullResolution(path, 1280, 720);
  const size = resizedSize(1280, 720, 256);
  const resized = pilBilinearResize(full, size.width, size.height);
  // The reference crop moved right by one pixel.
  const shifted = cropAt(resized, centerCropOffset(resized.width, 224) + 1, centerCropOffset(resized.height, 224), 224, 224);
  const good = diffStats(await pipelineFrame(path), centerCrop(resized, 224, 224).data);
  const bad = diffStats(await pipelineFrame(path), shifted.data);
  assert.ok(good.mean <= TOLERANCE.mean);
  assert.ok(bad.mean > TOLERANCE.mean * 4, `one-pixel shift: mean=${bad.mean.toFixed(3)}`);
  t.diagnostic(`aligned mean=${good.mean.toFixed(3)}, shifted by one pixel mean=${bad.mean.toFixed(3)}`);
});
