import { describe, it, expect } from 'vitest';
import { decodeAndCrop, imageToTensor } from '../../src/preprocess/image';
import { cropGeometry } from '../../src/preprocess/geometry';
import { getModel } from '../../src/models/registry';
import { MODEL_NAMES } from '../helpers/fixtures';
import { IMAGE_SHAPES, pilReference, pixelDifference, referenceCrop, referencePatch, testImage, testImageSize } from './pil-references';

// End to end against torchvision/PIL (tests/fixtures/preprocess/make_references.py): each model's
// own preprocessing config, on images with structure and a frame the timm crops must remove, that
// are reduced (landscape, square; portrait for IR-v1) and enlarged (small; portrait for the timm
// models). A wrong crop fraction, a missing crop margin or the other kernel moves edges by many
// levels; a half-pixel shift of the sampling grid does too (before the Pillow resampler: means of
// 4.5 to 7.3 levels on the enlarged images).
describe.each(MODEL_NAMES)('%s preprocessing matches torchvision/PIL', (model) => {
  const preprocessing = getModel(model).preprocessing;
  const size = preprocessing.inputSize;

  it.each(IMAGE_SHAPES)('%s image: the same crop window and the same bytes', async (shape) => {
    const reference = pilReference(model, shape);
    const image = testImage(shape);
    const { width, height } = testImageSize(shape);
    // Integer geometry: exact.
    expect(cropGeometry(width, height, size, size, preprocessing.cropPct)).toEqual({
      resizeWidth: reference.resizeWidth,
      resizeHeight: reference.resizeHeight,
      left: reference.left,
      top: reference.top,
      width: reference.width,
      height: reference.height,
    });
    // Tolerance 0: PNG decodes exactly and the resampler does Pillow's integer arithmetic with
    // the same float64 weights, so every byte matches (the bar is a mean of 1/3 level).
    const ours = await decodeAndCrop(image, { height: size, width: size, preprocessing });
    const difference = pixelDifference(ours, await referenceCrop(reference));
    expect(difference, `mean |ours - PIL| ${difference.mean.toFixed(3)} levels, max ${difference.max}`).toEqual({
      mean: 0,
      max: 0,
      differing: 0,
    });
  });

  it('normalises like ToTensor + Normalize (top-left 16x16 of the landscape tensor)', async () => {
    const reference = pilReference(model, 'landscape');
    const tensor = await imageToTensor(testImage('landscape'), { height: size, width: size, preprocessing });
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
