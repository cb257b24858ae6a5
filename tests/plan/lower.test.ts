import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../src/graph/ir';
import { optimize } from '../../src/optimize';
import { lowerToPlan } from '../../src/plan/lower';
import type { LayoutPolicy, Plan } from '../../src/plan/types';
import { maxRelativeError } from '../helpers/compare';
import { checkLayout } from './layout-invariants';
import { interpretPlan } from '../helpers/plan-interpreter';
import { TestGraphBuilder, arbitraryGraph, randomGraph, randomInput, randomWeights } from '../helpers/random-graph';
import { referenceForward } from '../helpers/reference';

const plain = (concatViews: boolean): LayoutPolicy => ({ elementBytes: 4, channelBlock: 1, alignment: 64, concatViews });
const blocked: LayoutPolicy = { elementBytes: 4, channelBlock: 8, alignment: 64, concatViews: true };

// Plan vs reference: the interpreter keeps activations in a float32 arena and the folded weights
// are float32, so each layer adds ~1e-7 relative rounding; 1e-5 relative to the output magnitude
// leaves a wide margin (observed worst ~2e-7) while aliasing/view bugs give O(1) errors or NaN.
const TOLERANCE = 1e-5;

const stepNames = (plan: Plan): string[] => plan.steps.map((s) => `${s.op}:${s.name}`);
const bufferOf = (plan: Plan, tensor: number): number => plan.tensors[tensor]!.buffer;

function convAt(plan: Plan, name: string): Extract<Plan['steps'][number], { op: 'conv2d' }> {
  const step = plan.steps.find((s) => s.name === name);
  if (step?.op !== 'conv2d') throw new Error(`no conv step ${name}`);
  return step;
}

