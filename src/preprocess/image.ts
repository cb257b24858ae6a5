/**
 * Image bytes -> normalised float32 NCHW, following the model's `Preprocessing`:
 * decode (JPEG, PNG, WebP) with sharp, apply EXIF orientation, convert to RGB (grey expanded,
 * alpha dropped), resize so the image covers (size / cropPct) and centre-crop `size` with
 * torchvision's crop window (./geometry.ts), then (v / 255 - mean) / std per channel.
 * Reductions are resized by libvips (off the event loop, streaming, within a fraction of a level
 * of PIL); enlargements by Pillow's own algorithm (./resample.ts, identical to PIL) on the few
 * source pixels the crop reads.
 */
import type { Sharp as SharpPipeline } from 'sharp';
import { loadSharp } from './sharp-loader';
import { ImageDecodeError, invalidParam } from '../errors';
import type { Preprocessing } from '../models/types';
import { cropGeometry, type CropGeometry } from './geometry';
import { leadingBytes, sniffImageFormat } from './image-format';
import { resizeAndCrop, sourceWindow } from './resample';

/** Default limit on decoded pixels (width x height) per image, against decompression bombs. */
export const DEFAULT_MAX_INPUT_PIXELS = 100_000_000;

const SUPPORTED_FORMATS: readonly string[] = ['jpeg', 'png', 'webp'];

export interface ImageTensorOptions {
  readonly height: number;
  readonly width: number;
  readonly preprocessing: Preprocessing;
  /** Images with more pixels than this are refused before decoding (default DEFAULT_MAX_INPUT_PIXELS). */
  readonly maxInputPixels?: number;
}

/** Checks an `images` argument: a non-empty array of Buffer / Uint8Array. */
export function checkImages(images: unknown, name = 'images'): asserts images is readonly Uint8Array[] {
  if (!Array.isArray(images) || images.length === 0) {
    throw invalidParam(name, 'a non-empty array of Buffer or Uint8Array image bytes', images);
  }
  images.forEach((image: unknown, i) => {
    if (!(image instanceof Uint8Array)) throw invalidParam(`${name}[${i}]`, 'a Buffer or Uint8Array of image bytes', image);
  });
}

export function checkMaxInputPixels(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_INPUT_PIXELS;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidParam('maxInputPixels', 'a positive integer', value);
  }
  return value;
}

/** Decodes and preprocesses a batch of images into one [n,3,height,width] array. */
export async function imagesToTensor(images: readonly Uint8Array[], options: ImageTensorOptions): Promise<Float32Array> {
  checkImages(images);
  const plane = options.height * options.width;
  const batch = new Float32Array(images.length * 3 * plane);
  await Promise.all(
    images.map(async (bytes, i) => {
      const one = await imageToTensor(bytes, options, { index: i, count: images.length });
      batch.set(one, i * 3 * plane);
    }),
  );
  return batch;
}

/** One image -> [3,height,width]. `position` only makes error messages name the image. */
export async function imageToTensor(
  bytes: Uint8Array,
  options: ImageTensorOptions,
  position: { index: number; count: number } = { index: 0, count: 1 },
): Promise<Float32Array> {
  const rgb = await decodeAndCrop(bytes, options, position);
  return normalise(rgb, options.height, options.width, options.preprocessing);
}

