/**
 * Hand-built Plans for native backend tests: buffers laid out back to back (64-byte aligned,
 * channels padded to the backend's channelBlock), tensors and views, weights packed at
 * 64-element offsets as the planner does. Plus the comparison metric the native tests use.
 */
import type { Plan, PlanBuffer, PlanStep, PlanTensor, WeightRef } from '../../src/plan/types';
import type { RefTensor } from '../helpers/reference';

export class PlanKit {
  private readonly buffers: PlanBuffer[] = [];
  private readonly tensors: PlanTensor[] = [];
  private readonly steps: PlanStep[] = [];
  private readonly weightChunks: { offset: number; values: ArrayLike<number> }[] = [];
  private weightLength = 0;
  private arenaBytes = 0;

  constructor(
    readonly batch: number,
    readonly channelBlock: number,
  ) {}

  /** A new buffer [batch, c, h, w] and the tensor covering all of it. */
  map(c: number, h: number, w: number): number {
    const padded = Math.ceil(c / this.channelBlock) * this.channelBlock;
    const bytes = this.batch * padded * h * w * 4;
    const offset = Math.ceil(this.arenaBytes / 64) * 64;
    this.buffers.push({ offset, bytes, n: this.batch, c, h, w });
    this.arenaBytes = offset + bytes;
    return this.addTensor(this.buffers.length - 1, 0, c);
  }

  /** A channel slice [channelOffset, channelOffset + c) of the buffer under `tensor`. */
  view(tensor: number, channelOffset: number, c: number): number {
    return this.addTensor(this.tensors[tensor]!.buffer, channelOffset, c);
  }

  tensor(index: number): PlanTensor {
    return this.tensors[index]!;
  }

  weight(values: ArrayLike<number>): WeightRef {
    const offset = Math.ceil(this.weightLength / 64) * 64;
    this.weightChunks.push({ offset, values });
    this.weightLength = offset + values.length;
    return { offset, length: values.length };
  }

  add(step: PlanStep): this {
    this.steps.push(step);
    return this;
  }

  build(input: number, output: number): Plan {
    const weights = new Float32Array(Math.ceil(this.weightLength / 64) * 64 || 64);
    for (const chunk of this.weightChunks) weights.set(Array.from(chunk.values), chunk.offset);
    return {
      batch: this.batch,
      arenaBytes: Math.ceil(this.arenaBytes / 64) * 64,
      buffers: [...this.buffers],
      tensors: [...this.tensors],
      steps: [...this.steps],
      input,
      output,
      weights,
    };
  }

  private addTensor(buffer: number, channelOffset: number, c: number): number {
    const b = this.buffers[buffer]!;
    this.tensors.push({ buffer, channelOffset, n: b.n, c, h: b.h, w: b.w });
    return this.tensors.length - 1;
  }
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
