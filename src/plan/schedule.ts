/**
 * Branch streams: which stream each plan step runs on and which earlier steps it must wait for,
 * derived from the real memory hazards of the plan, not from the graph's branch structure.
 *
 * Footprints. A step reads and writes plan tensors; a tensor is a channel slice of an arena
 * buffer. Two accesses touch common bytes when they are in the same buffer and their channel
 * ranges intersect (distinct channels of one buffer are distinct bytes in every layout a backend
 * uses: NCHW, NHWC, nChw8c), or when they are in different buffers whose arena byte ranges
 * [offset, offset + bytes) intersect (the arena reuses memory between buffers whose lifetimes do
 * not overlap; the whole reserved range is taken, so this is conservative for any batch n).
 *
 * Hazards. Step j (later) depends on step i (earlier) when i writes bytes j reads or writes
 * (read-after-write, write-after-write) or i reads bytes j writes (write-after-read). An in-place
 * residual conv reads and writes its output. The dependency graph is transitively reduced.
 *
 * Streams. Steps are issued in plan order; steps on one stream run in that order. A step continues
 * the stream of a direct predecessor that is still that stream's last step (a branch stays on its
 * stream); otherwise it takes a stream whose last step it already depends on (or an unused one),
 * else the stream whose last step is oldest (this only adds ordering, never removes it). Its
 * `waits` are the direct predecessors on other streams that are not already ordered before it
 * by its stream's earlier steps and its other waits. With streams = 1 every step is on stream 0
 * and nothing waits. Any stream assignment with these waits is correct: every hazard pair is
 * ordered by stream order and waits (tests/plan/schedule.test.ts proves it on the networks).
 */
import { InvalidArgumentError, PlanError } from '../errors';
import type { Interference } from './arena';
import type { Plan, PlanStep, PlanSchedule, StepSchedule } from './types';

export const MAX_STREAMS = 4;

/** Throws InvalidArgumentError unless `value` is an integer in 1..MAX_STREAMS. */
export function checkStreams(value: unknown, what = 'streams'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_STREAMS) {
    throw new InvalidArgumentError(`Expected an integer between 1 and ${MAX_STREAMS} for ${what} but received ${typeof value === 'number' ? String(value) : typeof value}`);
  }
  return value;
}

/** Largest maxBatch that gets several streams by default (see defaultStreams). */
export const MULTI_STREAM_MAX_BATCH = 16;

/**
 * The stream count when the session option is not given: 4 for maxBatch <= 16, else 1.
 * Measured on an H200 (bench/results/gpu-check-2026-11-27-h200-perf-s4.md, graph replay, same
 * algorithms, outputs bitwise equal): 4 streams gave 1.4-2.4x images/s at batch 1 and 1.2-1.6x at
 * batch 8 (inception_v4, inception_resnet_v2, fp16 and fp32), but only 1.00-1.10x at batch 64,
 * where one branch already fills the GPU, while concurrent branches need their own arena bytes
 * (inception_v4 +23%) and fp32 needs a workspace per stream (+130% at maxBatch 64).
 */
export function defaultStreams(maxBatch: number): number {
  return maxBatch <= MULTI_STREAM_MAX_BATCH ? MAX_STREAMS : 1;
}

/**
 * The stream count for a CUDA session: the INCEPTION_CUDA_STREAMS environment variable when set
 * (an A/B switch for GPU checks), else the option, else defaultStreams(maxBatch).
 */
export function resolveStreams(option: unknown, envValue: string | undefined, maxBatch: number): number {
  if (envValue !== undefined && envValue !== '') {
    if (!/^[1-9]$/.test(envValue) || Number(envValue) > MAX_STREAMS) {
      throw new InvalidArgumentError(`Expected an integer between 1 and ${MAX_STREAMS} for the environment variable INCEPTION_CUDA_STREAMS but received '${envValue}'; unset it to use the session option`);
    }
    return Number(envValue);
  }
  return option === undefined ? defaultStreams(maxBatch) : checkStreams(option);
}

/** One access of a step: a channel range of a buffer, read or written. */
export interface Access {
  readonly buffer: number;
  readonly channelStart: number;
  readonly channelEnd: number;
  readonly write: boolean;
}

type PlanShape = Pick<Plan, 'buffers' | 'tensors' | 'steps'>;

/** What a step reads and writes (an in-place residual conv both reads and writes its output). */
export function stepAccesses(plan: PlanShape, step: PlanStep): Access[] {
  const access = (tensor: number, write: boolean): Access => {
    const t = plan.tensors[tensor];
    if (t === undefined) throw new PlanError(`step '${step.name}' refers to tensor ${tensor}, which the plan does not have`);
    return { buffer: t.buffer, channelStart: t.channelOffset, channelEnd: t.channelOffset + t.c, write };
  };
  let reads: readonly number[];
  switch (step.op) {
    case 'concat':
    case 'residual_add':
      reads = step.inputs;
      break;
    case 'conv2d':
      reads = step.residual >= 0 ? [step.input, step.residual] : [step.input];
      break;
    default:
      reads = [step.input];
  }
  return [...reads.map((t) => access(t, false)), access(step.output, true)];
}