describe('lowerToPlan golden plans (exact offsets)', () => {
  it('chain conv -> relu -> conv: offsets and lifetimes', () => {
    // X [1,1,4,4] 64 B (input, steps 0-2), A [1,2,4,4] 128 B (0-1), B 128 B (1-2), C [1,1,4,4] 64 B (output, 0-2).
    // Largest first: A at 0; B live with A -> 128; X live with both -> 256; C -> 320. Arena 384 = lower bound (step 1).
    const b = new TestGraphBuilder();
    const x = b.tensor([1, 1, 4, 4]);
    const graph = b.finish(x, b.conv(b.relu(b.conv(x, 2, [1, 1], [1, 1], [0, 0])), 1, [3, 3], [1, 1], [1, 1]));
    const { plan, report } = lowerToPlan(graph, randomWeights(graph, 3), plain(true));
    expect(stepNames(plan)).toEqual(['conv2d:n0.conv', 'relu:n1.relu', 'conv2d:n2.conv']);
    expect(plan.buffers.map((buf) => [buf.offset, buf.bytes])).toEqual([
      [256, 64],
      [0, 128],
      [128, 128],
      [320, 64],
    ]);
    expect(report).toEqual({ arenaBytes: 384, naiveBytes: 384, lowerBoundBytes: 384, weightBytes: 4 * (64 + 64 + 64 + 64) });
    expect(plan.batch).toBe(1);
    expect(plan.input).toBe(0);
    expect(plan.output).toBe(3);
    // weights: each ref 64-element aligned; a conv without bias gets zeros
    const conv0 = convAt(plan, 'n0.conv');
    expect([conv0.weight, conv0.bias]).toEqual([
      { offset: 0, length: 2 },
      { offset: 64, length: 2 },
    ]);
    expect([...plan.weights.subarray(64, 66)]).toEqual([0, 0]);
  });

  function residualGraph(reuseLater: boolean): Graph {
    const b = new TestGraphBuilder();
    const x = b.tensor([1, 2, 2, 2]);
    const a = b.conv(x, 2, [1, 1], [1, 1], [0, 0]);
    const h = b.conv(a, 2, [1, 1], [1, 1], [0, 0]);
    const r = b.residualConv(h, a, 0.5, true); // a + 0.5 (conv(h) + b)
    const out = reuseLater ? b.concat([r, a]) : r;
    return b.finish(x, b.conv(out, 2, [1, 1], [1, 1], [0, 0]));
  }

  it('residual conv whose residual input dies there: output aliases it, nothing inserted', () => {
    const graph = residualGraph(false);
    const { plan } = lowerToPlan(graph, randomWeights(graph, 4), plain(true));
    expect(stepNames(plan)).toEqual(['conv2d:n0.conv', 'conv2d:n1.conv', 'conv2d:n2.resconv', 'conv2d:n3.conv']);
    const res = convAt(plan, 'n2.resconv');
    expect(res.residual).toBe(res.output);
    expect(bufferOf(plan, res.output)).toBe(bufferOf(plan, convAt(plan, 'n0.conv').output));
    // X, A (= R), H, out: 32 B each, 64 B apart (alignment). Lifetimes X 0-3, A/R 0-3 (A written at
    // step 0, R read at step 3), H 1-2, out 0-3: all overlap at step 1, so four slots; equal sizes go
    // by first use then index: X 0, A 64, out 128, H 192.
    expect(plan.buffers.map((buf) => buf.offset)).toEqual([0, 64, 192, 128]);
    expect(plan.arenaBytes).toBe(256);
    // weights pre-multiplied by the residual scale 0.5
    const w = randomWeights(graph, 4);
    expect(plan.weights[res.weight.offset]).toBe(Math.fround(w.get('n2.resconv.weight')![0]! * 0.5));
  });

  it('residual conv whose residual input is read later: fresh buffer, copy step first', () => {
    const graph = residualGraph(true);
    const { plan } = lowerToPlan(graph, randomWeights(graph, 4), plain(true));
    // (the concat copies too: its pieces are a residual conv's output and a residual input)
    expect(stepNames(plan)).toEqual(['conv2d:n0.conv', 'conv2d:n1.conv', 'concat:n2.resconv:residual-copy', 'conv2d:n2.resconv', 'concat:n3.concat', 'conv2d:n4.conv']);
    const copy = plan.steps[2]!;
    const res = convAt(plan, 'n2.resconv');
    expect(copy).toMatchObject({ op: 'concat', inputs: [convAt(plan, 'n0.conv').output], output: res.output });
    expect(res.residual).toBe(res.output);
    expect(bufferOf(plan, res.output)).not.toBe(bufferOf(plan, convAt(plan, 'n0.conv').output));
  });

  function branchesGraph(channels: number): Graph {
    const b = new TestGraphBuilder();
    const x = b.tensor([1, 3, 4, 4]);
    const c = b.concat([b.conv(x, channels, [1, 1], [1, 1], [0, 0]), b.pool(x, 'max', [3, 3], [1, 1], [1, 1])]);
    return b.finish(x, b.conv(c, 4, [1, 1], [1, 1], [0, 0]));
  }

  it('concat as views: producers write into channel slices of one buffer, no concat step', () => {
    const graph = branchesGraph(8);
    const { plan, report } = lowerToPlan(graph, randomWeights(graph, 5), blocked);
    expect(stepNames(plan)).toEqual(['conv2d:n0.conv', 'maxpool2d:n1.maxpool2d', 'conv2d:n3.conv']);
    const conv = plan.tensors[plan.steps[0]!.output]!;
    const pool = plan.tensors[plan.steps[1]!.output]!;
    expect(conv).toMatchObject({ channelOffset: 0, c: 8 });
    expect(pool).toMatchObject({ channelOffset: 8, c: 3, buffer: conv.buffer });
    const concatBuffer = plan.buffers[conv.buffer]!;
    expect([concatBuffer.c, concatBuffer.bytes]).toEqual([11, 16 * 16 * 4]); // 11 channels padded to 16
    // buffers: X [1,3->8,4,4] 512 B, concat 1024 B, out [1,4->8,4,4] 512 B; all live at step 1
    expect(report.lowerBoundBytes).toBe(512 + 1024 + 512);
    expect(report.arenaBytes).toBe(2048);
    // largest first: the concat buffer at 0, then X (index 0) at 1024, then out at 1536
    expect(plan.buffers[conv.buffer]!.offset).toBe(0);
    expect(plan.buffers[plan.tensors[plan.input]!.buffer]!.offset).toBe(1024);
    expect(plan.buffers[plan.tensors[plan.output]!.buffer]!.offset).toBe(1536);
  });

  it('concat falls back to a copy step when a piece is misaligned or views are off', () => {
    for (const [graph, policy] of [
      [branchesGraph(4), blocked], // the pool piece would start at channel 4, not a multiple of 8
      [branchesGraph(8), { ...blocked, concatViews: false }],
    ] as const) {
      const { plan } = lowerToPlan(graph, randomWeights(graph, 5), policy);
      expect(stepNames(plan)).toEqual(['conv2d:n0.conv', 'maxpool2d:n1.maxpool2d', 'concat:n2.concat', 'conv2d:n3.conv']);
      expect(plan.tensors.every((t) => t.channelOffset === 0)).toBe(true);
    }
  });

  it('a piece that is the graph input makes the concat copy', () => {
    const b = new TestGraphBuilder();
    const x = b.tensor([1, 8, 2, 2]);
    const graph = b.finish(x, b.concat([b.conv(x, 8, [1, 1], [1, 1], [0, 0]), x]));
    const { plan } = lowerToPlan(graph, randomWeights(graph, 6), blocked);
    expect(plan.steps.map((s) => s.op)).toEqual(['conv2d', 'concat']);
  });
});

