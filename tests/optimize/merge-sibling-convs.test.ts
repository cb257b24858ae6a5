import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/graph/builder';
import type { ChannelSliceNode, Conv2dNode, Graph, Node, WeightStore } from '../../src/graph/ir';
import { validateGraph } from '../../src/graph/validate';
import { PlanError } from '../../src/errors';
import { mergeSiblingConvs, optimize } from '../../src/optimize';
import { lowerToPlan } from '../../src/plan/lower';
import type { LayoutPolicy } from '../../src/plan/types';
import { maxRelativeError } from '../helpers/compare';
import { interpretPlan } from '../helpers/plan-interpreter';
import { arbitraryGraph, randomInput, randomWeights } from '../helpers/random-graph';
import { referenceForward } from '../helpers/reference';

// "Same function" tolerance: 1e-5 relative to the output's magnitude. The merge copies weight rows
// and biases unchanged and the pool move only reorders exact arithmetic, so the merged graph's own
// float64 reference differs from the original's by rounding order alone (~1e-15); the 1e-5 budget
// is the BN folding's float32 rounding (see passes.test.ts). A wrong slice, channel order or relu
// placement is O(1e-1).
const TOLERANCE = 1e-5;

const convs = (g: Graph): Conv2dNode[] => g.nodes.filter((n): n is Conv2dNode => n.op === 'conv2d');
const slices = (g: Graph): ChannelSliceNode[] => g.nodes.filter((n): n is ChannelSliceNode => n.op === 'channel_slice');
const byName = (g: Graph, name: string): Node | undefined => g.nodes.find((n) => n.name === name);

/** conv1x1 (bias, optional relu), the shape every head has after BN folding. */
function head(b: GraphBuilder, name: string, x: number, out: number, relu: boolean, extra: { stride?: number; kernel?: number; pad?: number } = {}): number {
  return b.conv2d(name, x, { weight: `${name}.weight`, bias: `${name}.bias`, outChannels: out, kernel: extra.kernel ?? 1, stride: extra.stride ?? 1, pad: extra.pad ?? 0, relu });
}

/**
 * An Inception-A-like block on x [2,16,6,6]: a 1x1 branch straight into the concat, two branches
 * whose 1x1 heads feed 3x3 convs, and an average-pool branch (3x3, stride 1, pad 1, count_include_pad
 * false) whose 1x1 carries relu, as every pool branch does once its BN is folded.
 */
function inceptionA(poolCountIncludePad = false): Graph {
  const b = new GraphBuilder([2, 3, 6, 6]);
  const x = head(b, 'stem', b.input, 16, true, { kernel: 3, pad: 1 });
  const b0 = head(b, 'b0', x, 8, true);
  const b1 = head(b, 'b1.1', head(b, 'b1.0', x, 8, true), 8, true, { kernel: 3, pad: 1 });
  const b2 = head(b, 'b2.1', head(b, 'b2.0', x, 16, true), 8, true, { kernel: 3, pad: 1 });
  const b3 = head(b, 'b3.1', b.avgpool('b3.0', x, 3, 1, 1, poolCountIncludePad), 8, true);
  const y = b.concat('cat', [b0, b1, b2, b3]);
  return b.build(b.globalAvgPool('gap', y));
}

function checkSameFunction(graph: Graph, weights: WeightStore, merged: { graph: Graph; weights: WeightStore }): number {
  validateGraph(merged.graph);
  const input = randomInput(graph, 3);
  const expected = referenceForward(graph, weights, input);
  const err = maxRelativeError(referenceForward(merged.graph, merged.weights, input), expected);
  expect(err).toBeLessThan(TOLERANCE);
  return err;
}

