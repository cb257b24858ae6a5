import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, PlanError } from '../../src/errors';
import type { Graph, WeightStore } from '../../src/graph/ir';
import { getModel } from '../../src/models/registry';
import { optimize } from '../../src/optimize';
import { lowerToPlan } from '../../src/plan/lower';
import {
  checkSchedule,
  checkStreams,
  concurrentBuffers,
  hazardPredecessors,
  resolveStreams,
  schedulePlan,
  transitiveReduction,
} from '../../src/plan/schedule';
import type { LayoutPolicy, Plan, PlanBuffer, PlanSchedule, PlanStep, PlanTensor } from '../../src/plan/types';
import { yieldToEventLoop } from '../../src/runtime/event-loop';
import { makeRng } from '../helpers/random-graph';
import { checkLayout } from './layout-invariants';
import { type PhysicalLayout, blockOf, happensBefore, randomOrder, simulate, unorderedConflicts, width } from './schedule-check';

type PlanShape = Pick<Plan, 'buffers' | 'tensors' | 'steps'>;

// ---- hand-made plans ----------------------------------------------------------------------

const buffer = (offset: number, c: number, hw = 2): PlanBuffer => ({ offset, bytes: c * hw * hw * 4, n: 1, c, h: hw, w: hw });
const tensor = (b: number, channelOffset: number, c: number, hw = 2): PlanTensor => ({ buffer: b, channelOffset, n: 1, c, h: hw, w: hw });
const relu = (name: string, input: number, output: number): PlanStep => ({ op: 'relu', name, input, output });
const conv = (name: string, input: number, output: number, residual = -1): PlanStep => ({
  op: 'conv2d',
  name,
  input,
  output,
  residual,
  weight: { offset: 0, length: 1 },
  bias: { offset: 0, length: 1 },
  kernel: [1, 1],
  stride: [1, 1],
  pad: [0, 0],
  relu: false,
});
const nchw: PhysicalLayout = { kind: 'nchw', elementBytes: 4, channelBlock: 1 };

/** Asserts that no conflicting pair is unordered and that random orders read and overwrite what plan order does. */
function expectSafe(plan: PlanShape, schedule: PlanSchedule, layout: PhysicalLayout, orders = 20, seed = 1): void {
  checkSchedule(plan, schedule);
  expect(unorderedConflicts(plan, schedule, layout)).toEqual([]);
  const sequential = simulate(plan, plan.steps.map((_, j) => j), layout);
  const random = makeRng(seed);
  for (let k = 0; k < orders; k++) {
    const order = randomOrder(schedule, random);
    expect(order).toHaveLength(plan.steps.length);
    expect(simulate(plan, order, layout)).toEqual(sequential);
  }
}