/** Whether two accesses touch common arena bytes (see the file comment). */
export function accessesOverlap(plan: PlanShape, a: Access, b: Access): boolean {
  if (a.buffer === b.buffer) return a.channelStart < b.channelEnd && b.channelStart < a.channelEnd;
  const x = plan.buffers[a.buffer]!;
  const y = plan.buffers[b.buffer]!;
  if (x.bytes === 0 || y.bytes === 0) return false;
  return x.offset < y.offset + y.bytes && y.offset < x.offset + x.bytes;
}

/** Whether step j (after i) has a hazard on step i: RAW, WAR or WAW on common bytes. */
export function conflicts(plan: PlanShape, a: readonly Access[], b: readonly Access[]): boolean {
  for (const x of a) for (const y of b) if ((x.write || y.write) && accessesOverlap(plan, x, y)) return true;
  return false;
}

/** A set of step indices as a bitset. */
class Bits {
  readonly words: Uint32Array;
  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
  }
  has(i: number): boolean {
    return (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }
  add(i: number): void {
    this.words[i >>> 5]! |= 1 << (i & 31);
  }
  addAll(other: Bits): void {
    for (let k = 0; k < this.words.length; k++) this.words[k]! |= other.words[k]!;
  }
}

/** Ancestor bitsets (strict, transitive) of a DAG given as predecessor lists. */
function ancestorSets(preds: readonly (readonly number[])[]): Bits[] {
  const result: Bits[] = [];
  preds.forEach((list, j) => {
    const anc = new Bits(preds.length);
    for (const p of list) {
      anc.add(p);
      anc.addAll(result[p]!);
    }
    result[j] = anc;
  });
  return result;
}

/**
 * Which buffers steps on concurrent streams could use at the same time, for the arena planner
 * (lower.ts, streams > 1): the data dependencies between steps within buffers (same buffer,
 * intersecting channels: what any arena layout keeps) give a partial order; buffers A and B may
 * share bytes only when every step touching A is ordered before every step touching B, or the
 * other way round. Otherwise the arena would reuse a branch's memory for a sibling branch and the
 * byte-level hazards (schedulePlan) would serialise the branches again.
 */
export function concurrentBuffers(plan: Pick<Plan, 'tensors' | 'steps'>, bufferCount: number): Interference {
  const shape = { buffers: [], tensors: plan.tensors, steps: plan.steps };
  const accesses = plan.steps.map((s) => stepAccesses(shape, s));
  const sameBufferConflict = (a: readonly Access[], b: readonly Access[]): boolean =>
    a.some((x) => b.some((y) => (x.write || y.write) && x.buffer === y.buffer && x.channelStart < y.channelEnd && y.channelStart < x.channelEnd));
  const preds = accesses.map((mine, j) => {
    const list: number[] = [];
    for (let i = 0; i < j; i++) if (sameBufferConflict(accesses[i]!, mine)) list.push(i);
    return list;
  });
  const anc = ancestorSets(preds);
  const steps = plan.steps.length;
  const touching = Array.from({ length: bufferCount }, () => new Bits(steps));
  accesses.forEach((list, j) => list.forEach((a) => touching[a.buffer]!.add(j)));
  // Steps ordered before every step touching the buffer.
  const before = touching.map((t) => {
    const common = new Bits(steps);
    common.words.fill(0xffffffff);
    for (let j = 0; j < steps; j++) if (t.has(j)) for (let k = 0; k < common.words.length; k++) common.words[k]! &= anc[j]!.words[k]!;
    return common;
  });
  const subset = (a: Bits, b: Bits): boolean => a.words.every((w, k) => (w & ~b.words[k]!) === 0);
  const matrix = new Uint8Array(bufferCount * bufferCount);
  for (let a = 0; a < bufferCount; a++)
    for (let b = a + 1; b < bufferCount; b++) {
      const ordered = subset(touching[a]!, before[b]!) || subset(touching[b]!, before[a]!);
      if (!ordered) matrix[a * bufferCount + b] = matrix[b * bufferCount + a] = 1;
    }
  return (i, j) => matrix[i * bufferCount + j] === 1;
}

/** For each step, the earlier steps it has a hazard on (ascending). */
export function hazardPredecessors(plan: PlanShape): number[][] {
  const accesses = plan.steps.map((s) => stepAccesses(plan, s));
  return accesses.map((mine, j) => {
    const preds: number[] = [];
    for (let i = 0; i < j; i++) if (conflicts(plan, accesses[i]!, mine)) preds.push(i);
    return preds;
  });
}

/** Adds step p and everything ordered before it (ancestors[p]) to `set`. */
function addWithAncestors(set: Bits, p: number, ancestors: readonly Bits[]): void {
  set.add(p);
  set.addAll(ancestors[p]!);
}

