import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Graph, WeightStore } from '../../src/graph/ir';
import { validateGraph } from '../../src/graph/validate';
import { foldBatchNorm, fuseRelu, fuseResidual, optimize, type Pass } from '../../src/optimize';
import { maxRelativeError } from '../helpers/compare';
import { TestGraphBuilder, arbitraryGraph, randomInput, randomWeights } from '../helpers/random-graph';
import { referenceForward } from '../helpers/reference';

// Tolerance for "same function": 1e-5 relative to the output's magnitude. Folding and pre-scaling
// round each new weight once to float32 (relative error <= 2^-24 ~ 6e-8 per weight); a handful of
// layers of sums of O(100) such terms stays well below 1e-5 (observed worst ~2e-7), while any real
// rewrite bug (wrong channel, lost bias, relu in the wrong place) is O(1e-1).
const TOLERANCE = 1e-5;

const count = (g: Graph, op: string, pred: (n: Graph['nodes'][number]) => boolean = () => true): number =>
  g.nodes.filter((n) => n.op === op && pred(n)).length;

/** The CBR / residual / head pattern of the Inception-ResNets, small. */
function residualNet(): { graph: Graph; weights: WeightStore; input: Float32Array } {
  const b = new TestGraphBuilder();
  const input = b.tensor([2, 3, 6, 6]);
  const x = b.cbr(input, 8, [3, 3], [1, 1], [1, 1]);
  const mixed = b.concat([b.cbr(x, 4, [1, 1]), b.cbr(b.cbr(x, 4, [1, 1]), 4, [3, 3], [1, 1], [1, 1])]);
  const y = b.residualAdd(x, b.conv(mixed, 8, [1, 1], [1, 1], [0, 0], { bias: true }), 0.2, true);
  const z = b.relu(b.conv(y, 8, [1, 1], [1, 1], [0, 0], { bias: true }));
  const emb = b.l2norm(b.batchnorm(b.linear(b.globalAvgPool(z), 5, { bias: false }), false));
  const graph = b.finish(input, emb);
  return { graph, weights: randomWeights(graph, 7), input: randomInput(graph, 7) };
}

function snapshot(graph: Graph, weights: WeightStore): string {
  const sums = [...weights].map(([k, v]) => `${k}:${v.reduce((s, x, i) => s + x * (i + 1), 0)}`);
  return JSON.stringify(graph) + sums.join('|');
}

const cases: [string, Pass][] = [
  ['foldBatchNorm', foldBatchNorm],
  ['fuseRelu', fuseRelu],
  ['fuseResidual', fuseResidual],
  ['optimize', optimize],
];

describe.each(cases)('%s', (_name, pass) => {
  it('computes the same function on random graphs (1e-5 relative) and leaves its inputs untouched', () => {
    fc.assert(
      fc.property(arbitraryGraph(), ({ graph, weights, input }) => {
        const before = snapshot(graph, weights);
        const expected = referenceForward(graph, weights, input);
        validateGraph(graph);
        const out = pass(graph, weights);
        validateGraph(out.graph); // tensor ids = index, every tensor produced once, shapes consistent
        expect(maxRelativeError(referenceForward(out.graph, out.weights, input), expected)).toBeLessThan(TOLERANCE);
        expect(snapshot(graph, weights)).toBe(before);
        // params list and weight store describe each other exactly
        expect(out.graph.params.map((p) => p.name).sort()).toEqual([...out.weights.keys()].sort());
        for (const p of out.graph.params) expect(out.weights.get(p.name)!.length).toBe(p.shape.reduce((a, s) => a * s, 1));
      }),
      { numRuns: 40, seed: 20240601 },
    );
  });
});

