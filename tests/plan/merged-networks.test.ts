import { describe, expect, it } from 'vitest';
import type { Graph } from '../../src/graph/ir';
import { validateGraph } from '../../src/graph/validate';
import { getModel } from '../../src/models/registry';
import { optimize, type SiblingMergeOptions } from '../../src/optimize';
import { lowerToPlan } from '../../src/plan/lower';
import type { LayoutPolicy } from '../../src/plan/types';
import { yieldToEventLoop } from '../../src/runtime/event-loop';
import { maxRelativeError } from '../helpers/compare';
import { interpretPlan } from '../helpers/plan-interpreter';
import { randomInput, randomWeights } from '../helpers/random-graph';
import { referenceForward } from '../helpers/reference';
import { checkLayout } from './layout-invariants';
import { unorderedConflicts } from './schedule-check';

// The three networks with the sibling-conv merge, at the minimum input 75x75 (all three share
// INCEPTION_MIN_SIZE), one image, random weights, against the float64 reference of the
// UNOPTIMISED graph. Merged with channelBlock 16 (the avx512 layout's block, the strictest the
// CPU backend uses), so slice order is the one the CPU gets, and run through the plan interpreter
// (plain layout, NaN-filled arena: a wrong view offset or a buffer freed too early corrupts the
// result). Tolerance 1e-5 relative to the largest output: float32 arena and folded weights over
// ~150 layers (the unmerged plan sits at ~1e-6, networks.test.ts); the merge itself adds no
// rounding (rows copied, pool move exact in real arithmetic), and a wrong slice is O(1e-1).
const TOLERANCE = 1e-5;
const plain: LayoutPolicy = { elementBytes: 4, channelBlock: 1, alignment: 64, concatViews: true };
const blocked16: LayoutPolicy = { elementBytes: 4, channelBlock: 16, alignment: 64, concatViews: true };

const variants: [string, SiblingMergeOptions][] = [
  ['heads only (default)', { channelBlock: 16 }],
  ['heads and concat pieces', { channelBlock: 16, includeConcatPieces: true }],
];

const single = (graph: Graph): Graph => ({ ...graph, tensors: graph.tensors.map((t) => ({ ...t, shape: [1, ...t.shape.slice(1)] })) });

// The default variant on every network; the opt-in concat-pieces variant (INCEPTION_MERGE_SIBLING_CONVS=pieces,
// on no backend by default) on inception_resnet_v1 only: there it merges 22 convs against 6 heads
// only (on inception_v4, 16 either way), and it is the cheapest network to interpret; each
// interpreter run costs seconds per network and variant, and the suite must stay fast.
const variantsOf = (name: string): [string, SiblingMergeOptions][] => (name === 'inception_resnet_v1' ? variants : variants.slice(0, 1));

describe.each(['inception_v4', 'inception_resnet_v2', 'inception_resnet_v1'] as const)('%s with merged sibling convs', (name) => {
  it(`matches the float64 reference of the unoptimised graph (${variantsOf(name).length === 2 ? 'both variants' : 'heads only'}); blocked lowering keeps concat views`, async () => {
    const model = getModel(name);
    const graph = model.build({ batch: 2, height: 75, width: 75 });
    const weights = randomWeights(graph, 1);
    const input = randomInput(graph, 1, 1);
    // Each phase takes seconds (more at the suite's start, when the type-check and three workers
    // share two cores): let the worker answer vitest's RPC between them.
    await yieldToEventLoop();
    const expected = referenceForward(single(graph), weights, input);
    await yieldToEventLoop();
    for (const [label, options] of variantsOf(name)) {
      const opt = optimize(graph, weights, { mergeSiblingConvs: options });
      await yieldToEventLoop();
      validateGraph(opt.graph);
      const merged = opt.graph.nodes.filter((n) => n.name.endsWith(':merged'));
      const sliceCount = opt.graph.nodes.filter((n) => n.op === 'channel_slice').length;
      expect(merged.length).toBeGreaterThan(0);
      const { plan } = lowerToPlan(opt.graph, opt.weights, plain);
      await yieldToEventLoop();
      const err = maxRelativeError(interpretPlan(plan, input, 1), expected, 0);
      console.log(`${name} 75x75, ${label}: ${merged.length} merged convs, ${sliceCount} slices; plan vs reference max relative error ${err.toExponential(2)}`);
      expect(err).toBeLessThan(TOLERANCE);

      const blocked = lowerToPlan(opt.graph, opt.weights, blocked16).plan;
      checkLayout(blocked, blocked16);
      const copies = blocked.steps.filter((s) => s.op === 'concat').length;
      if (options.includeConcatPieces === true) console.log(`${name}, ${label}: ${copies} concat copy steps`);
      else expect(copies).toBe(0); // heads only: every concat is still a view
      await yieldToEventLoop();

      // CUDA branch streams: slices read channel ranges of the merged buffer, so each reader must
      // wait for the merged conv, and the merged buffer must outlive them (exact byte footprints).
      // For the default variant only: the concat-pieces one is on no backend, and its slices are
      // scheduled by the same rule.
      if (options.includeConcatPieces === true) continue;
      const fp16 = { elementBytes: 2, channelBlock: 8, alignment: 256, concatViews: true };
      const opt16 = optimize(graph, weights, { mergeSiblingConvs: { ...options, channelBlock: 8 } });
      const streamed = lowerToPlan(opt16.graph, opt16.weights, fp16, { streams: 4 }).plan;
      checkLayout(streamed, fp16);
      expect(unorderedConflicts(streamed, streamed.schedule!, { kind: 'nhwc', elementBytes: 2, channelBlock: 8 })).toEqual([]);
      await yieldToEventLoop();
    }
  }, 600_000);
});
