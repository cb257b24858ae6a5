/**
 * Plans from the real planner (src/plan/lower.ts) on random Inception-like graphs, run on the CPU
 * backend with its own layout policy (blocked channels, concat views), against the float64 reference.
 * Tolerance 1e-5 relative L2: several chained fp32 convolutions (each ~1e-7..1e-6, see cpu-ops.test.ts)
 * compound, and ReLU/max can flip near-ties; 1e-5 still catches any wrong offset, view or layout.
 */
import { describe, expect, it } from 'vitest';
import { lowerToPlan } from '../../src/plan/lower';
import { referenceForward } from '../helpers/reference';
import { randomGraph, randomInput, randomWeights } from '../helpers/random-graph';
import { compileCpu, cpuBackend, cpuSuiteName } from './cpu-harness';
import { relativeL2 } from './plan-kit';

describe.skipIf(cpuBackend === null)(cpuSuiteName('oneDNN CPU backend: planner-made plans'), () => {
  it.each([1, 2, 3, 4, 5, 6])('random graph seed %i', async (seed) => {
    const graph = randomGraph(seed);
    const weights = randomWeights(graph, seed);
    const { plan } = lowerToPlan(graph, weights, cpuBackend!.layoutPolicy('fp32'));
    const input = randomInput(graph, seed);
    const expected = referenceForward(graph, weights, input);
    const program = await compileCpu(plan);
    const output = await program.run(input, plan.batch);
    const error = relativeL2(output, expected);
    const views = plan.tensors.filter((t) => t.channelOffset !== 0).length;
    const refs = program.implementations().filter((s) => s.impl.startsWith('ref'));
    console.log(`seed ${seed}: batch ${plan.batch}, ${plan.steps.length} steps, ${views} views, relL2 ${error.toExponential(2)}, ref kernels ${refs.length}`);
    expect(error).toBeLessThan(1e-5);
    // oneDNN's blocked JIT convs need >= channelBlock input channels (fewer is its 'first layer' case,
    // which wants plain input). Random graphs use 1..10 channels; the real networks have >= 32
    // everywhere past the plain 3-channel image, so only such tiny convs may fall back to ref here.
    const block = cpuBackend!.layoutPolicy('fp32').channelBlock;
    for (const r of refs) {
      const step = plan.steps.find((s) => s.name === r.step);
      expect(step?.op).toBe('conv2d');
      if (step?.op === 'conv2d') expect(plan.tensors[step.input]!.c, r.step).toBeLessThan(block);
    }
    program.dispose();
  });
});
