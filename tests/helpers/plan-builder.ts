/**
 * A small hand-built Plan for backend op tests (plain TS, no vitest: the GPU check runs it as
 * compiled JS). Buffers are laid out back to back per the backend's LayoutPolicy (channels
 * padded to its block, offsets aligned), tensors and channel views, weights packed at 64-element
 * offsets as the planner does.
 */
import type { LayoutPolicy, Plan, PlanBuffer, PlanStep, PlanTensor, WeightRef } from '../../src/plan/types';

export class PlanBuilder {
  private readonly buffers: PlanBuffer[] = [];
  private readonly tensors: PlanTensor[] = [];
  private readonly steps: PlanStep[] = [];
  private readonly chunks: { offset: number; values: ArrayLike<number> }[] = [];
  private weightLength = 0;
  private arenaBytes = 0;

  constructor(
    readonly batch: number,
    readonly policy: LayoutPolicy,
  ) {}

  /** A new buffer [batch, c, h, w]; returns the tensor covering all of it. */
  buffer(c: number, h: number, w: number): number {
    const padded = Math.ceil(c / this.policy.channelBlock) * this.policy.channelBlock;
    const bytes = this.batch * padded * h * w * this.policy.elementBytes;
    const offset = Math.ceil(this.arenaBytes / this.policy.alignment) * this.policy.alignment;
    this.buffers.push({ offset, bytes, n: this.batch, c, h, w });
    this.arenaBytes = offset + bytes;
    return this.addTensor(this.buffers.length - 1, 0, c);
  }

  /** The channel slice [channelOffset, channelOffset + c) of the buffer under `tensor`. */
  view(tensor: number, channelOffset: number, c: number): number {
    return this.addTensor(this.tensors[tensor]!.buffer, channelOffset, c);
  }

  tensor(index: number): PlanTensor {
    return this.tensors[index]!;
  }

  shape(tensor: number): [number, number, number, number] {
    const t = this.tensors[tensor]!;
    return [t.n, t.c, t.h, t.w];
  }

  weight(values: ArrayLike<number>): WeightRef {
    const offset = Math.ceil(this.weightLength / 64) * 64;
    this.chunks.push({ offset, values });
    this.weightLength = offset + values.length;
    return { offset, length: values.length };
  }

  add(step: PlanStep): this {
    this.steps.push(step);
    return this;
  }

  build(input: number, output: number): Plan {
    const weights = new Float32Array(Math.max(64, Math.ceil(this.weightLength / 64) * 64));
    for (const chunk of this.chunks) weights.set(Array.from(chunk.values), chunk.offset);
    return {
      batch: this.batch,
      arenaBytes: Math.ceil(this.arenaBytes / this.policy.alignment) * this.policy.alignment,
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
