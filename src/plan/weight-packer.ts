/** Packs weight arrays back to back into one Float32Array, each slice 64-element (256-byte) aligned. */
import type { WeightRef } from './types';

export const WEIGHT_ALIGNMENT_ELEMENTS = 64;

export class WeightPacker {
  private readonly chunks: { offset: number; values: Float32Array }[] = [];
  private length = 0;

  add(values: Float32Array): WeightRef {
    const offset = Math.ceil(this.length / WEIGHT_ALIGNMENT_ELEMENTS) * WEIGHT_ALIGNMENT_ELEMENTS;
    this.chunks.push({ offset, values });
    this.length = offset + values.length;
    return { offset, length: values.length };
  }

  finish(): Float32Array {
    const out = new Float32Array(Math.ceil(this.length / WEIGHT_ALIGNMENT_ELEMENTS) * WEIGHT_ALIGNMENT_ELEMENTS);
    for (const { offset, values } of this.chunks) out.set(values, offset);
    return out;
  }
}
