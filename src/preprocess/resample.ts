/**
 * Resize-and-crop of interleaved RGB uint8 images that reproduces Pillow's `Image.resize`
 * (ImagingResample, 8 bits per channel) bit for bit, so that our inputs are the ones timm's and
 * facenet-pytorch's transforms give the networks. sharp's resize (libvips) places its samples
 * differently when enlarging: 4.5 to 7.3 levels apart on average, up to 159 on edges, against
 * 0.05 to 0.09 when reducing (tests/preprocess/pil-parity.test.ts references), whatever the
 * kernel option. Its affine with Pillow's pixel centres (idx/idy 0.5, odx/ody -0.5) still stays
 * 0.07 to 0.49 levels apart (max 56): libvips extends the edge pixels where Pillow renormalises
 * the weights, and rounds once instead of after each pass.
 *
 * Pillow's algorithm, which this follows:
 * - Separable convolution, horizontal pass first, then vertical; each pass rounds to uint8.
 * - Output pixel i samples the input around center = (i + 0.5) * scale, scale = in / out.
 *   When reducing (scale > 1) the filter is stretched by scale (antialiasing): support becomes
 *   filter.support * scale and taps are evaluated at (x - center + 0.5) / scale.
 * - Taps run over input pixels [trunc(center - support + 0.5), trunc(center + support + 0.5)),
 *   clipped to the image; the weights are divided by their sum (so edges renormalise), then
 *   converted to fixed point with 22 fractional bits, rounded half away from zero.
 * - Accumulators start at 0.5 (1 << 21) and are floored and clamped to 0..255.
 * - bicubic is Keys' cubic with a = -0.5 (support 2), bilinear the triangle (support 1).
 * - A pass whose output size equals its input size is skipped (it would be the identity).
 *
 * Only the crop window is computed: each output pixel depends on its own taps alone, so
 * resampling the window equals resampling the whole image and then cropping. Likewise only the
 * source pixels those taps read are needed (sourceWindow): src/preprocess/image.ts has libvips
 * cut them out and runs this on them alone, and only for enlargements, where they are at most
 * (size + 4)^2 pixels; reductions stay with libvips.
 */
import type { CropGeometry } from './geometry';

export type ResampleFilter = 'bicubic' | 'bilinear';

/** Interleaved RGB, 3 bytes per pixel, rows top to bottom. */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** Fractional bits of Pillow's fixed-point weights (32 - 8 - 2: 8 bits of pixel, 2 of headroom). */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);
/** Accumulators at or above this are 256.0 or more: clamp to 255. */
const OVERFLOW = 256 * ONE;

const CUBIC_A = -0.5;

interface Kernel {
  readonly support: number;
  weight(x: number): number;
}

