/**
 * convolution: 'auto' on AVX-512: 1x7 and 7x1 stride-1 'same' convolutions (Inception-v4's and
 * Inception-ResNet's factorised 7x7s) run as the CPU module's 1-D Winograd F(4,7)
 * (native/cpu/winograd_1d.*, impl 'wino1d_f4x7:avx512_core'), checked against the float64
 * reference: both orientations, channel counts that are multiples of 16 (the ones it takes) and
 * not (those stay oneDNN direct), maps of 17, 8 and 5 (the last tile of each line partial: 17 =
 * 4*4+1, 5 = 4+1), batch 1 and 3, with and without ReLU, reading and writing concat views, and
 * batch sizes other than the plan's.
 *
 * Tolerance WINO1D_TOL 5e-5 (relative L2 of the whole output): F(4,7) transforms each tile of 10
 * inputs with integer coefficients up to 273 and the weights with coefficients down to 1/80640,
 * so the fp32 sums in the transformed domain cancel large terms; measured here on AVX-512:
 * 2.2e-6 to 5.2e-6 (printed per case; direct convolution: ~1.7e-7). The bound leaves a ~10x margin
 * and still rejects a wrong result: a missing tap, a wrong transform point, an edge tile that
 * reads past the padding, or a lost bias or ReLU each give 1e-2 or more.
 */
import { describe, expect, it } from 'vitest';
import type { Pair } from '../../src/graph/ir';
import { loadCpuModule } from '../../src/native/cpu-backend';
import { channelBlock, cpuBackend, cpuSuiteName, expectBatchSizes, expectDirectMatchesAuto, expectKernelCase, type KernelCase } from './cpu-harness';
import { addConvStep, concatViewPlan, convSpec, refConvSpec, type ConvSpec } from './kernel-plans';
import { blockedInput, PlanKit } from './plan-kit';

const WINO1D_TOL = 5e-5;
const IMPL = 'wino1d_f4x7:avx512_core';

/** The 1-D Winograd steps need AVX-512 (16-channel blocks); elsewhere these convs run direct. */
const hasAvx512 = cpuBackend !== null && loadCpuModule().info().isa.startsWith('avx512_core');
const WINO1D = { impl: IMPL, available: hasAvx512, tolerance: WINO1D_TOL };

type Orientation = '1x7' | '7x1';
const KERNEL: Record<Orientation, Pair> = { '1x7': [1, 7], '7x1': [7, 1] };
const PAD: Record<Orientation, Pair> = { '1x7': [0, 3], '7x1': [3, 0] };

function conv(cin: number, cout: number, orientation: Orientation, relu: boolean, seed: number): ConvSpec {
  return convSpec(cin, cout, KERNEL[orientation], [1, 1], PAD[orientation], relu, seed);
}

/** One conv cin -> cout on a size x size map, dense in and out. */
function densePlan(batch: number, cin: number, cout: number, size: number, orientation: Orientation, relu: boolean, seed: number): KernelCase {
  const kit = new PlanKit(batch, channelBlock());
  const { input, x } = blockedInput(kit, cin, size, size);
  const y = kit.map(cout, size, size);
  const c = conv(cin, cout, orientation, relu, seed);
  addConvStep(kit, 'conv', x, y, c);
  const multiple = cin % 16 === 0 && cout % 16 === 0;
  return { plan: kit.build(input, y), reference: (t) => refConvSpec(t, c), ours: multiple ? ['conv'] : [], others: multiple ? [] : ['conv'] };
}

/** Concat views as in an Inception block: 1x7 and 7x1 convs writing and reading slices of one buffer. */
function viewPlan(batch: number, cin: number, size: number): KernelCase {
  return concatViewPlan(batch, cin, size, {
    a: ['a_1x7', conv(cin, 32, '1x7', true, 61)],
    b: ['b_7x1', conv(cin, 48, '7x1', false, 63)],
    c: ['c_1x7_of_b', conv(48, 32, '1x7', true, 65)],
  });
}

const CASES: [string, (batch: number) => KernelCase, number][] = [
  ['1x7 192->224 on 17x17, relu (Inception-v4 block B)', (b) => densePlan(b, 192, 224, 17, '1x7', true, 1), 1],
  ['7x1 224->256 on 17x17, relu, batch 3', (b) => densePlan(b, 224, 256, 17, '7x1', true, 3), 3],
  ['1x7 32->48 on 8x8, no relu, batch 3', (b) => densePlan(b, 32, 48, 8, '1x7', false, 5), 3],
  ['7x1 48->32 on 8x8, relu', (b) => densePlan(b, 48, 32, 8, '7x1', true, 7), 1],
  ['1x7 16->32 on 5x5 (one full and one 1-wide tile), batch 3', (b) => densePlan(b, 16, 32, 5, '1x7', true, 9), 3],
  ['7x1 64->16 on 5x5, no relu', (b) => densePlan(b, 64, 16, 5, '7x1', false, 11), 1],
  ['1x7 32->16 on 3x3 (one partial tile, most taps in the padding), batch 3', (b) => densePlan(b, 32, 16, 3, '1x7', true, 17), 3],
  ['7x1 16->32 on 1x1 (only the centre tap sees data)', (b) => densePlan(b, 16, 32, 1, '7x1', false, 19), 1],
  ['1x7 24->40 on 17x17 (not multiples of 16: oneDNN direct)', (b) => densePlan(b, 24, 40, 17, '1x7', true, 13), 3],
  ['7x1 40->24 on 8x8 (not multiples of 16: oneDNN direct)', (b) => densePlan(b, 40, 24, 8, '7x1', false, 15), 1],
  ['concat views in and out on 17x17, batch 1', (b) => viewPlan(b, 64, 17), 1],
  ['concat views in and out on 17x17, batch 3', (b) => viewPlan(b, 64, 17), 3],
  ['concat views in and out on 5x5, batch 3', (b) => viewPlan(b, 32, 5), 3],
];

describe.skipIf(cpuBackend === null)(cpuSuiteName("oneDNN CPU backend: convolution 'auto', 1x7 / 7x1 as 1-D Winograd F(4,7)"), () => {
  it.each(CASES)('%s: matches the float64 reference', async (name, build, batch) => {
    await expectKernelCase(WINO1D, `wino1d ${name}`, build(batch), batch);
  });

  it('batch sizes other than the plan batch (their own matmuls, one workspace) run and match', async () => {
    const impls = await expectBatchSizes(WINO1D, 'wino1d', viewPlan(4, 32, 17), 4, [2, 1, 4, 3], 'a_1x7');
    for (const impl of impls.values()) expect(impl).toBe(hasAvx512 ? IMPL : expect.not.stringContaining('wino1d'));
  });

  it("'direct' keeps oneDNN direct for 1x7 / 7x1 and matches 'auto' within the bound", async () => {
    await expectDirectMatchesAuto(viewPlan(3, 32, 17).plan, 3, /wino/, WINO1D_TOL);
  });
});