describe('mergeSiblingConvs on hand-made graphs', () => {
  it('merges the relu 1x1 heads that feed other convs, in graph order, and leaves the concat piece and the pool branch', () => {
    const graph = inceptionA();
    const weights = randomWeights(graph, 1);
    const merged = mergeSiblingConvs(graph, weights, { channelBlock: 8 });
    checkSameFunction(graph, weights, merged);
    const m = byName(merged.graph, 'b1.0:merged') as Conv2dNode;
    expect(m).toBeDefined();
    expect(m.relu).toBe(true);
    expect(merged.graph.tensors[m.output]!.shape).toEqual([2, 24, 6, 6]);
    expect(slices(merged.graph).map((s) => [s.name, s.start, s.channels])).toEqual([
      ['b1.0:slice', 0, 8],
      ['b2.0:slice', 8, 16],
    ]);
    // b0 writes into the concat (a view), b3.1 keeps its relu behind the pool: both unchanged.
    expect(byName(merged.graph, 'b0')).toMatchObject({ op: 'conv2d', relu: true });
    expect(byName(merged.graph, 'b3.1')).toMatchObject({ op: 'conv2d', relu: true });
    expect(byName(merged.graph, 'b1.0')).toBeUndefined();
    expect(byName(merged.graph, 'b2.0')).toBeUndefined();
  });

  it('copies weight rows and biases in slice order, exactly', () => {
    const graph = inceptionA();
    const weights = randomWeights(graph, 2);
    const merged = mergeSiblingConvs(graph, weights, { channelBlock: 1, includeConcatPieces: true });
    const m = byName(merged.graph, 'b0:merged') as Conv2dNode;
    const w = merged.weights.get(m.weight)!;
    const bias = merged.weights.get(m.bias!)!;
    const rows = [...weights.get('b0.weight')!, ...weights.get('b1.0.weight')!, ...weights.get('b2.0.weight')!];
    expect([...w]).toEqual(rows);
    expect([...bias]).toEqual([...weights.get('b0.bias')!, ...weights.get('b1.0.bias')!, ...weights.get('b2.0.bias')!]);
    expect(slices(merged.graph).map((s) => [s.name, s.start, s.channels])).toEqual([
      ['b0:slice', 0, 8],
      ['b1.0:slice', 8, 8],
      ['b2.0:slice', 16, 16],
    ]);
    // Each former conv's readers now read its slice: the concat reads b0's, the 3x3s the heads'.
    const cat = byName(merged.graph, 'cat')!;
    expect(byName(merged.graph, 'b0:slice')!.output).toBe(cat.inputs[0]);
    expect(byName(merged.graph, 'b1.1')!.inputs[0]).toBe(byName(merged.graph, 'b1.0:slice')!.output);
    expect(byName(merged.graph, 'b2.1')!.inputs[0]).toBe(byName(merged.graph, 'b2.0:slice')!.output);
    checkSameFunction(graph, weights, merged);
  });

  it('moves a pool-branch 1x1 before its pool, relu split after the pool, when a relu-free sibling reads the same tensor', () => {
    const b = new GraphBuilder([1, 3, 7, 7]);
    const x = head(b, 'stem', b.input, 8, true, { kernel: 3, pad: 1 });
    const linear = head(b, 'lin', x, 8, false); // relu-free head (an up-projection, say)
    const pooled = head(b, 'p.1', b.avgpool('p.0', x, 3, 1, 1, false), 8, true);
    const graph = b.build(b.globalAvgPool('gap', b.concat('cat', [linear, pooled])));
    const weights = randomWeights(graph, 4);
    const merged = mergeSiblingConvs(graph, weights, { channelBlock: 1, includeConcatPieces: true });
    const ops = merged.graph.nodes.map((n) => `${n.op}:${n.name}`);
    expect(ops).toEqual(['conv2d:stem', 'conv2d:lin:merged', 'channel_slice:lin:slice', 'channel_slice:p.1:slice', 'avgpool2d:p.0', 'relu:p.1:relu', 'concat:cat', 'globalavgpool:gap']);
    const m = byName(merged.graph, 'lin:merged') as Conv2dNode;
    expect(m.relu).toBe(false); // relu(mean(.)) != mean(relu(.)): the relu must follow the pool
    const pool = byName(merged.graph, 'p.0')!;
    expect(merged.graph.tensors[pool.output]!.shape).toEqual([1, 8, 7, 7]); // pools 8 channels of the conv, not x
    checkSameFunction(graph, weights, merged);
  });

  it('does not move the 1x1 before a pool whose divisor counts the padding (border windows would differ)', () => {
    const b = new GraphBuilder([1, 3, 7, 7]);
    const x = head(b, 'stem', b.input, 8, true, { kernel: 3, pad: 1 });
    const linear = head(b, 'lin', x, 8, false);
    const pooled = head(b, 'p.1', b.avgpool('p.0', x, 3, 1, 1, true), 8, false);
    const graph = b.build(b.globalAvgPool('gap', b.concat('cat', [linear, pooled])));
    const merged = mergeSiblingConvs(graph, randomWeights(graph, 5), { channelBlock: 1, includeConcatPieces: true });
    expect(merged.graph).toBe(graph);
  });

  it('merges only identical inputs and compatible attributes: 1x1, stride 1, pad 0, same relu, no residual', () => {
    const b = new GraphBuilder([1, 3, 8, 8]);
    const x = head(b, 'stem', b.input, 8, true, { kernel: 3, pad: 1 });
    const other = head(b, 'other', b.input, 8, true, { kernel: 3, pad: 1 });
    const a = head(b, 'a', x, 8, true);
    const c = head(b, 'c', x, 8, true);
    const strided = head(b, 's', x, 8, true, { stride: 2 });
    const wide = head(b, 'k3', x, 8, true, { kernel: 3, pad: 1 });
    const padded = head(b, 'pad', x, 8, true, { pad: 1 });
    const noRelu = head(b, 'norelu', x, 8, false);
    const fromOther = head(b, 'fromother', other, 8, true);
    // A residual conv reading x: y = relu(x + conv(a)) — reads x as its residual, a as its input.
    const residual = b.conv2d('res', a, { weight: 'res.weight', bias: 'res.bias', outChannels: 8, kernel: 1, relu: true, residual: { tensor: x, scale: 1 } });
    const residual2 = b.conv2d('res2', x, { weight: 'res2.weight', bias: 'res2.bias', outChannels: 8, kernel: 1, relu: true, residual: { tensor: c, scale: 1 } });
    const sum = [c, strided, wide, padded, noRelu, fromOther, residual, residual2].map((t, i) => b.globalAvgPool(`g${i}`, t));
    const graph = b.build(b.concat('cat', sum));
    const weights = randomWeights(graph, 6);
    const merged = mergeSiblingConvs(graph, weights, { channelBlock: 1 });
    checkSameFunction(graph, weights, merged);
    const m = convs(merged.graph).filter((n) => n.name.endsWith(':merged'));
    expect(m.map((n) => n.name)).toEqual(['a:merged']);
    expect(slices(merged.graph).map((s) => s.name)).toEqual(['a:slice', 'c:slice']);
    for (const kept of ['s', 'k3', 'pad', 'norelu', 'fromother', 'res', 'res2']) expect(byName(merged.graph, kept)?.op).toBe('conv2d');
  });

  it('orders slices so every view starts on a channel block: multiples first, one other last, the rest unmerged', () => {
    const b = new GraphBuilder([1, 3, 5, 5]);
    const x = head(b, 'stem', b.input, 16, true, { kernel: 3, pad: 1 });
    const outs = [head(b, 'four', x, 4, true), head(b, 'eight', x, 8, true), head(b, 'twelve', x, 12, true), head(b, 'sixteen', x, 16, true)];
    const graph = b.build(b.concat('cat', outs.map((t, i) => b.globalAvgPool(`g${i}`, t))));
    const weights = randomWeights(graph, 8);
    const merged = mergeSiblingConvs(graph, weights, { channelBlock: 8 });
    checkSameFunction(graph, weights, merged);
    expect(slices(merged.graph).map((s) => [s.name, s.start, s.channels])).toEqual([
      ['eight:slice', 0, 8],
      ['sixteen:slice', 8, 16],
      ['four:slice', 24, 4],
    ]);
    expect(byName(merged.graph, 'twelve')?.op).toBe('conv2d');
    // Blocked lowering accepts it: every slice a view at a block multiple, no step of its own.
    const policy: LayoutPolicy = { elementBytes: 4, channelBlock: 8, alignment: 64, concatViews: true };
    const { plan } = lowerToPlan(merged.graph, merged.weights, policy);
    expect(plan.steps.map((s) => s.name)).not.toContain('eight:slice');
    const merge = plan.steps.find((s) => s.name === 'eight:merged')!;
    const views = plan.tensors.filter((t) => t.buffer === plan.tensors[merge.op === 'conv2d' ? merge.output : -1]!.buffer);
    expect(views.map((t) => [t.channelOffset, t.c]).sort((p, q) => p[0]! - q[0]! || p[1]! - q[1]!)).toEqual([
      [0, 8],
      [0, 28],
      [8, 16],
      [24, 4],
    ]);
  });

  it('a misaligned slice is a PlanError at lowering, not a silent copy', () => {
    const b = new GraphBuilder([1, 3, 5, 5]);
    const x = head(b, 'stem', b.input, 8, true, { kernel: 3, pad: 1 });
    const outs = [head(b, 'four', x, 4, true), head(b, 'eight', x, 8, true)];
    const graph = b.build(b.concat('cat', outs.map((t, i) => b.globalAvgPool(`g${i}`, t))));
    const merged = mergeSiblingConvs(graph, randomWeights(graph, 9), { channelBlock: 1 });
    expect(() => lowerToPlan(merged.graph, merged.weights, { elementBytes: 4, channelBlock: 8, alignment: 64, concatViews: true })).toThrow(PlanError);
    expect(() => lowerToPlan(merged.graph, merged.weights, { elementBytes: 4, channelBlock: 1, alignment: 64, concatViews: false })).toThrow(/concatViews false/);
  });

  it('through the plan interpreter: merged plan matches the float64 reference of the original graph', () => {
    const graph = inceptionA();
    const weights = randomWeights(graph, 10);
    const input = randomInput(graph, 10);
    const opt = optimize(graph, weights, { mergeSiblingConvs: { channelBlock: 1, includeConcatPieces: true } });
    expect(slices(opt.graph)).toHaveLength(3);
    const { plan } = lowerToPlan(opt.graph, opt.weights, { elementBytes: 4, channelBlock: 1, alignment: 64, concatViews: true });
    // Tolerance 1e-5: float32 arena against float64 over three layers (see TOLERANCE).
    expect(maxRelativeError(interpretPlan(plan, input, 2), referenceForward(graph, weights, input))).toBeLessThan(TOLERANCE);
  });
});