const KERNELS: Record<ResampleFilter, Kernel> = {
  bilinear: {
    support: 1,
    weight(x) {
      const t = Math.abs(x);
      return t < 1 ? 1 - t : 0;
    },
  },
  bicubic: {
    support: 2,
    // Same operation order as Pillow's bicubic_filter, so the float64 weights are identical.
    weight(x) {
      const t = Math.abs(x);
      if (t < 1) return ((CUBIC_A + 2) * t - (CUBIC_A + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * CUBIC_A;
      return 0;
    },
  },
};

/** The taps of `count` consecutive output pixels starting at `first`, for one axis. */
interface AxisTaps {
  /** Maximum taps per output pixel; `weights` holds `taps` slots per output pixel. */
  readonly taps: number;
  /** Per output pixel: first input index, then the number of taps used. */
  readonly bounds: Int32Array;
  /** Fixed-point weights (22 fractional bits). */
  readonly weights: Int32Array;
  /** Input indices [firstInput, endInput) that any of these output pixels reads. */
  readonly firstInput: number;
  readonly endInput: number;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for output pixels [first, first + count). */
export function axisTaps(inSize: number, outSize: number, first: number, count: number, filter: ResampleFilter): AxisTaps {
  const kernel = KERNELS[filter];
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = kernel.support * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(2 * count);
  const weights = new Int32Array(taps * count);
  const real = new Float64Array(taps);
  let firstInput = inSize;
  let endInput = 0;
  for (let i = 0; i < count; i++) {
    const center = (first + i + 0.5) * scale;
    const start = Math.max(Math.trunc(center - support + 0.5), 0);
    const used = Math.min(Math.trunc(center + support + 0.5), inSize) - start;
    let sum = 0;
    for (let t = 0; t < used; t++) {
      real[t] = kernel.weight((t + start - center + 0.5) / filterScale);
      sum += real[t];
    }
    for (let t = 0; t < used; t++) {
      const normalised = sum !== 0 ? real[t] / sum : real[t];
      weights[i * taps + t] = normalised < 0 ? Math.trunc(-0.5 + normalised * ONE) : Math.trunc(0.5 + normalised * ONE);
    }
    bounds[2 * i] = start;
    bounds[2 * i + 1] = used;
    firstInput = Math.min(firstInput, start);
    endInput = Math.max(endInput, start + used);
  }
  return { taps, bounds, weights, firstInput, endInput };
}

/** Pillow's clip8: fixed-point accumulator -> uint8 (floor, clamped). */
function clip8(accumulator: number): number {
  if (accumulator <= 0) return 0;
  if (accumulator >= OVERFLOW) return 255;
  return accumulator >> PRECISION_BITS;
}

/**
 * The rectangle of the source image (in source pixels) that the crop window of `geometry` reads:
 * the taps of its output rows and columns, or the window itself on an axis that is not resized.
 * When both axes enlarge (or keep their size) the filter support is 2 (bicubic) or 1 (bilinear)
 * source pixels, so the rectangle is at most (width + 2 * support) x (height + 2 * support),
 * whatever the size of the source.
 */
export function sourceWindow(sourceWidth: number, sourceHeight: number, geometry: CropGeometry, filter: ResampleFilter): SourceWindow {
  const { width, height, left, top } = geometry;
  if (left < 0 || top < 0 || left + width > geometry.resizeWidth || top + height > geometry.resizeHeight) {
    throw new RangeError(
      `crop window ${width}x${height} at (${left}, ${top}) is outside the ${geometry.resizeWidth}x${geometry.resizeHeight} resize`,
    );
  }
  const columns = geometry.resizeWidth !== sourceWidth ? axisTaps(sourceWidth, geometry.resizeWidth, left, width, filter) : null;
  const rows = geometry.resizeHeight !== sourceHeight ? axisTaps(sourceHeight, geometry.resizeHeight, top, height, filter) : null;
  const x0 = columns?.firstInput ?? left;
  const y0 = rows?.firstInput ?? top;
  return { left: x0, top: y0, width: (columns?.endInput ?? left + width) - x0, height: (rows?.endInput ?? top + height) - y0 };
}

export interface SourceWindow {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/**
 * Resizes a `sourceWidth` x `sourceHeight` image to geometry.resizeWidth x geometry.resizeHeight
 * with Pillow's `filter` and returns the window (left, top, width, height) as interleaved RGB.
 * `image` is either the whole source, or only the part of it at `origin` (at least
 * sourceWindow(...)), so that the whole decoded image need not be in memory.
 */
export function resizeAndCrop(
  image: RgbImage,
  geometry: CropGeometry,
  filter: ResampleFilter,
  origin: { left: number; top: number; sourceWidth: number; sourceHeight: number } = {
    left: 0,
    top: 0,
    sourceWidth: image.width,
    sourceHeight: image.height,
  },
): Uint8Array {
  const { width, height, left, top } = geometry;
  if (image.data.length !== image.width * image.height * 3) {
    throw new RangeError(`RGB image of ${image.width}x${image.height} needs ${image.width * image.height * 3} bytes, got ${image.data.length}`);
  }
  const { sourceWidth, sourceHeight } = origin;
  const needed = sourceWindow(sourceWidth, sourceHeight, geometry, filter);
  if (
    needed.left < origin.left ||
    needed.top < origin.top ||
    needed.left + needed.width > origin.left + image.width ||
    needed.top + needed.height > origin.top + image.height
  ) {
    throw new RangeError(
      `the crop reads source pixels ${needed.width}x${needed.height} at (${needed.left}, ${needed.top}), ` +
        `outside the given ${image.width}x${image.height} at (${origin.left}, ${origin.top})`,
    );
  }
  const source: Placed = { ...image, left: origin.left, top: origin.top };
  // Horizontal pass over the source rows the vertical pass will read.
  const vertical = geometry.resizeHeight !== sourceHeight ? axisTaps(sourceHeight, geometry.resizeHeight, top, height, filter) : null;
  const rowStart = vertical?.firstInput ?? top;
  const rowEnd = vertical?.endInput ?? top + height;
  const rows =
    geometry.resizeWidth !== sourceWidth
      ? horizontalPass(source, rowStart, rowEnd, axisTaps(sourceWidth, geometry.resizeWidth, left, width, filter))
      : cropColumns(source, rowStart, rowEnd, left, width);
  if (vertical === null) return rows;
  return verticalPass(rows, width, rowStart, vertical);
}

/** An RGB image that is the part of a larger source at (left, top); indices below are the source's. */
interface Placed extends RgbImage {
  readonly left: number;
  readonly top: number;
}

/** Source rows [rowStart, rowEnd), output columns given by `taps`: [(rowEnd - rowStart), taps count, 3]. */
function horizontalPass(image: Placed, rowStart: number, rowEnd: number, taps: AxisTaps): Uint8Array {
  const columns = taps.bounds.length / 2;
  const out = new Uint8Array((rowEnd - rowStart) * columns * 3);
  const { data } = image;
  const { bounds, weights } = taps;
  let o = 0;
  for (let y = rowStart; y < rowEnd; y++) {
    const rowOffset = ((y - image.top) * image.width - image.left) * 3;
    for (let x = 0; x < columns; x++) {
      const used = bounds[2 * x + 1];
      const w0 = x * taps.taps;
      let p = rowOffset + bounds[2 * x] * 3;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let t = 0; t < used; t++, p += 3) {
        const w = weights[w0 + t];
        r = (r + data[p] * w) | 0;
        g = (g + data[p + 1] * w) | 0;
        b = (b + data[p + 2] * w) | 0;
      }
      out[o++] = clip8(r);
      out[o++] = clip8(g);
      out[o++] = clip8(b);
    }
  }
  return out;
}

/** The identity horizontal pass: columns [left, left + width) of rows [rowStart, rowEnd). */
function cropColumns(image: Placed, rowStart: number, rowEnd: number, left: number, width: number): Uint8Array {
  const out = new Uint8Array((rowEnd - rowStart) * width * 3);
  for (let y = rowStart; y < rowEnd; y++) {
    const from = ((y - image.top) * image.width + left - image.left) * 3;
    out.set(image.data.subarray(from, from + width * 3), (y - rowStart) * width * 3);
  }
  return out;
}

/** `rows` holds source rows from `rowStart` on, `width` pixels each; one output row per entry of `taps`. */
function verticalPass(rows: Uint8Array, width: number, rowStart: number, taps: AxisTaps): Uint8Array {
  const outRows = taps.bounds.length / 2;
  const stride = width * 3;
  const out = new Uint8Array(outRows * stride);
  const { bounds, weights } = taps;
  for (let y = 0; y < outRows; y++) {
    const used = bounds[2 * y + 1];
    const firstRow = (bounds[2 * y] - rowStart) * stride;
    const w0 = y * taps.taps;
    const o = y * stride;
    for (let i = 0; i < stride; i++) {
      let sum = HALF;
      for (let t = 0, p = firstRow + i; t < used; t++, p += stride) sum = (sum + rows[p] * weights[w0 + t]) | 0;
      out[o + i] = clip8(sum);
    }
  }
  return out;
}
