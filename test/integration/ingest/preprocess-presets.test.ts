/**
 * Each library's evaluation transform, as StreamSight settles it (a preset,
 * Ultralytics or Hugging Face metadata) and ffmpeg applies it, against an
 * independent implementation written here from that library's documented
 * eval transform (constants typed in from the library, not from src/), on
 * frames of several sizes. Geometry only: the values (mean/std) are in the
 * graph and checked by test/integration/inference/input-prefix.test.ts.
 *
 *   torchvision IMAGENET1K_V1  Resize(256, BILINEAR) + CenterCrop(224)
 *   torchvision IMAGENET1K_V2  Resize(232, BILINEAR) + CenterCrop(224)      (ResNet-50 V2 weights)
 *   timm default               Resize(floor(224 / 0.875) = 256, BICUBIC) + CenterCrop(224)
 *   Ultralytics classify       classify_transforms(224): Resize(floor(224 / 1.0), BILINEAR) + CenterCrop(224)
 *   Hugging Face ViT           resize to (224, 224), BILINEAR (resample 2), no crop
 *
 * Tolerances, 0..255 units over the whole crop: mean and p99 as in preprocess-reference.test.ts
 * (mean <= 0.5, p99 <= 4); the largest single difference sits on testsrc2's hard edges and came
 * to 15 (bilinear, 1280x720 -> 224x224) and 11 (bicubic) here, so max <= 20; bicubic goes through
 * the same bounds. A one-pixel crop shift or the wrong preset's resize is several times
 * the mean bound (last test).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { frameGeometry } from '../../../src/contracts/preprocess.ts';
import { decodeFrames } from '../../../src/ingest/file-decoder.ts';
import { preprocessFromHf } from '../../../src/inference/labels.ts';
import { resolvePreprocess, type PreprocessLayer } from '../../../src/inference/preprocess-resolve.ts';
import { presetLayer } from '../../../src/inference/preprocess-presets.ts';
import { ultralyticsLayer } from '../../../src/inference/preprocess-sources.ts';
import { makeTempDir } from '../../helpers/temp-dir.ts';
import { decodeFullResolution, diffStats, makeSourceFrame } from '../../helpers/reference-frames.ts';
import { centerCrop, pilResize, resizedSize, type PilFilter, type RgbImage } from '../../helpers/reference-transform.ts';

const { dir, cleanup } = makeTempDir();
after(cleanup);

interface Case {
  name: string;
  /** How StreamSight is told. */
  layer: PreprocessLayer;
  /** The library's transform, written from its documentation. */
  reference: (img: RgbImage) => RgbImage;
  tolerance: { mean: number; p99: number; max: number };
}

const BILINEAR_TOLERANCE = { mean: 0.5, p99: 4, max: 20 };
const BICUBIC_TOLERANCE = BILINEAR_TOLERANCE;

function resizeShorterThenCrop(shorter: number, crop: number, filter: PilFilter) {
  return (img: RgbImage): RgbImage => {
    const size = resizedSize(img.width, img.height, shorter);
    return centerCrop(pilResize(img, size.width, size.height, filter), crop, crop);
  };
}

const crop224 = { width: 224, height: 224 };
const cases: Case[] = [
  { name: 'torchvision V1', layer: presetLayer('torchvision', crop224), reference: resizeShorterThenCrop(256, 224, 'bilinear'), tolerance: BILINEAR_TOLERANCE },
  {
    name: 'torchvision V2',
    layer: presetLayer('torchvision-v2', crop224),
    reference: resizeShorterThenCrop(232, 224, 'bilinear'),
    tolerance: BILINEAR_TOLERANCE,
  },
  { name: 'timm', layer: presetLayer('timm', crop224), reference: resizeShorterThenCrop(256, 224, 'bicubic'), tolerance: BICUBIC_TOLERANCE },
  {
    name: 'Ultralytics metadata',
    layer: ultralyticsLayer({ author: 'Ultralytics', task: 'classify', imgsz: '[224, 224]', names: "{0: 'a'}" })!,
    reference: resizeShorterThenCrop(224, 224, 'bilinear'),
    tolerance: BILINEAR_TOLERANCE,
  },
  {
    name: 'Hugging Face ViT',
    layer: preprocessFromHf({ image_processor_type: 'ViTImageProcessor', size: { height: 224, width: 224 }, resample: 2 }),
    reference: (img) => pilResize(img, 224, 224, 'bilinear'),
    tolerance: BILINEAR_TOLERANCE,
  },
  {
    name: 'Hugging Face ConvNeXt (bicubic)',
    layer: preprocessFromHf({ image_processor_type: 'ConvNextImageProcessor', size: { shortest_edge: 224 }, crop_pct: 0.875, resample: 3 }),
    reference: resizeShorterThenCrop(256, 224, 'bicubic'),
    tolerance: BICUBIC_TOLERANCE,
  },
];

const sizes: Array<[number, number]> = [
  [640, 360],
  [300, 400],
  [1280, 720],
];

for (const c of cases) {
  test(`${c.name}: ffmpeg's frames match the library's eval transform on ${sizes.map(([w, h]) => `${w}x${h}`).join(', ')}`, async (t) => {
    const spec = resolvePreprocess([c.layer], { layout: 'NCHW', width: 224, height: 224 });
    for (const [width, height] of sizes) {
      const path = makeSourceFrame(dir, width, height);
      const reference = c.reference(decodeFullResolution(path, width, height));
      let frame: Buffer | undefined;
      for await (const f of decodeFrames(path, { streamId: 's', runId: 'r', sampling: { mode: 'every' }, geometry: frameGeometry(spec) })) frame ??= f.data;
      assert.ok(frame, 'no frame decoded');
      const stats = diffStats(frame, reference.data);
      const line = `${width}x${height}: mean=${stats.mean.toFixed(3)} p99=${stats.p99} max=${stats.max}`;
      t.diagnostic(line);
      assert.ok(stats.mean <= c.tolerance.mean && stats.p99 <= c.tolerance.p99 && stats.max <= c.tolerance.max, line);
    }
  });
}

test('the comparison tells the presets apart: V1 frames against the V2 reference are far off', async () => {
  const path = makeSourceFrame(dir, 640, 360);
  const full = decodeFullResolution(path, 640, 360);
  const v1 = resolvePreprocess([presetLayer('torchvision', crop224)], { layout: 'NCHW', width: 224, height: 224 });
  let frame: Buffer | undefined;
  for await (const f of decodeFrames(path, { streamId: 's', runId: 'r', sampling: { mode: 'every' }, geometry: frameGeometry(v1) })) frame ??= f.data;
  const wrong = diffStats(frame!, resizeShorterThenCrop(232, 224, 'bilinear')(full).data);
  assert.ok(wrong.mean > BILINEAR_TOLERANCE.mean * 4, `V1 vs V2 reference: mean=${wrong.mean.toFixed(3)}`);
});