describe('the passes fire', () => {
  it('foldBatchNorm removes every conv/linear -> BN pair with a single reader', () => {
    const { graph, weights, input } = residualNet();
    expect(count(graph, 'batchnorm')).toBe(5); // 4 CBRs + BatchNorm1d
    const out = foldBatchNorm(graph, weights);
    expect(count(out.graph, 'batchnorm')).toBe(0);
    expect(out.graph.nodes.length).toBe(graph.nodes.length - 5);
    expect(count(out.graph, 'conv2d', (n) => n.op === 'conv2d' && n.relu)).toBe(4); // the CBRs' relu moved
    expect(out.graph.params.some((p) => p.name.endsWith('.weight:folded'))).toBe(true);
    expect(out.graph.params.some((p) => p.name.includes('running_mean'))).toBe(false);
    expect(maxRelativeError(referenceForward(out.graph, out.weights, input), referenceForward(graph, weights, input))).toBeLessThan(TOLERANCE);
  });

  it('fuseRelu removes relu nodes into their producer', () => {
    const { graph, weights } = residualNet();
    const out = fuseRelu(graph, weights);
    expect(count(graph, 'relu')).toBe(1);
    expect(count(out.graph, 'relu')).toBe(0);
    expect(out.graph.nodes.length).toBe(graph.nodes.length - 1);
  });

  it('fuseResidual turns residual_add(x, conv(h)) into a conv with a side input and pre-scaled weights', () => {
    const { graph, weights, input } = residualNet();
    const out = fuseResidual(graph, weights);
    expect(count(out.graph, 'residual_add')).toBe(0);
    const fused = out.graph.nodes.find((n) => n.op === 'conv2d' && n.residualScale !== null);
    expect(fused).toMatchObject({ residualScale: 1, relu: true, weight: expect.stringMatching(/:scaled$/) });
    const add = graph.nodes.find((n) => n.op === 'residual_add')!;
    // tensor ids are renumbered (dead tensors dropped): compare by the names of producers and readers
    const producerName = (g: Graph, t: number): string | undefined => g.nodes.find((n) => n.output === t)?.name;
    const readerName = (g: Graph, t: number): string | undefined => g.nodes.find((n) => n.inputs.includes(t))?.name;
    expect(producerName(out.graph, fused!.inputs[1]!)).toBe(producerName(graph, add.inputs[0]!));
    expect(readerName(out.graph, fused!.output)).toBe(readerName(graph, add.output));
    expect(out.graph.tensors).toHaveLength(graph.tensors.length - 1); // the conv's old output is gone
    expect(maxRelativeError(referenceForward(out.graph, out.weights, input), referenceForward(graph, weights, input))).toBeLessThan(TOLERANCE);
  });

  it('optimize leaves only convs, concat, pools and the head of the residual net', () => {
    const { graph, weights } = residualNet();
    const out = optimize(graph, weights);
    expect(out.graph.nodes.map((n) => n.op)).toEqual(['conv2d', 'conv2d', 'conv2d', 'conv2d', 'concat', 'conv2d', 'conv2d', 'globalavgpool', 'linear', 'l2norm']);
    // a second run finds nothing more to do
    expect(optimize(out.graph, out.weights).graph.nodes.length).toBe(out.graph.nodes.length);
  });
});

describe('the passes hold back when fusing would change the result', () => {
  it('keeps a BN whose conv output has another reader, and a relu on the graph input', () => {
    const b = new TestGraphBuilder();
    const input = b.tensor([1, 2, 4, 4]);
    const h = b.conv(b.relu(input), 4, [1, 1], [1, 1], [0, 0]);
    const out = b.concat([b.batchnorm(h, true), h]);
    const graph = b.finish(input, b.linear(b.globalAvgPool(out), 3));
    const weights = randomWeights(graph, 1);
    const r = optimize(graph, weights);
    expect(count(r.graph, 'batchnorm')).toBe(1);
    expect(count(r.graph, 'relu')).toBe(1);
    expect(r.graph.nodes.length).toBe(graph.nodes.length);
  });

  it('does not fuse a residual whose branch conv is read twice or already has a relu', () => {
    const b = new TestGraphBuilder();
    const input = b.tensor([1, 4, 4, 4]);
    const x = b.conv(input, 4, [1, 1], [1, 1], [0, 0]);
    const twice = b.conv(x, 4, [1, 1], [1, 1], [0, 0], { bias: true });
    const y = b.residualAdd(x, twice, 0.5, true);
    const withRelu = b.conv(y, 4, [1, 1], [1, 1], [0, 0], { relu: true });
    const z = b.residualAdd(y, withRelu, 1, false);
    const graph = b.finish(input, b.linear(b.globalAvgPool(b.concat([z, twice])), 2));
    const r = fuseResidual(graph, randomWeights(graph, 2));
    expect(count(r.graph, 'residual_add')).toBe(2);
  });
});

describe('foldBatchNorm arithmetic', () => {
  it('computes w*g/sqrt(v+eps) and beta + (b - m)*g/sqrt(v+eps) in float64, rounded once', () => {
    const b = new TestGraphBuilder();
    const input = b.tensor([1, 1, 1, 1]);
    const y = b.batchnorm(b.conv(input, 2, [1, 1], [1, 1], [0, 0], { bias: true }), false);
    const graph = b.finish(input, y);
    const [conv, bn] = graph.nodes as [Extract<Graph['nodes'][number], { op: 'conv2d' }>, Extract<Graph['nodes'][number], { op: 'batchnorm' }>];
    const weights = new Map<string, Float32Array>([
      [conv.weight, Float32Array.of(0.3, -1.7)],
      [conv.bias!, Float32Array.of(0.25, 2)],
      [bn.weight, Float32Array.of(1.1, 0.9)],
      [bn.bias, Float32Array.of(-0.2, 0.4)],
      [bn.runningMean, Float32Array.of(0.5, -0.125)],
      [bn.runningVar, Float32Array.of(0.7, 2.5)],
    ]);
    const out = foldBatchNorm(graph, weights);
    const g = (i: number): number => weights.get(bn.weight)![i]! / Math.sqrt(weights.get(bn.runningVar)![i]! + 0.001);
    const expW = [0, 1].map((i) => Math.fround(weights.get(conv.weight)![i]! * g(i)));
    const expB = [0, 1].map((i) => Math.fround(weights.get(bn.bias)![i]! + (weights.get(conv.bias!)![i]! - weights.get(bn.runningMean)![i]!) * g(i)));
    expect([...out.weights.get(`${conv.name}.weight:folded`)!]).toEqual(expW);
    expect([...out.weights.get(`${conv.name}.bias:folded`)!]).toEqual(expB);
    expect(out.graph.params.map((p) => p.name)).toEqual([`${conv.name}.weight:folded`, `${conv.name}.bias:folded`]);
  });
});