describe('lowerToPlan on random graphs', () => {
  it.each([true, false])('interpretPlan(lowerToPlan(optimize(g))) == referenceForward(g), concatViews %s', (concatViews) => {
    fc.assert(
      fc.property(arbitraryGraph(), ({ graph, weights, input }) => {
        const expected = referenceForward(graph, weights, input);
        const opt = optimize(graph, weights);
        const { plan } = lowerToPlan(opt.graph, opt.weights, plain(concatViews));
        checkLayout(plan, plain(concatViews));
        expect(maxRelativeError(interpretPlan(plan, input, plan.batch), expected)).toBeLessThan(TOLERANCE);
      }),
      { numRuns: 40, seed: 7 },
    );
  });

  it('unoptimised graphs lower and run too (affine, relu, residual_add steps)', () => {
    fc.assert(
      fc.property(arbitraryGraph(), ({ graph, weights, input }) => {
        const { plan } = lowerToPlan(graph, weights, plain(true));
        expect(plan.steps.length).toBeGreaterThanOrEqual(graph.nodes.filter((n) => n.op !== 'concat').length);
        expect(maxRelativeError(interpretPlan(plan, input, plan.batch), referenceForward(graph, weights, input))).toBeLessThan(TOLERANCE);
      }),
      { numRuns: 25, seed: 11 },
    );
  });

  it('runs n < plan.batch images with the same offsets', () => {
    for (let seed = 100; seed < 115; seed++) {
      const graph = randomGraph(seed, { maxBatch: 4 });
      const batch = graph.tensors[graph.input]!.shape[0]!;
      if (batch < 2) continue;
      const weights = randomWeights(graph, seed);
      const n = 1 + (seed % (batch - 1));
      const input = randomInput(graph, seed, n);
      // the reference on the same graph rebuilt at batch n
      const small: Graph = { ...graph, tensors: graph.tensors.map((t) => ({ ...t, shape: [n, ...t.shape.slice(1)] })) };
      const opt = optimize(graph, weights);
      const { plan } = lowerToPlan(opt.graph, opt.weights, plain(true));
      expect(plan.batch).toBe(batch);
      expect(maxRelativeError(interpretPlan(plan, input, n), referenceForward(small, weights, input))).toBeLessThan(TOLERANCE);
    }
  });

  it('no two live buffers overlap, views are in bounds and aligned (blocked layout, channelBlock 8)', () => {
    fc.assert(
      fc.property(arbitraryGraph({ maxBatch: 8 }), ({ graph, weights }) => {
        const opt = optimize(graph, weights);
        const { plan, report } = lowerToPlan(opt.graph, opt.weights, blocked);
        checkLayout(plan, blocked);
        expect(report.arenaBytes).toBeGreaterThanOrEqual(report.lowerBoundBytes);
        expect(report.arenaBytes).toBeLessThanOrEqual(report.naiveBytes);
      }),
      { numRuns: 60, seed: 13 },
    );
  });

  it('the random graphs exercise views, copies, in-place residuals and residual copies', () => {
    const seen = { viewConcat: 0, copyConcat: 0, inPlace: 0, residualCopy: 0 };
    for (let seed = 0; seed < 60; seed++) {
      const graph = randomGraph(seed);
      const opt = optimize(graph, randomWeights(graph, seed));
      const { plan } = lowerToPlan(opt.graph, opt.weights, plain(true));
      const concats = opt.graph.nodes.filter((n) => n.op === 'concat').length;
      const concatSteps = plan.steps.filter((s) => s.op === 'concat' && !s.name.endsWith(':residual-copy')).length;
      seen.viewConcat += concats - concatSteps;
      seen.copyConcat += concatSteps;
      seen.residualCopy += plan.steps.filter((s) => s.name.endsWith(':residual-copy')).length;
      seen.inPlace += plan.steps.filter((s, i) => s.op === 'conv2d' && s.residual >= 0 && !plan.steps[i - 1]?.name.endsWith(':residual-copy')).length;
    }
    for (const [k, v] of Object.entries(seen)) expect(v, k).toBeGreaterThan(3);
  });
});