/**
 * The steps of `preds` that `covered` does not already order, ascending. Latest first: a later
 * step's ancestors can only cover earlier ones. `covered` grows by each kept step and its ancestors.
 */
function keepUncovered(preds: readonly number[], covered: Bits, ancestors: readonly Bits[]): number[] {
  const kept: number[] = [];
  for (const p of [...preds].sort((x, y) => y - x)) {
    if (covered.has(p)) continue;
    kept.push(p);
    addWithAncestors(covered, p, ancestors);
  }
  return kept.sort((x, y) => x - y);
}

/** The transitive reduction of a DAG given as predecessor lists (every predecessor index < its step). */
export function transitiveReduction(preds: readonly (readonly number[])[]): number[][] {
  const ancestors: Bits[] = [];
  return preds.map((list, j): number[] => {
    const anc = new Bits(preds.length);
    const direct = keepUncovered(list, anc, ancestors);
    ancestors[j] = anc;
    return direct;
  });
}

/** Assigns streams and waits from the reduced hazard graph (see the file comment). */
export function assignStreams(reduced: readonly (readonly number[])[], streams: number): StepSchedule[] {
  checkStreams(streams);
  const count = reduced.length;
  const tail = new Array<number>(streams).fill(-1);
  // Everything ordered before a step (stream order and waits, transitively), itself excluded.
  const before: Bits[] = [];
  const result: StepSchedule[] = [];
  for (let j = 0; j < count; j++) {
    const preds = reduced[j]!;
    const predSet = new Set(preds);
    let stream = -1;
    // 1. Continue the stream of a direct predecessor that is still its stream's last step.
    for (let s = 0; s < streams && stream < 0; s++) if (tail[s]! >= 0 && predSet.has(tail[s]!)) stream = s;
    // 2. A stream whose last step is already ordered before this one (through its predecessors), or an unused one.
    if (stream < 0) {
      const reach = new Bits(count);
      for (const p of preds) addWithAncestors(reach, p, before);
      for (let s = 0; s < streams && stream < 0; s++) if (tail[s]! < 0 || reach.has(tail[s]!)) stream = s;
    }
    // 3. The stream whose last step is oldest.
    if (stream < 0) {
      stream = 0;
      for (let s = 1; s < streams; s++) if (tail[s]! < tail[stream]!) stream = s;
    }
    const mine = new Bits(count);
    const previous = tail[stream]!;
    if (previous >= 0) addWithAncestors(mine, previous, before);
    const waits = keepUncovered(preds, mine, before);
    before[j] = mine;
    tail[stream] = j;
    result.push({ stream, waits });
  }
  return result;
}

/** The schedule of a plan on `streams` streams. */
export function schedulePlan(plan: PlanShape, streams: number): PlanSchedule {
  checkStreams(streams);
  if (streams === 1) return { streams, steps: plan.steps.map(() => ({ stream: 0, waits: [] })) };
  return { streams, steps: assignStreams(transitiveReduction(hazardPredecessors(plan)), streams) };
}

/** Throws PlanError when a schedule does not fit its plan (stream range, wait indices). */
export function checkSchedule(plan: PlanShape, schedule: PlanSchedule): void {
  checkStreams(schedule.streams, 'schedule.streams');
  if (schedule.steps.length !== plan.steps.length) throw new PlanError(`the schedule has ${schedule.steps.length} entries for ${plan.steps.length} steps`);
  schedule.steps.forEach((s, j) => {
    if (!Number.isInteger(s.stream) || s.stream < 0 || s.stream >= schedule.streams) throw new PlanError(`schedule.steps[${j}].stream ${s.stream} is outside 0..${schedule.streams - 1}`);
    for (const w of s.waits) if (!Number.isInteger(w) || w < 0 || w >= j) throw new PlanError(`schedule.steps[${j}] waits for step ${w}; a step can only wait for an earlier one`);
    s.waits.forEach((w, k) => {
      // The native decoder requires it too: one rule on both sides of the ABI.
      if (k > 0 && w <= s.waits[k - 1]!) throw new PlanError(`schedule.steps[${j}].waits must be ascending without repeats; got [${s.waits.join(', ')}]`);
    });
  });
}

/**
 * The session option `streams` (CUDA only): resolveStreams for device 'cuda'; for 'cpu' only
 * undefined or 1 is accepted (the CPU backend runs the steps in order) and the environment is ignored.
 */
export function sessionStreams(option: unknown, device: 'cpu' | 'cuda', envValue: string | undefined, maxBatch: number): number {
  if (device === 'cuda') return resolveStreams(option, envValue, maxBatch);
  if (option !== undefined && option !== 1) {
    checkStreams(option);
    throw new InvalidArgumentError("streams applies to device 'cuda' only (the CPU backend runs the steps in order); remove it for 'cpu'");
  }
  return 1;
}
