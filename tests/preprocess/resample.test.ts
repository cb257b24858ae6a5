import { describe, it, expect } from 'vitest';
import { axisTaps, resizeAndCrop, sourceWindow, type RgbImage } from '../../src/preprocess/resample';
import { cropGeometry } from '../../src/preprocess/geometry';

const ONE = 1 << 22;

/** A grey image given as rows of values, copied to R, G and B. */
function grey(rows: number[][]): RgbImage {
  const height = rows.length;
  const width = rows[0].length;
  const data = new Uint8Array(width * height * 3);
  rows.forEach((row, y) => row.forEach((v, x) => data.fill(v, (y * width + x) * 3, (y * width + x) * 3 + 3)));
  return { data, width, height };
}

const redChannel = (rgb: Uint8Array): number[] => Array.from(rgb.filter((_, i) => i % 3 === 0));

// Exact values: the weights and sums are Pillow's integer arithmetic, derived by hand below.
describe('axisTaps (Pillow precompute_coeffs + fixed point)', () => {
  it('reducing 4 -> 2 bilinear stretches the triangle by the scale and renormalises at the edge', () => {
    // scale 2, support 2: output 0 is centred at 1.0 and reads inputs [trunc(-0.5), trunc(3.5)) = [0, 3)
    // at (x - 1 + 0.5) / 2 = -0.25, 0.25, 0.75 -> weights 0.75, 0.75, 0.25, divided by their sum 1.75.
    const taps = axisTaps(4, 2, 0, 2, 'bilinear');
    expect(taps.taps).toBe(5);
    expect(Array.from(taps.bounds)).toEqual([0, 3, 1, 3]);
    expect(Array.from(taps.weights.subarray(0, 3))).toEqual([3 / 7, 3 / 7, 1 / 7].map((w) => Math.trunc(0.5 + w * ONE)));
    expect([taps.firstInput, taps.endInput]).toEqual([0, 4]);
  });

  it('enlarging 2 -> 4 bicubic keeps support 2 and places output i at (i + 0.5) / 2', () => {
    // Output 1 is centred at 0.75: inputs [trunc(-0.75), trunc(3.25)) clipped to [0, 2), at
    // distances -0.25 and 0.75 -> Keys(a=-0.5): 0.8671875 and 0.2265625, sum 1.09375.
    const taps = axisTaps(2, 4, 1, 1, 'bicubic');
    expect(Array.from(taps.bounds)).toEqual([0, 2]);
    expect(Array.from(taps.weights.subarray(0, 2))).toEqual([0.8671875 / 1.09375, 0.2265625 / 1.09375].map((w) => Math.trunc(0.5 + w * ONE)));
  });

  it('a negative lobe stays negative in fixed point', () => {
    // 3 -> 8 bicubic, output 0 at 0.1875 reads inputs [0, 2) at distances 0.3125 and 1.3125:
    // Keys gives 0.8016357421875 and -0.0738525390625 (the negative lobe), sum 0.727783203125.
    const taps = axisTaps(3, 8, 0, 1, 'bicubic');
    expect(Array.from(taps.bounds)).toEqual([0, 2]);
    const sum = 0.727783203125;
    expect(Array.from(taps.weights.subarray(0, 2))).toEqual([
      Math.trunc(0.5 + (0.8016357421875 / sum) * ONE),
      Math.trunc(-0.5 + (-0.0738525390625 / sum) * ONE),
    ]);
    expect(taps.weights[1]).toBe(-425621); // -0.10147... * 2^22 = -425621.25
  });
});