describe('the plan interpreter catches lowering bugs', () => {
  it('moving a live buffer onto another changes the result', () => {
    const graph = randomGraph(3);
    const weights = randomWeights(graph, 3);
    const input = randomInput(graph, 3);
    const opt = optimize(graph, weights);
    const { plan } = lowerToPlan(opt.graph, opt.weights, plain(true));
    const good = interpretPlan(plan, input, plan.batch);
    expect(maxRelativeError(good, referenceForward(graph, weights, input))).toBeLessThan(TOLERANCE);
    // put every buffer at offset 0: live buffers now collide
    const broken: Plan = { ...plan, buffers: plan.buffers.map((b) => ({ ...b, offset: 0 })) };
    expect(maxRelativeError(interpretPlan(broken, input, plan.batch), good)).toBeGreaterThan(1e-3);
  });

  it('a wrong view offset changes the result', () => {
    const b = new TestGraphBuilder();
    const x = b.tensor([1, 2, 3, 3]);
    const c = b.concat([b.conv(x, 2, [1, 1], [1, 1], [0, 0]), b.conv(x, 2, [3, 3], [1, 1], [1, 1])]);
    const graph = b.finish(x, b.linear(b.globalAvgPool(c), 3));
    const weights = randomWeights(graph, 9);
    const input = randomInput(graph, 9);
    const { plan } = lowerToPlan(graph, weights, plain(true));
    expect(plan.steps.some((s) => s.op === 'concat')).toBe(false);
    expect(maxRelativeError(interpretPlan(plan, input, 1), referenceForward(graph, weights, input))).toBeLessThan(TOLERANCE);
    const broken: Plan = { ...plan, tensors: plan.tensors.map((t) => (t.channelOffset === 2 ? { ...t, channelOffset: 0 } : t)) };
    expect(maxRelativeError(interpretPlan(broken, input, 1), referenceForward(graph, weights, input))).toBeGreaterThan(1e-3);
  });
});

describe('lowerToPlan rejects what it cannot plan', () => {
  it('names a missing or mis-sized weight', () => {
    const b = new TestGraphBuilder();
    const x = b.tensor([1, 2, 2, 2]);
    const graph = b.finish(x, b.conv(x, 3, [1, 1], [1, 1], [0, 0]));
    expect(() => lowerToPlan(graph, new Map(), plain(true))).toThrow(/parameter 'n0.conv.weight' needed by node 'n0.conv' is missing/);
    expect(() => lowerToPlan(graph, new Map([['n0.conv.weight', new Float32Array(5)]]), plain(true))).toThrow(/'n0.conv.weight' of node 'n0.conv' has 5 values, expected 6/);
  });

  it('rejects a malformed layout policy', () => {
    const b = new TestGraphBuilder();
    const x = b.tensor([1, 2, 2, 2]);
    const graph = b.finish(x, b.relu(x));
    expect(() => lowerToPlan(graph, new Map(), { ...blocked, channelBlock: 0 })).toThrow(/channelBlock must be a positive integer, got 0/);
  });
});
