import { describe, it, expect } from 'vitest';
import sharp from 'sharp';
import { imagesToTensor, imageToTensor, decodeAndCrop, checkImages, explainSharpError } from '../../src/preprocess/image';
import { ImageDecodeError, InvalidArgumentError } from '../../src/errors';
import type { Preprocessing } from '../../src/models/types';

// The two preprocessing recipes of the released checkpoints (architectures.md section 5).
const TIMM_V4: Preprocessing = { inputSize: 299, interpolation: 'bicubic', cropPct: 0.875, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
const FACENET: Preprocessing = { inputSize: 160, interpolation: 'bilinear', cropPct: 1, mean: [0.5, 0.5, 0.5], std: [128 / 255, 128 / 255, 128 / 255] };

async function solidPng(width: number, height: number, rgb: [number, number, number]): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
}

/** Raw RGB image whose red channel is f(x, y), green 0, blue 255. */
async function rawPng(width: number, height: number, red: (x: number, y: number) => number, channels: 3 | 4 = 3): Promise<Buffer> {
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      data[i] = red(x, y);
      data[i + 1] = 0;
      data[i + 2] = 255;
      if (channels === 4) data[i + 3] = 40;
    }
  }
  return sharp(data, { raw: { width, height, channels } }).png().toBuffer();
}

const at = (t: Float32Array, c: number, y: number, x: number, h: number, w: number): number => t[c * h * w + y * w + x];

describe('imageToTensor values', () => {
  it('solid colour, timm recipe: exact (v/255 - 0.5)/0.5 everywhere', async () => {
    // A constant image stays constant through the cubic resize (PNG is lossless), so the
    // comparison is exact: each value is computed in float64 and rounded once to float32.
    const t = await imageToTensor(await solidPng(400, 300, [255, 0, 128]), { height: 299, width: 299, preprocessing: TIMM_V4 });
    expect(t.length).toBe(3 * 299 * 299);
    const plane = 299 * 299;
    const expected = [1, -1, Math.fround((128 / 255 - 0.5) / 0.5)];
    for (let c = 0; c < 3; c++) {
      const channel = t.subarray(c * plane, (c + 1) * plane);
      expect(new Set(channel)).toEqual(new Set([expected[c]]));
    }
  });

  it('solid colour, facenet recipe: (v - 127.5) / 128 within 1 float32 ulp', async () => {
    // (v/255 - 0.5) / (128/255) equals (v - 127.5)/128 in real arithmetic; float64 rounding of
    // the two forms differs by far less than one float32 ulp (~6e-8 near 0.5), hence 1e-7.
    const t = await imageToTensor(await solidPng(160, 200, [200, 10, 127]), { height: 160, width: 160, preprocessing: FACENET });
    const plane = 160 * 160;
    for (const [c, v] of [[0, 200], [1, 10], [2, 127]] as const) {
      const channel = t.subarray(c * plane, (c + 1) * plane);
      for (const value of [channel[0], channel[plane - 1], channel[12345]]) expect(Math.abs(value - (v - 127.5) / 128)).toBeLessThan(1e-7);
    }
  });

  it('grey images become three equal channels; alpha is dropped', async () => {
    const grey = await sharp(Buffer.alloc(50 * 50, 90), { raw: { width: 50, height: 50, channels: 1 } }).toColourspace('b-w').png().toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const g = await decodeAndCrop(grey, { height: 32, width: 32, preprocessing: FACENET });
    expect(new Set(g)).toEqual(new Set([90]));

    const rgba = await rawPng(40, 40, () => 77, 4);
    expect((await sharp(rgba).metadata()).channels).toBe(4);
    const rgb = await decodeAndCrop(rgba, { height: 40, width: 40, preprocessing: FACENET });
    expect(rgb.length).toBe(40 * 40 * 3);
    expect([rgb[0], rgb[1], rgb[2]]).toEqual([77, 0, 255]);
  });
});