describe('mergeSiblingConvs on random graphs', () => {
  it('keeps the function, the inputs untouched, and params and weights describing each other (after the fusion passes or not)', () => {
    let mergedAny = 0;
    fc.assert(
      fc.property(arbitraryGraph(), fc.boolean(), fc.constantFrom(1, 2, 4), ({ graph, weights, input }, fused, channelBlock) => {
        const before = JSON.stringify(graph);
        const start = fused ? optimize(graph, weights) : { graph, weights };
        const out = mergeSiblingConvs(start.graph, start.weights, { channelBlock, includeConcatPieces: true });
        validateGraph(out.graph);
        expect(maxRelativeError(referenceForward(out.graph, out.weights, input), referenceForward(graph, weights, input))).toBeLessThan(TOLERANCE);
        expect(JSON.stringify(graph)).toBe(before);
        expect(out.graph.params.map((p) => p.name).sort()).toEqual([...out.weights.keys()].sort());
        for (const p of out.graph.params) expect(out.weights.get(p.name)!.length).toBe(p.shape.reduce((a, d) => a * d, 1));
        for (const sl of slices(out.graph)) expect(sl.start % channelBlock).toBe(0);
        if (slices(out.graph).length > 0) mergedAny++;
      }),
      { numRuns: 60, seed: 20261207 },
    );
    console.log(`random graphs with a merge: ${mergedAny} of 60`);
    expect(mergedAny).toBeGreaterThan(0); // the property is not vacuous
  });
});
