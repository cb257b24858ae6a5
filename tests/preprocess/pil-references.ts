/**
 * The committed torchvision/PIL references (tests/fixtures/preprocess, made once by
 * make_references.py): test images, the uint8 crops PIL produced for each model, their crop
 * windows, and a float32 patch of each normalised tensor. Readers and the pixel comparison.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { readNpySync } from '../../src/io/npy';
import type { ModelName } from '../../src/models/types';
import type { CropGeometry } from '../../src/preprocess/geometry';

export const PIL_FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'preprocess');

export type ImageShape = 'landscape' | 'portrait' | 'square' | 'small';
export const IMAGE_SHAPES: readonly ImageShape[] = ['landscape', 'portrait', 'square', 'small'];

export interface PilReference extends CropGeometry {
  readonly model: ModelName;
  readonly image: ImageShape;
  /** PNG of the uint8 RGB crop (the input of torchvision's ToTensor). */
  readonly crop: string;
  /** .npy float32 [3,16,16]: the top-left 16x16 of the normalised tensor. */
  readonly patch: string;
}

interface ReferenceManifest {
  readonly images: Record<ImageShape, { file: string; width: number; height: number }>;
  readonly references: readonly PilReference[];
}

const manifest = JSON.parse(readFileSync(path.join(PIL_FIXTURES, 'references.json'), 'utf8')) as ReferenceManifest;

export function pilReference(model: ModelName, image: ImageShape): PilReference {
  const found = manifest.references.find((r) => r.model === model && r.image === image);
  if (found === undefined) throw new Error(`no PIL reference for ${model} / ${image} in references.json`);
  return found;
}

export function testImageSize(image: ImageShape): { width: number; height: number } {
  const { width, height } = manifest.images[image];
  return { width, height };
}

export function testImage(image: ImageShape): Buffer {
  return readFileSync(path.join(PIL_FIXTURES, manifest.images[image].file));
}

/** The reference crop as interleaved RGB uint8 (PNG decodes exactly). */
export async function referenceCrop(reference: PilReference): Promise<Uint8Array> {
  const { data, info } = await sharp(path.join(PIL_FIXTURES, reference.crop)).raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== reference.width || info.height !== reference.height) {
    throw new Error(`${reference.crop}: ${info.width}x${info.height}x${info.channels}, expected ${reference.width}x${reference.height}x3`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function referencePatch(reference: PilReference): Float32Array {
  return readNpySync(path.join(PIL_FIXTURES, reference.patch)).data as Float32Array;
}

export interface PixelDifference {
  /** Mean |ours - PIL| over all pixels and channels, in 8-bit levels. */
  readonly mean: number;
  readonly max: number;
  /** Values (pixel x channel) that differ at all. */
  readonly differing: number;
}

export function pixelDifference(ours: Uint8Array, reference: Uint8Array): PixelDifference {
  if (ours.length !== reference.length) throw new Error(`length ${ours.length} vs reference ${reference.length}`);
  let sum = 0;
  let max = 0;
  let differing = 0;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i] - reference[i]);
    sum += d;
    if (d > max) max = d;
    if (d !== 0) differing++;
  }
  return { mean: sum / ours.length, max, differing };
}