/** RGB uint8 [height,width,3] after orientation, resize and centre crop. */
export async function decodeAndCrop(
  bytes: Uint8Array,
  options: ImageTensorOptions,
  position: { index: number; count: number } = { index: 0, count: 1 },
): Promise<Uint8Array> {
  const which = position.count > 1 ? `image ${position.index} of ${position.count}` : 'the image';
  const limit = checkMaxInputPixels(options.maxInputPixels);
  const fail = (what: string, cause?: unknown): ImageDecodeError =>
    new ImageDecodeError(`cannot decode ${which}: ${what}`, { cause });
  if (bytes.length === 0) throw fail('it is empty (0 bytes); pass JPEG, PNG or WebP file contents');
  // The signature first, so that no other decoder of libvips (SVG, TIFF, GIF, PDF...) ever runs.
  if (sniffImageFormat(bytes) === undefined) {
    throw fail(`it is not a JPEG, PNG or WebP file (it starts with ${leadingBytes(bytes)}); pass JPEG, PNG or WebP file contents`);
  }

  let geometry: CropGeometry;
  let pipeline: SharpPipeline;
  let width: number;
  let height: number;
  try {
    // The header is read without sharp's pixel limit, so that an image over maxInputPixels gets
    // this package's message (its size, the limit, what to do) rather than sharp's; the pixels are
    // then decoded by a pipeline that has the limit too.
    const sharp = loadSharp();
    const meta = await sharp(bytes, { limitInputPixels: false, autoOrient: true, failOn: 'warning' }).metadata();
    pipeline = sharp(bytes, { limitInputPixels: limit, autoOrient: true, failOn: 'warning' });
    if (meta.format === undefined || !SUPPORTED_FORMATS.includes(meta.format)) {
      throw fail(`unsupported format '${String(meta.format)}'; supported: ${SUPPORTED_FORMATS.join(', ')}`);
    }
    const shownWidth = meta.autoOrient?.width ?? meta.width;
    const shownHeight = meta.autoOrient?.height ?? meta.height;
    if (!shownWidth || !shownHeight) throw fail('its header has no width/height');
    width = shownWidth;
    height = shownHeight;
    if (width * height > limit) {
      throw fail(
        `${width}x${height} = ${width * height} pixels exceeds maxInputPixels=${limit}; ` +
          'raise maxInputPixels if you trust this image',
      );
    }
    geometry = cropGeometry(width, height, options.height, options.width, options.preprocessing.cropPct);
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    throw fail(explainSharpError(error, limit), error);
  }

  const filter = options.preprocessing.interpolation;
  try {
    if (!enlarges(width, height, geometry)) {
      // Reduction (or no resize): libvips, streaming and off the event loop, 0.05-0.09 levels
      // from PIL on average (README, tests/preprocess/pil-parity.test.ts).
      const kernel = filter === 'bicubic' ? 'cubic' : 'linear';
      const crop = await pipeline
        .resize(geometry.resizeWidth, geometry.resizeHeight, { fit: 'fill', kernel, fastShrinkOnLoad: false })
        .extract({ left: geometry.left, top: geometry.top, width: geometry.width, height: geometry.height })
        .removeAlpha()
        .toColourspace('srgb')
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
      return rgbBytes(crop, geometry.width, geometry.height, fail);
    }
    // Enlargement: Pillow's resampler (./resample.ts), because libvips places its samples half a
    // pixel away from PIL's when enlarging (4.5-7.3 levels apart on average, up to 159). libvips
    // only decodes and cuts out the source pixels the crop reads: at most (size + 4)^2 whatever
    // the image's length, so the work on this thread is bounded by the crop size.
    const window = sourceWindow(width, height, geometry, filter);
    const part = await pipeline.extract(window).removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    const data = rgbBytes(part, window.width, window.height, fail);
    return resizeAndCrop({ data, width: window.width, height: window.height }, geometry, filter, {
      left: window.left,
      top: window.top,
      sourceWidth: width,
      sourceHeight: height,
    });
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    throw fail(explainSharpError(error, limit), error);
  }
}

/**
 * Whether the resize enlarges the image on either axis (the short side is below the resize
 * target): then the Pillow-exact resampler runs, on the source window the crop reads; otherwise
 * libvips resizes. The aspect-preserving resize enlarges both axes or neither, up to an axis
 * that keeps its size.
 */
export function enlarges(sourceWidth: number, sourceHeight: number, geometry: CropGeometry): boolean {
  return geometry.resizeWidth > sourceWidth || geometry.resizeHeight > sourceHeight;
}

function rgbBytes(
  { data, info }: { data: Buffer; info: { width: number; height: number; channels: number } },
  width: number,
  height: number,
  fail: (what: string) => ImageDecodeError,
): Uint8Array {
  if (info.channels !== 3 || info.width !== width || info.height !== height) {
    throw fail(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x3`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Interleaved RGB uint8 -> planar float32, (v / 255 - mean[c]) / std[c] in float64, rounded once. */
export function normalise(rgb: Uint8Array, height: number, width: number, p: Preprocessing): Float32Array {
  const plane = height * width;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = (v / 255 - p.mean[c]) / p.std[c];
    const base = c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = table[rgb[3 * i + c]];
  }
  return out;
}

function sharpMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().replace(/\s+/g, ' ');
}

/**
 * What a decoder failure means and what to do about it, with libvips' own words last. Damaged
 * files are refused (sharp's failOn: 'warning') rather than decoded partly and classified as if
 * whole: a truncated JPEG would otherwise be grey below the point where it ends.
 */
export function explainSharpError(error: unknown, limit: number): string {
  const detail = sharpMessage(error);
  if (/exceeds pixel limit/i.test(detail)) {
    return `it has more than maxInputPixels=${limit} pixels; raise maxInputPixels if you trust this image (libvips: ${detail})`;
  }
  if (/corrupt/i.test(detail)) {
    return `the file is corrupt: its image data is damaged (libvips: ${detail}); damaged images are refused rather than decoded partly: re-save or download the image again`;
  }
  if (/premature end|truncat|unexpected end|end of (file|stream)|not enough data|short read/i.test(detail)) {
    return `the file is truncated: it ends before the image data does (libvips: ${detail}); copy or download it again in full`;
  }
  if (/warning treated as error|failOn/i.test(detail)) {
    return `the decoder reported damage in the file (a truncated or corrupt image; libvips: ${detail}); damaged images are refused rather than decoded partly: re-save or download the image again`;
  }
  return `the image data is corrupt or not supported (libvips: ${detail}); pass an intact JPEG, PNG or WebP file`;
}