describe('hazard analysis on hand-made plans', () => {
  // x (buffer 0) -> two branches writing channel slices [0,2) and [2,4) of buffer 1 -> a reader of buffer 1.
  const fork: PlanShape = {
    buffers: [buffer(0, 2), buffer(32, 4), buffer(96, 4)],
    tensors: [tensor(0, 0, 2), tensor(1, 0, 2), tensor(1, 2, 2), tensor(1, 0, 4), tensor(2, 0, 4)],
    steps: [relu('a', 0, 1), relu('b', 0, 2), conv('c', 3, 4)],
  };

  it('sibling branches writing disjoint slices of one buffer are independent; their reader waits for both', () => {
    expect(hazardPredecessors(fork)).toEqual([[], [], [0, 1]]);
    const s = schedulePlan(fork, 2);
    expect(s.steps).toEqual([
      { stream: 0, waits: [] },
      { stream: 1, waits: [] },
      { stream: 0, waits: [1] },
    ]);
    expectSafe(fork, s, nchw);
  });

  it('overlapping slices of one buffer are a write-after-write hazard', () => {
    const plan: PlanShape = { ...fork, tensors: [...fork.tensors.slice(0, 2), tensor(1, 1, 2), ...fork.tensors.slice(3)] };
    expect(hazardPredecessors(plan)).toEqual([[], [0], [0, 1]]);
    expect(transitiveReduction(hazardPredecessors(plan))).toEqual([[], [0], [1]]);
    expectSafe(plan, schedulePlan(plan, 4), nchw);
  });

  it('a write into another buffer that shares arena bytes with a buffer read earlier is a write-after-read hazard', () => {
    // b reads buffer 1; c writes buffer 2 placed over buffer 1's bytes; d reads buffer 0 only (independent).
    const plan: PlanShape = {
      buffers: [buffer(0, 2), buffer(32, 2), buffer(48, 2), buffer(96, 2)],
      tensors: [tensor(0, 0, 2), tensor(1, 0, 2), tensor(2, 0, 2), tensor(3, 0, 2)],
      steps: [relu('a', 0, 1), relu('b', 1, 3), relu('c', 0, 2), relu('d', 0, 0)],
    };
    const preds = hazardPredecessors(plan);
    expect(preds[2]).toEqual([0, 1]); // c overwrites what a wrote (WAW) and b reads (WAR)
    expect(preds[3]).toEqual([0, 2]); // d rewrites x in place, which a and c read
    const s = schedulePlan(plan, 4);
    expectSafe(plan, s, nchw);
    // Moved apart in the arena, c no longer waits for b.
    const apart: PlanShape = { ...plan, buffers: [buffer(0, 2), buffer(32, 2), buffer(128, 2), buffer(96, 2)] };
    expect(hazardPredecessors(apart)[2]).toEqual([]);
    expectSafe(apart, schedulePlan(apart, 4), nchw);
  });

  it('an in-place residual conv reads and writes its output: it waits for earlier readers and writers of it', () => {
    // a writes r; b reads r into y; c accumulates into r in place (residual = output); d reads r.
    const plan: PlanShape = {
      buffers: [buffer(0, 2), buffer(32, 2), buffer(64, 2), buffer(96, 2)],
      tensors: [tensor(0, 0, 2), tensor(1, 0, 2), tensor(2, 0, 2), tensor(3, 0, 2)],
      steps: [relu('a', 0, 1), relu('b', 1, 2), conv('c', 0, 1, 1), relu('d', 1, 3)],
    };
    expect(hazardPredecessors(plan)).toEqual([[], [0], [0, 1], [0, 2]]); // d reads r: written by a, then by c
    expect(transitiveReduction(hazardPredecessors(plan))).toEqual([[], [0], [1], [2]]);
    expectSafe(plan, schedulePlan(plan, 3), nchw);
  });

  it('the checker catches a schedule that drops a needed wait', () => {
    const s = schedulePlan(fork, 2);
    const broken: PlanSchedule = { streams: 2, steps: [s.steps[0]!, s.steps[1]!, { stream: 0, waits: [] }] };
    expect(unorderedConflicts(fork, broken, nchw)).toEqual([{ i: 1, j: 2 }]);
    // Some random order runs c before b: c then reads a slice b has not written yet.
    const sequential = simulate(fork, [0, 1, 2], nchw);
    expect(simulate(fork, [0, 2, 1], nchw)).not.toEqual(sequential);
  });

  it('streams = 1 puts every step on stream 0 with no waits', () => {
    expect(schedulePlan(fork, 1)).toEqual({ streams: 1, steps: [0, 1, 2].map(() => ({ stream: 0, waits: [] })) });
  });

  it('more independent branches than streams: the extra ones queue behind the oldest stream, still safe', () => {
    // x -> 6 independent relus into 6 buffers.
    const plan: PlanShape = {
      buffers: Array.from({ length: 7 }, (_, b) => buffer(b * 32, 2)),
      tensors: Array.from({ length: 7 }, (_, b) => tensor(b, 0, 2)),
      steps: Array.from({ length: 6 }, (_, k) => relu(`r${k}`, 0, k + 1)),
    };
    const s = schedulePlan(plan, 2);
    expect(s.steps.map((e) => e.stream)).toEqual([0, 1, 0, 1, 0, 1]);
    expect(s.steps.every((e) => e.waits.length === 0)).toBe(true);
    expectSafe(plan, s, nchw);
  });

  it('concurrentBuffers: branch buffers may be live together, a chain\'s buffers may not', () => {
    // Chain x -> y -> z: y and z are ordered (y's steps before z's last); fork: buffers 1 and 2 are siblings.
    const chain: PlanShape = {
      buffers: [buffer(0, 2), buffer(32, 2), buffer(64, 2)],
      tensors: [tensor(0, 0, 2), tensor(1, 0, 2), tensor(2, 0, 2)],
      steps: [relu('a', 0, 1), relu('b', 1, 2)],
    };
    const c = concurrentBuffers(chain, 3);
    expect(c(0, 2)).toBe(false); // x is touched by a only, z by b only, and b reads what a wrote
    const siblings: PlanShape = {
      buffers: [buffer(0, 2), buffer(32, 2), buffer(64, 2), buffer(96, 2)],
      tensors: [tensor(0, 0, 2), tensor(1, 0, 2), tensor(2, 0, 2), tensor(3, 0, 2)],
      steps: [relu('a', 0, 1), relu('b', 1, 3), relu('c', 0, 2)],
    };
    const s = concurrentBuffers(siblings, 4);
    expect(s(1, 2)).toBe(true); // a/b's buffer 1 and c's buffer 2: no order between b and c
    expect(s(2, 1)).toBe(true);
  });

  it('rejects bad stream counts and malformed schedules with typed errors', () => {
    for (const bad of [0, 5, 1.5, '2', null]) expect(() => checkStreams(bad)).toThrow(InvalidArgumentError);
    expect(checkStreams(4)).toBe(4);
    expect(resolveStreams(undefined, undefined, 64)).toBe(1);
    expect(resolveStreams(undefined, undefined, 16)).toBe(4);
    expect(resolveStreams(3, undefined, 64)).toBe(3);
    expect(resolveStreams(1, undefined, 1)).toBe(1);
    expect(resolveStreams(3, '2', 64)).toBe(2);
    expect(resolveStreams(undefined, '', 64)).toBe(1);
    for (const env of ['0', '5', 'x', '1.5', '12']) expect(() => resolveStreams(undefined, env, 8)).toThrow(/INCEPTION_CUDA_STREAMS/);
    expect(() => resolveStreams(7, undefined, 8)).toThrow(InvalidArgumentError);
    expect(() => checkSchedule(fork, { streams: 2, steps: [] })).toThrow(PlanError);
    expect(() => checkSchedule(fork, { streams: 2, steps: [{ stream: 0, waits: [] }, { stream: 2, waits: [] }, { stream: 0, waits: [] }] })).toThrow(/outside 0..1/);
    expect(() => checkSchedule(fork, { streams: 2, steps: [{ stream: 0, waits: [] }, { stream: 1, waits: [1] }, { stream: 0, waits: [] }] })).toThrow(/earlier one/);
    // Unsorted or repeated waits: the native decoder refuses them, so the TS check does too.
    expect(() => checkSchedule(fork, { streams: 2, steps: [{ stream: 0, waits: [] }, { stream: 1, waits: [] }, { stream: 0, waits: [1, 0] }] })).toThrow(/ascending/);
    expect(() => checkSchedule(fork, { streams: 2, steps: [{ stream: 0, waits: [] }, { stream: 1, waits: [] }, { stream: 0, waits: [1, 1] }] })).toThrow(/ascending/);
  });
});

