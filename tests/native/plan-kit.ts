/**
 * Hand-built Plans for native backend tests: buffers laid out back to back (64-byte aligned,
 * channels padded to the backend's channelBlock), tensors and views, weights packed at
 * 64-element offsets as the planner does. Plus the comparison metric the native tests use.
 */
import { PlanBuilder } from '../helpers/plan-builder';
import type { RefTensor } from '../helpers/reference';

/** PlanBuilder with the CPU backend's fp32 layout at a given channel block; `map` = `buffer`. */
export class PlanKit extends PlanBuilder {
  constructor(batch: number, channelBlock: number) {
    super(batch, { elementBytes: 4, channelBlock, alignment: 64, concatViews: true });
  }

  /** A new buffer [batch, c, h, w] and the tensor covering all of it. */
  map(c: number, h: number, w: number): number {
    return this.buffer(c, h, w);
  }
}

/** The plan input (plain NCHW) copied exactly into a blocked map by an identity 1x1 conv. */
export function blockedInput(kit: PlanKit, c: number, h: number, w: number): { input: number; x: number } {
  const input = kit.map(c, h, w);
  const x = kit.map(c, h, w);
  kit.add({
    op: 'conv2d', name: 'copy_in', input, output: x, residual: -1, weight: kit.weight(identityWeights(c)),
    bias: kit.weight(new Float32Array(c)), kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu: false,
  });
  return { input, x };
}

/** Deterministic uniform values in [-1, 1) (xorshift32). */
export function randomValues(count: number, seed: number): Float32Array {
  let state = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

/** The [c, c, 1, 1] identity: a 1x1 conv with it copies a map exactly (x * 1 + exact zeros). */
export function identityWeights(c: number): Float32Array {
  const w = new Float32Array(c * c);
  for (let i = 0; i < c; i++) w[i * c + i] = 1;
  return w;
}

/** ||actual - expected||_2 / ||expected||_2 (0 when both are zero). */
export function relativeL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`relativeL2: ${actual.length} values vs ${expected.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = actual[i]! - expected[i]!;
    diff += d * d;
    norm += expected[i]! * expected[i]!;
  }
  if (Number.isNaN(diff)) return Infinity;
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
}

/** The first n images of a reference tensor. */
export function firstImages(t: RefTensor, n: number): Float64Array {
  const perImage = t.data.length / t.shape[0]!;
  return t.data.subarray(0, n * perImage);
}