describe('imageToTensor geometry', () => {
  it('centre crop of an asymmetric image without resize takes columns 64..191', async () => {
    // 256x128 with red = x; at 128x128 and cropPct 1 the short side is already 128, so
    // no resampling happens and the crop is exact: column j of the output is x = 64 + j.
    const png = await rawPng(256, 128, (x) => x);
    const rgb = await decodeAndCrop(png, { height: 128, width: 128, preprocessing: FACENET });
    for (const [y, j] of [[0, 0], [5, 1], [127, 63], [64, 127]]) expect(rgb[(y * 128 + j) * 3]).toBe(64 + j);
    const t = await imageToTensor(png, { height: 128, width: 128, preprocessing: FACENET });
    expect(at(t, 0, 10, 0, 128, 128)).toBe(Math.fround((64 / 255 - 0.5) / (128 / 255)));
    expect(at(t, 2, 10, 0, 128, 128)).toBe(Math.fround((255 / 255 - 0.5) / (128 / 255)));
  });

  it('downscale by 2 then crop: column j samples around source x = 2*(64+j)', async () => {
    // 512x256 with red = floor(x/2): resized to 256x128, red ~ 64 + j after the crop.
    // Tolerance 1 grey level: bilinear downsampling of a ramp rounds to the nearest level.
    const png = await rawPng(512, 256, (x) => Math.floor(x / 2));
    const rgb = await decodeAndCrop(png, { height: 128, width: 128, preprocessing: FACENET });
    for (const j of [1, 30, 64, 100, 126]) expect(Math.abs(rgb[(60 * 128 + j) * 3] - (64 + j))).toBeLessThanOrEqual(1);
  });

  it('applies the EXIF orientation before cropping', async () => {
    // Stored 200x100, left half black, right half white, orientation 6 (rotate 90 deg clockwise
    // to display): displayed 100x200 with black on top. Crop 100x100 at top = 50.
    const stored = await rawPng(200, 100, (x) => (x < 100 ? 0 : 255));
    const jpeg = await sharp(stored).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    const rgb = await decodeAndCrop(jpeg, { height: 100, width: 100, preprocessing: FACENET });
    // JPEG is lossy: 8 grey levels of tolerance away from the edge.
    expect(rgb[(5 * 100 + 50) * 3]).toBeLessThan(8);
    expect(rgb[(95 * 100 + 50) * 3]).toBeGreaterThan(247);
  });

  it('an enlarged image is cut out after the EXIF orientation: the same bytes as the upright pixels', async () => {
    // Stored 400x60 with structure, orientation 6: displayed 60x400. At 80x80 (cropPct 1) the
    // short side 60 is enlarged, so the Pillow resampler runs on the source rows the crop reads
    // (about 170..231 of 400), which libvips cuts out of the displayed image. The reference is
    // the same JPEG decoded upright by sharp and passed as lossless PNG, with no orientation.
    const stored = await rawPng(400, 60, (x, y) => (x * 7 + y * 13) % 256);
    const jpeg = await sharp(stored).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const upright = await sharp(jpeg).rotate().png().toBuffer();
    expect(await sharp(upright).metadata()).toMatchObject({ width: 60, height: 400 });
    const options = { height: 80, width: 80, preprocessing: FACENET };
    const ours = await decodeAndCrop(jpeg, options);
    expect(Buffer.from(ours).equals(Buffer.from(await decodeAndCrop(upright, options)))).toBe(true);
  });

  it('a batch is the images back to back', async () => {
    const a = await solidPng(20, 20, [255, 255, 255]);
    const b = await solidPng(20, 20, [0, 0, 0]);
    const t = await imagesToTensor([a, b], { height: 16, width: 16, preprocessing: TIMM_V4 });
    expect(t.length).toBe(2 * 3 * 256);
    expect(t[0]).toBe(1);
    expect(t[3 * 256]).toBe(-1);
  });
});