// ---- the networks -------------------------------------------------------------------------

const CUDA_FP32: LayoutPolicy = { elementBytes: 4, channelBlock: 1, alignment: 256, concatViews: true };
const CUDA_FP16: LayoutPolicy = { elementBytes: 2, channelBlock: 8, alignment: 256, concatViews: true };
const LAYOUTS: readonly { name: string; policy: LayoutPolicy; physical: PhysicalLayout }[] = [
  { name: 'fp32 NCHW', policy: CUDA_FP32, physical: { kind: 'nchw', elementBytes: 4, channelBlock: 1 } },
  { name: 'fp16 NHWC/8', policy: CUDA_FP16, physical: { kind: 'nhwc', elementBytes: 2, channelBlock: 8 } },
];

function constantWeights(graph: Graph): WeightStore {
  return new Map(graph.params.map((p) => [p.name, new Float32Array(p.shape.reduce((a, b) => a * b, 1)).fill(p.name.endsWith('running_var') ? 1 : 0.01)]));
}

describe.each(['inception_v4', 'inception_resnet_v2', 'inception_resnet_v1'] as const)('%s schedules', (name) => {
  const model = getModel(name);
  const size = model.preprocessing.inputSize;
  // The optimised graph of the batch being tested, shared by its two layout cases (building and
  // folding it costs seconds; only one batch's copy of the weights is held at a time).
  let optimised: { batch: number; value: ReturnType<typeof optimize> } | undefined;
  const optimisedAt = (batch: number): ReturnType<typeof optimize> => {
    if (optimised?.batch !== batch) {
      optimised = undefined;
      const graph = model.build({ batch, height: size, width: size });
      optimised = { batch, value: optimize(graph, constantWeights(graph)) };
    }
    return optimised.value;
  };
  // Batch 8 in NCHW only, and on inception_v4 only: the hazard structure does not depend on the
  // batch (only byte sizes do), NCHW is the layout whose random orders are replayed, and NHWC/8 is
  // checked exhaustively at batch 1; each network case costs seconds on two cores.
  const cases: readonly (readonly [number, string])[] = [
    [1, LAYOUTS[0]!.name],
    [1, LAYOUTS[1]!.name],
    ...(name === 'inception_v4' ? [[8, LAYOUTS[0]!.name] as const] : []),
  ];

  it.each(cases)('batch %i, %s: every hazard ordered on 1, 2 and 4 streams; random orders read what plan order reads', async (batch, layoutName) => {
    const layout = LAYOUTS.find((l) => l.name === layoutName)!;
    const opt = optimisedAt(batch);
    const lines: string[] = [];
    // streams = 1 is the sequential plan the others must keep the step order of.
    let base: Plan | undefined;
    // 1 (sequential), 2 (fewer streams than a block's 3 or 4 branches: they queue) and 4 (the most).
    for (const streams of [1, 2, 4]) {
      await yieldToEventLoop(); // lowering takes ~1 s: let the worker answer vitest's RPC between cases
      const { plan } = lowerToPlan(opt.graph, opt.weights, layout.policy, { streams });
      base ??= plan;
      const schedule = plan.schedule!;
      checkLayout(plan, layout.policy);
      expect(schedule.streams).toBe(streams);
      expect(plan.steps.map((s) => s.name)).toEqual(base.steps.map((s) => s.name));
      // Exhaustive: every pair of steps whose exact byte footprints conflict is ordered.
      expect(unorderedConflicts(plan, schedule, layout.physical)).toEqual([]);
      // Random executions consistent with stream order + waits (NCHW shadow memory: per-image intervals;
      // the NHWC per-pixel shadow is too large to replay many times, its pairs are covered above).
      if (layout.physical.kind === 'nchw') {
        const sequential = simulate(plan, plan.steps.map((_, j) => j), layout.physical);
        const random = makeRng(streams * 100 + batch);
        for (let k = 0; k < 6; k++) expect(simulate(plan, randomOrder(schedule, random), layout.physical)).toEqual(sequential);
      }
      if (streams === 1) expect(schedule.steps.every((s) => s.stream === 0 && s.waits.length === 0)).toBe(true);
      if (streams === 4) lines.push(concurrencyReport(name, batch, layout.name, plan, base.arenaBytes));
    }
    console.log(lines.join('\n'));
  });
});

