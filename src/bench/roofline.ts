/**
 * What bounds each step of a GPU profile (issue 18 item 5): the fewest bytes a step must move
 * through device memory (each input read once, each output written once, its weights read once),
 * its FLOPs, and where its measured time sits against the two ceilings measured on the same GPU:
 * the memory-bandwidth roof (a device-to-device copy, bytes read + written per second) and the
 * dense matmul peak of its precision.
 *
 * Classification of a step with time t, floor_mem = bytes / roof and floor_math = FLOPs / peak:
 * - 'host transfer': the input and output conversions, whose profile entries include the copy
 *   between host and device (PCIe), not device memory;
 * - 'memory-bound' / 'compute-bound': the larger floor is at least half of t (the step runs at
 *   >= 50% of that roof), named by which floor is larger;
 * - 'launch/latency': neither, and the step takes under 20 us (a kernel that small is bound by its
 *   launch and its tail, not by either roof);
 * - 'under both roofs': neither, longer (an inefficient kernel: too little work in flight, extra
 *   passes, a poor algorithm); the nearer roof and its fraction are given.
 */
import type { Plan, PlanStep } from '../plan/types';

/** Bytes of one element and the channel padding of a buffer (the backend's LayoutPolicy). */
export interface ElementLayout {
  readonly elementBytes: number;
  readonly channelBlock: number;
}

const roundUp = (value: number, block: number): number => Math.ceil(value / block) * block;

/** Bytes of tensor `index` of the plan: n x (channels padded to the block) x h x w elements. */
export function tensorBytes(plan: Plan, index: number, layout: ElementLayout): number {
  const t = plan.tensors[index];
  if (t === undefined) throw new RangeError(`plan has no tensor ${index}`);
  return t.n * roundUp(t.c, layout.channelBlock) * t.h * t.w * layout.elementBytes;
}

function stepInputs(step: PlanStep): number[] {
  switch (step.op) {
    case 'residual_add':
    case 'concat':
      return [...step.inputs];
    case 'conv2d':
      return step.residual >= 0 ? [step.input, step.residual] : [step.input];
    default:
      return [step.input];
  }
}

function stepWeightElements(step: PlanStep): number {
  switch (step.op) {
    case 'conv2d':
    case 'linear':
      return step.weight.length + step.bias.length;
    case 'affine':
      return step.scale.length + step.shift.length;
    default:
      return 0;
  }
}

/**
 * The fewest bytes plan step `index` moves through device memory: its inputs (a residual too)
 * read once, its weights read once (in the arena's element size), its output written once.
 */
export function stepBytes(plan: Plan, index: number, layout: ElementLayout): number {
  const step = plan.steps[index];
  if (step === undefined) throw new RangeError(`plan has no step ${index}`);
  const reads = stepInputs(step).reduce((sum, t) => sum + tensorBytes(plan, t, layout), 0);
  return reads + stepWeightElements(step) * layout.elementBytes + tensorBytes(plan, step.output, layout);
}

/**
 * Bytes of the conversions' profile entries: the input entry copies the float32 batch from the
 * host and converts it (float32 read, arena layout written); the output entry the reverse.
 */
export function conversionBytes(plan: Plan, which: 'input' | 'output', layout: ElementLayout): number {
  const index = which === 'input' ? plan.input : plan.output;
  const t = plan.tensors[index]!;
  const float32 = t.n * t.c * t.h * t.w * 4;
  return float32 + tensorBytes(plan, index, layout);
}

export type Bound = 'host transfer' | 'memory-bound' | 'compute-bound' | 'launch/latency' | 'under both roofs';

export interface RoofPosition {
  readonly bound: Bound;
  /** The larger floor over the measured time: the fraction of the nearer roof the step reaches. */
  readonly roofFraction: number;
  /** Which floor is larger. */
  readonly nearer: 'memory' | 'compute';
  readonly bytesPerS: number;
  readonly flopsPerS: number;
}

/** Steps shorter than this are called launch/latency-bound when they reach neither roof's half. */
export const SHORT_STEP_MS = 0.02;
/** A step at or above this fraction of a roof is bound by it. */
export const BOUND_FRACTION = 0.5;

/**
 * Where one step sits: `bytes` and `flops` it must move and do in `ms`, against `roofBytesPerS`
 * and `peakFlopsPerS` (undefined: no peak measured; then only the memory floor counts).
 */
export function classifyStep(ms: number, bytes: number, flops: number, roofBytesPerS: number, peakFlopsPerS: number | undefined, hostTransfer = false): RoofPosition {
  if (!(ms > 0) || !(roofBytesPerS > 0)) throw new RangeError(`classifyStep needs a positive time and roof, got ${ms} ms and ${roofBytesPerS} B/s`);
  const seconds = ms / 1000;
  const memoryFloor = bytes / roofBytesPerS;
  const computeFloor = peakFlopsPerS !== undefined && peakFlopsPerS > 0 ? flops / peakFlopsPerS : 0;
  const nearer = computeFloor > memoryFloor ? 'compute' : 'memory';
  const roofFraction = Math.max(memoryFloor, computeFloor) / seconds;
  const base = { roofFraction, nearer, bytesPerS: bytes / seconds, flopsPerS: flops / seconds } as const;
  if (hostTransfer) return { ...base, bound: 'host transfer' };
  if (roofFraction >= BOUND_FRACTION) return { ...base, bound: nearer === 'compute' ? 'compute-bound' : 'memory-bound' };
  return { ...base, bound: ms < SHORT_STEP_MS ? 'launch/latency' : 'under both roofs' };
}
