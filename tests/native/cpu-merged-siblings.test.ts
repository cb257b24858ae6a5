/**
 * The sibling-conv merge (src/optimize/merge-sibling-convs.ts) on the real CPU backend: the merged
 * conv writes one buffer and every former branch reads its channel slice through a oneDNN
 * sub-memory view (native/cpu/layout.cc), pools and 3x3 convs included.
 *
 * Tolerances, relative L2. Against the float64 reference: 1e-5, as for every planner-made plan
 * (cpu-lowered.test.ts: chained fp32 convs of ~1e-7..1e-6 each). Merged against unmerged on a
 * whole network, both with direct convolutions: 1e-5. The merged 1x1 computes the same dot
 * products, but oneDNN may pick another blocking for the wider conv, so each merged layer may
 * round differently at the fp32 level (~1e-7); ~150 layers with ReLUs compound that to ~1e-6,
 * while a wrong view or channel order is O(1).
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/graph/builder';
import type { Graph } from '../../src/graph/ir';
import { getModel } from '../../src/models/registry';
import { optimize } from '../../src/optimize';
import { lowerToPlan } from '../../src/plan/lower';
import { randomInput, randomWeights } from '../helpers/random-graph';
import { referenceForward } from '../helpers/reference';
import { compileCpu, cpuBackend, cpuSuiteName } from './cpu-harness';
import { relativeL2 } from './plan-kit';

const TOLERANCE = 1e-5;

function conv(b: GraphBuilder, name: string, x: number, out: number, relu: boolean, kernel = 1, pad = 0): number {
  return b.conv2d(name, x, { weight: `${name}.weight`, bias: `${name}.bias`, outChannels: out, kernel, pad, relu });
}

/** Channel counts multiples of 16 (the avx512 block) so every slice is a blocked view. */
function block(): Graph {
  const b = new GraphBuilder([2, 3, 9, 9]);
  const x = conv(b, 'stem', b.input, 32, true, 3, 1);
  const b0 = conv(b, 'b0', x, 16, true);
  const b1 = conv(b, 'b1.1', conv(b, 'b1.0', x, 16, true), 16, true, 3, 1);
  const b2 = conv(b, 'b2.1', conv(b, 'b2.0', x, 32, true), 16, true, 3, 1);
  const lin = conv(b, 'lin.1', conv(b, 'lin.0', x, 16, false), 16, true, 3, 1); // a relu-free head
  const b3 = conv(b, 'b3.1', b.avgpool('b3.0', x, 3, 1, 1, false), 16, true);
  return b.build(b.globalAvgPool('gap', b.concat('cat', [b0, b1, b2, lin, b3])));
}

describe.skipIf(cpuBackend === null)(cpuSuiteName('oneDNN CPU backend: merged sibling convs'), () => {
  it.each([false, true])('a hand-made block (includeConcatPieces %s): views of the merged buffer into convs, a pool and a concat', async (pieces) => {
    const graph = block();
    const weights = randomWeights(graph, 3);
    const policy = cpuBackend!.layoutPolicy('fp32');
    const opt = optimize(graph, weights, { mergeSiblingConvs: { channelBlock: policy.channelBlock, includeConcatPieces: pieces } });
    const sliceCount = opt.graph.nodes.filter((n) => n.op === 'channel_slice').length;
    expect(sliceCount).toBe(pieces ? 5 : 4); // heads b1.0, b2.0 (relu); lin.0 + the moved pool conv (no relu); with pieces b0 too
    expect(opt.graph.nodes.some((n) => n.op === 'relu' && n.name === 'b3.1:relu')).toBe(true);
    const { plan } = lowerToPlan(opt.graph, opt.weights, policy);
    const input = randomInput(graph, 3);
    const program = await compileCpu(plan);
    const error = relativeL2(await program.run(input, plan.batch), referenceForward(graph, weights, input));
    console.log(`hand-made block, pieces ${pieces}: ${plan.tensors.filter((t) => t.channelOffset !== 0).length} views, relL2 ${error.toExponential(2)}`);
    expect(error).toBeLessThan(TOLERANCE);
    program.dispose();
  });

  // IR-v1 and inception_v4: IR-v2's blocks are of the kinds these two have (residual branch heads,
  // v4's stem and pool branches), its merged plan is held to the float64 reference by
  // tests/plan/merged-networks.test.ts, and each network here costs seconds on two cores.
  it.each(['inception_resnet_v1', 'inception_v4'] as const)('%s 75x75: merged plan matches the unmerged one (and, for IR-v1, the float64 reference)', async (name) => {
    const graph = getModel(name).build({ batch: 1, height: 75, width: 75 });
    const weights = randomWeights(graph, 1);
    const input = randomInput(graph, 1);
    const policy = cpuBackend!.layoutPolicy('fp32');
    const outputs: Float32Array[] = [];
    for (const merge of [false, true]) {
      const opt = optimize(graph, weights, merge ? { mergeSiblingConvs: { channelBlock: policy.channelBlock } } : {});
      const { plan } = lowerToPlan(opt.graph, opt.weights, policy);
      const program = await compileCpu(plan);
      outputs.push(await program.run(input, 1));
      program.dispose();
    }
    const error = relativeL2(outputs[1]!, outputs[0]!);
    console.log(`${name} 75x75 on the CPU backend: merged vs unmerged relL2 ${error.toExponential(2)}`);
    expect(error).toBeLessThan(TOLERANCE);
    if (name === 'inception_resnet_v1') {
      const vsReference = relativeL2(outputs[1]!, referenceForward(graph, weights, input));
      console.log(`${name} merged vs float64 reference relL2 ${vsReference.toExponential(2)}`);
      expect(vsReference).toBeLessThan(TOLERANCE);
    }
  }, 300_000);
});