describe('imageToTensor rejects bad bytes', () => {
  const options = { height: 32, width: 32, preprocessing: TIMM_V4 };

  it('non-image bytes name the image of the batch and the bytes they start with', async () => {
    const good = await solidPng(20, 20, [1, 2, 3]);
    const junk = Buffer.from('definitely not an image, just text');
    const error = await imagesToTensor([good, junk], options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageDecodeError);
    expect((error as ImageDecodeError).code).toBe('E_IMAGE');
    expect((error as Error).message).toBe('cannot decode image 1 of 2: it is not a JPEG, PNG or WebP file (it starts with 64 65 66 69 6e 69 74 65); pass JPEG, PNG or WebP file contents');
  });

  it('an SVG never reaches a decoder: refused by its first bytes', async () => {
    // Entity expansion that libxml2 refuses ("Maximum entity amplification factor exceeded") when
    // librsvg parses it: the signature check must answer first, with our message, not libxml2's.
    const svg = Buffer.from('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><text>&b;</text></svg>');
    await expect(imageToTensor(svg, options)).rejects.toThrow(/^cannot decode the image: it is not a JPEG, PNG or WebP file \(it starts with 3c 3f 78 6d 6c 20 76 65\)/);
  });

  it('a truncated JPEG', async () => {
    const jpeg = await sharp({ create: { width: 300, height: 300, channels: 3, background: '#3366aa' } }).jpeg().toBuffer();
    const error = await imageToTensor(jpeg.subarray(0, Math.floor(jpeg.length / 2)), options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageDecodeError);
    // What happened and what to do, in this package's words; libvips' own last (never sharp's bare failOn wording).
    expect((error as Error).message).toMatch(/^cannot decode the image: the file is truncated: it ends before the image data does \(libvips: .*\); copy or download it again in full$/);
  });

  it('damaged JPEG data is called corrupt, and sharp failOn wording is explained', async () => {
    const jpeg = await sharp({ create: { width: 300, height: 300, channels: 3, background: '#3366aa' } }).jpeg().toBuffer();
    const damaged = Buffer.from(jpeg);
    damaged.fill(0xff, Math.floor(jpeg.length / 2), Math.floor(jpeg.length / 2) + 64);
    const error = await imageToTensor(damaged, options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageDecodeError);
    expect((error as Error).message).toMatch(/^cannot decode the image: the file (is corrupt|is truncated)/);
    expect(explainSharpError(new Error('Warning treated as error due to failOn setting'), 10)).toBe(
      'the decoder reported damage in the file (a truncated or corrupt image; libvips: Warning treated as error due to failOn setting); damaged images are refused rather than decoded partly: re-save or download the image again',
    );
  });

  it('empty bytes, an unsupported format, too many pixels', async () => {
    await expect(imageToTensor(new Uint8Array(0), options)).rejects.toThrow('cannot decode the image: it is empty (0 bytes)');
    const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).gif().toBuffer();
    await expect(imageToTensor(gif, options)).rejects.toThrow('cannot decode the image: it is not a JPEG, PNG or WebP file (it starts with 47 49 46 38 39 61');
    const big = await solidPng(100, 100, [0, 0, 0]);
    await expect(imageToTensor(big, { ...options, maxInputPixels: 5000 })).rejects.toThrow(ImageDecodeError);
    // The package's own message (size, limit, what to do), not sharp's 'Input image exceeds pixel limit'.
    await expect(imageToTensor(big, { ...options, maxInputPixels: 5000 })).rejects.toThrow(
      'cannot decode the image: 100x100 = 10000 pixels exceeds maxInputPixels=5000; raise maxInputPixels if you trust this image',
    );
  });

  it('invalid arguments are InvalidArgumentError with sharp-style messages', async () => {
    expect(() => checkImages([])).toThrow('Expected a non-empty array of Buffer or Uint8Array image bytes for images but received an array of length 0');
    expect(() => checkImages([new Float32Array(3)])).toThrow(InvalidArgumentError);
    expect(() => checkImages(['a.jpg'])).toThrow("Expected a Buffer or Uint8Array of image bytes for images[0] but received 'a.jpg' of type string");
    await expect(imageToTensor(await solidPng(8, 8, [0, 0, 0]), { ...options, maxInputPixels: 0 })).rejects.toThrow(
      'Expected a positive integer for maxInputPixels but received 0 of type number',
    );
  });
});
