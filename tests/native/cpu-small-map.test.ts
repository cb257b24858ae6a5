/**
 * convolution: 'auto' on AVX-512: convs with more than one tap whose output over the batch is at
 * most 12 pixels run as the CPU module's weight-streaming kernel (native/cpu/small_map_conv.*, impl
 * 'small_map:avx512_core'), checked against the float64 reference: IR-v1's stride-2 3x3 on 8x8 and
 * its 1x3 / 3x1 on 3x3 maps, padding that covers most taps, a residual sum, concat views in and
 * out, channel counts it does not take (oneDNN direct), 1x1 convs (oneDNN), and one plan whose
 * batch sizes fall on both sides of the 12-pixel limit.
 *
 * Tolerance SMALL_MAP_TOL 1e-6 (relative L2 of the whole output): fp32 sums of up to
 * taps * Cin = 2304 products (in blocks of 256), the float rounding of a direct convolution:
 * measured here 1.6e-7 to 3.1e-7 (printed per case; oneDNN direct on the 256->384 case: 2.3e-7;
 * one unblocked sum over all 2304 products gave 8.4e-7). A lost tap, a window read from the wrong
 * pixel, a dropped bias, ReLU or residual, or a panel written to the wrong channels each give 1e-2
 * or more.
 */
import { describe, expect, it } from 'vitest';
import type { Pair } from '../../src/graph/ir';
import { loadCpuModule } from '../../src/native/cpu-backend';
import { channelBlock, cpuBackend, cpuSuiteName, expectBatchSizes, expectDirectMatchesAuto, expectKernelCase, type KernelCase } from './cpu-harness';
import { addConvStep, concatViewPlan, convSpec, refConvSpec, type ConvSpec } from './kernel-plans';
import { blockedInput, PlanKit } from './plan-kit';

const SMALL_MAP_TOL = 1e-6;
const IMPL = 'small_map:avx512_core';

/** The kernel needs AVX-512 (16-channel blocks); elsewhere these convs run on oneDNN. */
const hasAvx512 = cpuBackend !== null && loadCpuModule().info().isa.startsWith('avx512_core');
const KERNEL = { impl: IMPL, available: hasAvx512, tolerance: SMALL_MAP_TOL };

function outputSize(size: number, c: ConvSpec, axis: 0 | 1): number {
  return Math.floor((size + 2 * c.pad[axis] - c.kernel[axis]) / c.stride[axis]) + 1;
}

/** One conv cin -> cout on a size x size map, dense in and out. */
function densePlan(batch: number, cin: number, size: number, c: ConvSpec, small: boolean): KernelCase {
  const kit = new PlanKit(batch, channelBlock());
  const { input, x } = blockedInput(kit, cin, size, size);
  const y = kit.map(c.cout, outputSize(size, c, 0), outputSize(size, c, 1));
  addConvStep(kit, 'conv', x, y, c);
  return { plan: kit.build(input, y), reference: (t) => refConvSpec(t, c), ours: small ? ['conv'] : [], others: small ? [] : ['conv'] };
}

/** r = conv1x1(x) (oneDNN); r += conv3x3(x) in place (the residual sum), then relu. */
function residualPlan(batch: number, c: number, size: number): KernelCase {
  const kit = new PlanKit(batch, channelBlock());
  const { input, x } = blockedInput(kit, c, size, size);
  const r = kit.map(c, size, size);
  const shortcut = convSpec(c, c, [1, 1], [1, 1], [0, 0], false, 21);
  const block = convSpec(c, c, [3, 3], [1, 1], [1, 1], true, 23);
  addConvStep(kit, 'shortcut', x, r, shortcut);
  addConvStep(kit, 'block', x, r, block, r);
  return {
    plan: kit.build(input, r),
    reference: (t) => refConvSpec(t, block, refConvSpec(t, shortcut)),
    ours: ['block'],
    others: ['shortcut'],
  };
}

/** Concat views as in IR-v1's Block8: 1x3 and 3x1 convs writing and reading slices of one buffer. */
function viewPlan(batch: number, cin: number, size: number): KernelCase {
  return concatViewPlan(batch, cin, size, {
    a: ['a_1x3', convSpec(cin, 32, [1, 3], [1, 1], [0, 1], true, 61)],
    b: ['b_3x1', convSpec(cin, 48, [3, 1], [1, 1], [1, 0], false, 63)],
    c: ['c_3x1_of_b', convSpec(48, 32, [3, 1], [1, 1], [1, 0], true, 65)],
  });
}

const S1: Pair = [1, 1];
const S2: Pair = [2, 2];
const CASES: [string, (batch: number) => KernelCase, number][] = [
  ['3x3 stride 2 256->384, 8x8 -> 3x3, relu (IR-v1 Reduction-B)', (b) => densePlan(b, 256, 8, convSpec(256, 384, [3, 3], S2, [0, 0], true, 1), true), 1],
  ['1x3 192->192 on 3x3, relu (IR-v1 Block8)', (b) => densePlan(b, 192, 3, convSpec(192, 192, [1, 3], S1, [0, 1], true, 3), true), 1],
  ['3x1 192->192 on 3x3, no relu', (b) => densePlan(b, 192, 3, convSpec(192, 192, [3, 1], S1, [1, 0], false, 5), true), 1],
  ['3x3 pad 1 on 2x2 (most taps in the padding), batch 3 (12 pixels)', (b) => densePlan(b, 32, 2, convSpec(32, 48, [3, 3], S1, [1, 1], true, 7), true), 3],
  ['3x3 stride 2 on 3x3 -> 1x1, batch 5 (cout 16: one half panel)', (b) => densePlan(b, 64, 3, convSpec(64, 16, [3, 3], S2, [0, 0], false, 9), true), 5],
  ['1x1 on 3x3 (one tap: oneDNN)', (b) => densePlan(b, 64, 3, convSpec(64, 96, [1, 1], S1, [0, 0], true, 11), false), 1],
  ['3x3 24->40 on 3x3 (not multiples of 16: oneDNN)', (b) => densePlan(b, 24, 3, convSpec(24, 40, [3, 3], S1, [1, 1], true, 13), false), 1],
  ['3x3 on 4x4 (16 pixels: oneDNN)', (b) => densePlan(b, 32, 4, convSpec(32, 32, [3, 3], S1, [1, 1], true, 15), false), 1],
  ['residual: sum into the shortcut, then relu, on 3x3', (b) => residualPlan(b, 32, 3), 1],
  ['concat views in and out on 3x3, batch 1', (b) => viewPlan(b, 64, 3), 1],
];

describe.skipIf(cpuBackend === null)(cpuSuiteName("oneDNN CPU backend: convolution 'auto', small maps as a weight stream"), () => {
  it.each(CASES)('%s: matches the float64 reference', async (name, build, batch) => {
    await expectKernelCase(KERNEL, `small-map ${name}`, build(batch), batch);
  });

  it('one plan, batch sizes on both sides of the limit: 9 pixels per image runs here at batch 1, on oneDNN at 2 and 3', async () => {
    const impls = await expectBatchSizes(KERNEL, 'small-map', viewPlan(3, 32, 3), 3, [2, 1, 3, 1], 'a_1x3');
    if (hasAvx512) expect([...impls.entries()].filter(([, impl]) => impl === IMPL).map(([n]) => n)).toEqual([1]);
  });

  it("'direct' keeps oneDNN and matches 'auto' within the bound", async () => {
    await expectDirectMatchesAuto(viewPlan(1, 32, 3).plan, 1, /small_map/, SMALL_MAP_TOL);
  });
});