/** How many steps of each block could run at once (hazard DAG width) and how many streams the schedule uses there. */
function concurrencyReport(name: string, batch: number, layout: string, plan: Plan, arenaOneStream: number): string {
  const reduced = transitiveReduction(hazardPredecessors(plan));
  const closure = happensBefore({ streams: 1, steps: reduced.map((waits, j) => ({ stream: j, waits })) });
  const blocks = new Map<string, number[]>();
  plan.steps.forEach((s, j) => blocks.set(blockOf(s.name), [...(blocks.get(blockOf(s.name)) ?? []), j]));
  const histogram = new Map<string, number>();
  let widest = 0;
  for (const members of blocks.values()) {
    const w = width(members, closure);
    const used = new Set(members.map((j) => plan.schedule!.steps[j]!.stream)).size;
    widest = Math.max(widest, w);
    const key = `${w}/${used}`;
    histogram.set(key, (histogram.get(key) ?? 0) + 1);
  }
  // Blocks of parallel branches must be found concurrent (the whole point of the schedule).
  expect(widest).toBeGreaterThanOrEqual(name === 'inception_v4' ? 4 : 3);
  const waits = plan.schedule!.steps.reduce((a, s) => a + s.waits.length, 0);
  const hist = [...histogram.entries()].sort().map(([k, v]) => `${v}x(width ${k.split('/')[0]}, ${k.split('/')[1]} streams)`).join(', ');
  return `${name} b${batch} ${layout} 4 streams: ${blocks.size} blocks: ${hist}; ${waits} event waits; arena ${(plan.arenaBytes / 2 ** 20).toFixed(1)} MiB vs ${(arenaOneStream / 2 ** 20).toFixed(1)} MiB on 1 stream`;
}