describe('resizeAndCrop', () => {
  it('a same-size resize is the identity and the crop takes the window', () => {
    const image = grey([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]);
    const out = resizeAndCrop(image, { resizeWidth: 4, resizeHeight: 3, left: 1, top: 1, width: 2, height: 2 }, 'bicubic');
    expect(redChannel(out)).toEqual([6, 7, 10, 11]);
  });

  it('a constant image stays constant when enlarged and reduced', () => {
    // The fixed-point weights of each pixel sum to 2^22 within rounding, so c stays c.
    const image = grey(Array.from({ length: 7 }, () => Array(9).fill(201)));
    for (const [size, pct] of [[20, 0.875], [3, 1]] as const) {
      const geometry = cropGeometry(9, 7, size, size, pct);
      for (const filter of ['bicubic', 'bilinear'] as const) expect(new Set(resizeAndCrop(image, geometry, filter))).toEqual(new Set([201]));
    }
  });

  it('a step enlarged bicubically overshoots and is clamped to 0..255 (as Pillow clips)', () => {
    // Keys' cubic rings next to a 0 -> 255 edge: the lobes go below 0 and above 255.
    const image = grey([[0, 0, 0, 255, 255, 255]]);
    const out = redChannel(resizeAndCrop(image, { resizeWidth: 24, resizeHeight: 1, left: 0, top: 0, width: 24, height: 1 }, 'bicubic'));
    expect(out.slice(0, 4)).toEqual([0, 0, 0, 0]);
    expect(out.slice(-4)).toEqual([255, 255, 255, 255]);
    expect(out).toEqual([...out].sort((a, b) => a - b)); // monotone after clamping
  });

  it('refuses a window outside the resized image and a buffer of the wrong size', () => {
    const image = grey([[1, 2], [3, 4]]);
    expect(() => resizeAndCrop(image, { resizeWidth: 4, resizeHeight: 4, left: 2, top: 0, width: 3, height: 3 }, 'bilinear')).toThrow(
      'crop window 3x3 at (2, 0) is outside the 4x4 resize',
    );
    expect(() => resizeAndCrop({ ...image, width: 3 }, { resizeWidth: 4, resizeHeight: 4, left: 0, top: 0, width: 4, height: 4 }, 'bilinear')).toThrow(
      'RGB image of 3x2 needs 18 bytes, got 12',
    );
  });
});

describe('sourceWindow and a source given in part', () => {
  /** A deterministic RGB image with structure on every axis and channel. */
  function pattern(width: number, height: number): RgbImage {
    const data = new Uint8Array(width * height * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    return { data, width, height };
  }

  function part(image: RgbImage, left: number, top: number, width: number, height: number): RgbImage {
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) data.set(image.data.subarray(((top + y) * image.width + left) * 3, ((top + y) * image.width + left + width) * 3), y * width * 3);
    return { data, width, height };
  }

  it('the window the crop reads gives the same bytes as the whole image, enlarging and reducing', () => {
    const image = pattern(37, 90);
    for (const [size, pct] of [[40, 0.875], [50, 1], [20, 0.875], [16, 1]] as const) {
      const geometry = cropGeometry(37, 90, size, size, pct);
      for (const filter of ['bicubic', 'bilinear'] as const) {
        const window = sourceWindow(37, 90, geometry, filter);
        const whole = resizeAndCrop(image, geometry, filter);
        const fromPart = resizeAndCrop(part(image, window.left, window.top, window.width, window.height), geometry, filter, {
          left: window.left,
          top: window.top,
          sourceWidth: 37,
          sourceHeight: 90,
        });
        expect(fromPart).toEqual(whole);
      }
    }
  });

  it('when enlarging, the window is the crop plus the filter support, however long the image', () => {
    // 340x4000 -> 341x4011 (inception_v4: short side 341), crop 299 at (21, 1856).
    const geometry = cropGeometry(340, 4000, 299, 299, 0.875);
    expect(geometry).toEqual({ resizeWidth: 341, resizeHeight: 4011, left: 21, top: 1856, width: 299, height: 299 });
    const window = sourceWindow(340, 4000, geometry, 'bicubic');
    expect(window.width).toBeLessThanOrEqual(299 + 4);
    expect(window.height).toBeLessThanOrEqual(299 + 4);
    expect(window.top).toBeGreaterThan(1800);
  });

  it('refuses a part that does not hold the window', () => {
    const image = pattern(20, 30);
    const geometry = cropGeometry(20, 30, 24, 24, 1);
    const window = sourceWindow(20, 30, geometry, 'bilinear');
    const short = part(image, window.left, window.top + 1, window.width, window.height - 1);
    expect(() => resizeAndCrop(short, geometry, 'bilinear', { left: window.left, top: window.top + 1, sourceWidth: 20, sourceHeight: 30 })).toThrow(
      /^the crop reads source pixels .* outside the given/,
    );
  });
});
