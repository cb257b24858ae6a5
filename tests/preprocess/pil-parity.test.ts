import { describe, it, expect } from 'vitest';
import { decodeAndCrop, enlarges, imageToTensor } from '../../src/preprocess/image';
import { cropGeometry } from '../../src/preprocess/geometry';
import { getModel } from '../../src/models/registry';
import { MODEL_NAMES } from '../helpers/fixtures';
import type { ModelName } from '../../src/models/types';
import { IMAGE_SHAPES, type ImageShape, pilReference, pixelDifference, referenceCrop, referencePatch, testImage, testImageSize } from './pil-references';

// End to end against torchvision/PIL (tests/fixtures/preprocess/make_references.py): each model's
// own preprocessing config, on images with structure and a frame the timm crops must remove, that
// are reduced (landscape, square; portrait for IR-v1) and enlarged (small; portrait for the timm
// models, whose resize targets 341 and 333 exceed its short side of 300).
//
// Enlargements run Pillow's algorithm (src/preprocess/resample.ts): identical bytes. Reductions
// run libvips (off the event loop), measured 0.053-0.090 levels from PIL on average, max 20-26
// (bicubic, on the 2-pixel stripes and hard edges) and 1 (bilinear). A wrong crop fraction or no
// crop margin fails the crop-window check; the other kernel is 0.91-1.62 levels apart on average
// on reductions (max 21-45) and 1.26-2.99 on enlargements, far outside the tolerances below.
const ENLARGED: Record<ModelName, readonly ImageShape[]> = {
  inception_v4: ['portrait', 'small'],
  inception_resnet_v2: ['portrait', 'small'],
  inception_resnet_v1: ['small'],
};

/** Mean |ours - PIL| allowed on reductions: the target, a third of an 8-bit level. */
const REDUCTION_MEAN = 1 / 3;
/**
 * Largest single difference allowed on reductions, per kernel. bicubic: measured 26 (landscape,
 * inception_v4), where libvips' cubic and Pillow's antialiased bicubic weigh the 2-pixel stripes
 * differently; 32 leaves room for another CPU's SIMD path of libvips, yet stays below the 36-38
 * that bilinear reaches there. bilinear: measured 1 (rounding), 2 allows one more level.
 */
const REDUCTION_MAX = { bicubic: 32, bilinear: 2 } as const;

describe.each(MODEL_NAMES)('%s preprocessing matches torchvision/PIL', (model) => {
  const preprocessing = getModel(model).preprocessing;
  const size = preprocessing.inputSize;

  it.each(IMAGE_SHAPES)('%s image: the same crop window; identical bytes when enlarged, close when reduced', async (shape) => {
    const reference = pilReference(model, shape);
    const image = testImage(shape);
    const { width, height } = testImageSize(shape);
    // Integer geometry: exact.
    const geometry = cropGeometry(width, height, size, size, preprocessing.cropPct);
    expect(geometry).toEqual({
      resizeWidth: reference.resizeWidth,
      resizeHeight: reference.resizeHeight,
      left: reference.left,
      top: reference.top,
      width: reference.width,
      height: reference.height,
    });
    const enlarged = enlarges(width, height, geometry);
    expect(enlarged, 'which resizer runs (enlargements: Pillow-exact; reductions: libvips)').toBe(ENLARGED[model].includes(shape));
    const ours = await decodeAndCrop(image, { height: size, width: size, preprocessing });
    const difference = pixelDifference(ours, await referenceCrop(reference));
    const message = `mean |ours - PIL| ${difference.mean.toFixed(3)} levels, max ${difference.max}`;
    if (enlarged) {
      // Tolerance 0: PNG decodes exactly and the resampler does Pillow's integer arithmetic with
      // the same float64 weights, so every byte matches.
      expect(difference, message).toEqual({ mean: 0, max: 0, differing: 0 });
    } else {
      expect(difference.mean, message).toBeLessThanOrEqual(REDUCTION_MEAN);
      expect(difference.max, message).toBeLessThanOrEqual(REDUCTION_MAX[preprocessing.interpolation]);
    }
  });

  it('normalises like ToTensor + Normalize (top-left 16x16 of the small image tensor)', async () => {
    // The small image is enlarged for every model, so its bytes equal PIL's and this compares the
    // normalisation alone.
    const reference = pilReference(model, 'small');
    const tensor = await imageToTensor(testImage('small'), { height: size, width: size, preprocessing });
    const patch = referencePatch(reference);
    // torchvision computes (v/255 - mean)/std in float32 (three roundings), we in float64 rounded
    // once: they differ by at most a few float32 ulps of values in [-1, 1], far below 1e-6.
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 16; y++) {
        for (let x = 0; x < 16; x++) {
          const ours = tensor[c * size * size + y * size + x];
          expect(Math.abs(ours - patch[c * 256 + y * 16 + x])).toBeLessThan(1e-6);
        }
      }
    }
  });
});
