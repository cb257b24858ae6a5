import { describe, expect, it } from 'vitest';
import type { Graph, WeightStore } from '../../src/graph/ir';
import { validateGraph } from '../../src/graph/validate';
import { getModel } from '../../src/models/registry';
import type { ModelName } from '../../src/models/types';
import { optimize } from '../../src/optimize';
import { lowerToPlan } from '../../src/plan/lower';
import type { LayoutPolicy } from '../../src/plan/types';
import { maxRelativeError } from '../helpers/compare';
import { interpretPlan } from '../helpers/plan-interpreter';
import { randomInput, randomWeights } from '../helpers/random-graph';
import { referenceForward } from '../helpers/reference';
import { yieldToEventLoop } from '../../src/runtime/event-loop';
import { checkLayout } from './layout-invariants';

const blocked: LayoutPolicy = { elementBytes: 4, channelBlock: 8, alignment: 64, concatViews: true };
const MB = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

/** Cheap stand-in weights of the right shapes (the memory plan does not depend on values). */
function constantWeights(graph: Graph): WeightStore {
  return new Map(graph.params.map((p) => [p.name, new Float32Array(p.shape.reduce((a, b) => a * b, 1)).fill(p.name.endsWith('running_var') ? 1 : 0.01)]));
}

const residualBlocks: Record<ModelName, number> = { inception_v4: 0, inception_resnet_v2: 10 + 20 + 9 + 1, inception_resnet_v1: 5 + 10 + 5 + 1 };

describe.each(['inception_v4', 'inception_resnet_v2', 'inception_resnet_v1'] as const)('%s memory plan', (name) => {
  const model = getModel(name);
  const size = model.preprocessing.inputSize;
  let weights: WeightStore | null = null;

  it.each([1, 8])('batch %i: fully fused, concat as views, arena <= 1.10 x lower bound, no live overlap', (batch) => {
    const graph = model.build({ batch, height: size, width: size });
    weights ??= constantWeights(graph);
    const opt = optimize(graph, weights);
    validateGraph(opt.graph);
    const ops = opt.graph.nodes.map((n) => n.op);
    expect(ops.filter((op) => op === 'batchnorm' || op === 'relu' || op === 'residual_add')).toEqual([]);
    expect(opt.graph.nodes.filter((n) => n.op === 'conv2d' && n.residualScale === 1)).toHaveLength(residualBlocks[name]);

    const { plan, report } = lowerToPlan(opt.graph, opt.weights, blocked);
    checkLayout(plan, blocked);
    expect(plan.steps.filter((s) => s.op === 'concat')).toEqual([]); // every concat a view, no residual copies
    const ratio = report.arenaBytes / report.lowerBoundBytes;
    console.log(
      `${name} ${size}x${size} batch ${batch}: ${graph.nodes.length} nodes -> ${plan.steps.length} steps, ${plan.buffers.length} buffers; ` +
        `arena ${MB(report.arenaBytes)}, lower bound ${MB(report.lowerBoundBytes)} (x${ratio.toFixed(4)}), naive ${MB(report.naiveBytes)}, weights ${MB(report.weightBytes)}`,
    );
    // The best of several best-fit orders reaches the bound on these nets (observed x1.0000); 10% is the agreed budget.
    expect(ratio).toBeLessThanOrEqual(1.1);
  });
});

describe('a real network through the plan interpreter', () => {
  // inception_resnet_v1 at its minimum size 75x75, batch 2 planned, 1 image run: every block type
  // of the Inception-ResNets (Block35/17/8 chains in place, Mixed_6a/7a views, last_bn folded
  // into last_linear, l2norm) against the float64 reference of the unoptimised graph.
  // Tolerance 1e-5 relative: float32 arena and folded weights over ~130 layers (observed ~1e-6 or less).
  it('interpretPlan(lowerToPlan(optimize(inception_resnet_v1))) matches referenceForward', async () => {
    const model = getModel('inception_resnet_v1');
    const graph = model.build({ batch: 2, height: 75, width: 75 });
    const weights = randomWeights(graph, 1);
    const input = randomInput(graph, 1, 1);
    const single: Graph = { ...graph, tensors: graph.tensors.map((t) => ({ ...t, shape: [1, ...t.shape.slice(1)] })) };
    const expected = referenceForward(single, weights, input);
    await yieldToEventLoop(); // each phase takes seconds: let the worker answer vitest's RPC between them
    const opt = optimize(graph, weights);
    const { plan } = lowerToPlan(opt.graph, opt.weights, { ...blocked, channelBlock: 1 });
    await yieldToEventLoop();
    const err = maxRelativeError(interpretPlan(plan, input, 1), expected, 0); // relative to the largest |embedding value|
    console.log(`inception_resnet_v1 75x75 plan vs reference: max relative error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-5);
  });
});
