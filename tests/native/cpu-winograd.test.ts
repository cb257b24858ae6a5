/**
 * convolution: 'auto' (the session default): 3x3 stride-1 convolutions run as oneDNN Winograd
 * kernels where oneDNN has one, against the float64 reference, on dense maps, concat views (per
 * image and staged), with the residual sum post-op, and for batch sizes created after the plan's
 * batch (their primitives may want another Winograd weight format, which oneDNN cannot reorder
 * out of another Winograd format: the OIHW weights are kept for them).
 *
 * Tolerance WINO_TOL 1e-5 (relative L2 of the whole output): Winograd F(4x4,3x3) / F(2x2,3x3)
 * transforms the input and weights with coefficients up to 8 and sums the products in the
 * transformed domain, so each output carries a few more fp32 roundings with larger intermediate
 * magnitudes than direct convolution (CONV_TOL 2e-6 in cpu-ops.test.ts). Measured here on
 * AVX-512: 1.5e-7 to 9e-7 (printed per case); the bound leaves a ~10x margin and still rejects
 * any wrong result (a missing tap, bias, relu or residual gives 1e-2 or more).
 */
import { describe, expect, it } from 'vitest';
import type { Pair } from '../../src/graph/ir';
import { InvalidArgumentError } from '../../src/errors';
import { loadCpuModule } from '../../src/native/cpu-backend';
import type { Plan } from '../../src/plan/types';
import { refConcat, refConv2d, refResidualAdd, refTensor, type RefTensor } from '../helpers/reference';
import { channelBlock, compileCpu, cpuBackend, cpuSuiteName, expectDirectMatchesAuto, runAgainstReference } from './cpu-harness';
import { blockedInput, PlanKit, randomValues, relativeL2 } from './plan-kit';

const WINO_TOL = 1e-5;

/** oneDNN 2.6 has fp32 Winograd kernels for AVX-512 only. */
const hasWinogradIsa = cpuBackend !== null && loadCpuModule().info().isa.startsWith('avx512_core');

function convWeights(cin: number, cout: number, seed: number): { weight: Float32Array; bias: Float32Array } {
  const fanIn = cin * 9;
  return {
    weight: randomValues(cout * fanIn, seed).map((v) => v / Math.sqrt(fanIn)),
    bias: randomValues(cout, seed + 1).map((v) => v * 0.1),
  };
}

interface Built {
  plan: Plan;
  reference: (x: RefTensor) => RefTensor;
  /** Steps that are 3x3 stride-1 convolutions (candidates for Winograd). */
  candidates: string[];
}

/** One 3x3 stride-1 conv cin -> cout on size x size. */
function convPlan(batch: number, cin: number, cout: number, size: number, pad: 0 | 1, relu: boolean, seed: number): Built {
  const kit = new PlanKit(batch, channelBlock());
  const { input, x } = blockedInput(kit, cin, size, size);
  const out = size + 2 * pad - 2;
  const y = kit.map(cout, out, out);
  const { weight, bias } = convWeights(cin, cout, seed);
  const p: Pair = [pad, pad];
  kit.add({ op: 'conv2d', name: 'conv', input: x, output: y, residual: -1, weight: kit.weight(weight), bias: kit.weight(bias), kernel: [3, 3], stride: [1, 1], pad: p, relu });
  return { plan: kit.build(input, y), reference: (t) => refConv2d(t, weight, bias, cout, [3, 3], [1, 1], p, relu), candidates: ['conv'] };
}

/** x -> r = conv1x1(x); r += conv3x3(x) in place (sum post-op); relu. */
function residualPlan(batch: number, c: number, size: number): Built {
  const kit = new PlanKit(batch, channelBlock());
  const { input, x } = blockedInput(kit, c, size, size);
  const r = kit.map(c, size, size);
  const a = { weight: randomValues(c * c, 21).map((v) => v / Math.sqrt(c)), bias: randomValues(c, 22).map((v) => v * 0.1) };
  const b = convWeights(c, c, 23);
  kit.add({ op: 'conv2d', name: 'shortcut', input: x, output: r, residual: -1, weight: kit.weight(a.weight), bias: kit.weight(a.bias), kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu: false });
  kit.add({ op: 'conv2d', name: 'block', input: x, output: r, residual: r, weight: kit.weight(b.weight), bias: kit.weight(b.bias), kernel: [3, 3], stride: [1, 1], pad: [1, 1], relu: true });
  return {
    plan: kit.build(input, r),
    reference: (t) => {
      const shortcut = refConv2d(t, a.weight, a.bias, c, [1, 1], [1, 1], [0, 0], false);
      return refResidualAdd(shortcut, refConv2d(t, b.weight, b.bias, c, [3, 3], [1, 1], [1, 1], false), 1, true);
    },
    candidates: ['block'],
  };
}

/** Two 3x3 stride-1 branches writing channel slices of one concat buffer (views). */
function viewPlan(batch: number, size: number, cin: number): Built {
  const kit = new PlanKit(batch, channelBlock());
  const { input, x } = blockedInput(kit, cin, size, size);
  const cat = kit.map(96, size, size);
  const v0 = kit.view(cat, 0, 48);
  const v1 = kit.view(cat, 48, 48);
  const w0 = convWeights(cin, 48, 31);
  const w1 = convWeights(cin, 48, 33);
  kit.add({ op: 'conv2d', name: 'branch0', input: x, output: v0, residual: -1, weight: kit.weight(w0.weight), bias: kit.weight(w0.bias), kernel: [3, 3], stride: [1, 1], pad: [1, 1], relu: true });
  kit.add({ op: 'conv2d', name: 'branch1', input: x, output: v1, residual: -1, weight: kit.weight(w1.weight), bias: kit.weight(w1.bias), kernel: [3, 3], stride: [1, 1], pad: [1, 1], relu: false });
  return {
    plan: kit.build(input, cat),
    reference: (t) =>
      refConcat([
        refConv2d(t, w0.weight, w0.bias, 48, [3, 3], [1, 1], [1, 1], true),
        refConv2d(t, w1.weight, w1.bias, 48, [3, 3], [1, 1], [1, 1], false),
      ]),
    candidates: ['branch0', 'branch1'],
  };
}

function firstImagesOf(t: RefTensor, n: number): RefTensor {
  const perImage = t.data.length / t.shape[0]!;
  return refTensor([n, ...t.shape.slice(1)], t.data.subarray(0, n * perImage));
}

const CASES: [string, (batch: number) => Built, number][] = [
  ['32->48 pad 1 on 35x35, relu', (b) => convPlan(b, 32, 48, 35, 1, true, 1), 2],
  ['64->96 valid on 19x19', (b) => convPlan(b, 64, 96, 19, 0, false, 3), 2],
  ['192->224 pad 1 on 17x17 (Inception-v4 reduction-A shape, smaller map)', (b) => convPlan(b, 192, 224, 17, 1, true, 5), 1],
  ['residual: sum post-op into the shortcut, then relu', (b) => residualPlan(b, 32, 17), 2],
  // 48*35*35*64*9 = 34 M MACs per image: above the CPU module's 32 M limit for staging, so per image.
  ['concat views, per image (64 channels, 35x35 at batch 3)', (b) => viewPlan(b, 35, 64), 3],
  ['concat views, staged (8x8 at batch 4)', (b) => viewPlan(b, 8, 32), 4],
];

describe.skipIf(cpuBackend === null)(cpuSuiteName("oneDNN CPU backend: convolution 'auto' (Winograd)"), () => {
  it.each(CASES)('%s: matches the float64 reference', async (name, build, batch) => {
    const built = build(batch);
    const program = await compileCpu(built.plan, 2, 'auto');
    try {
      const { error } = await runAgainstReference(program, built.plan, batch, 7, built.reference);
      const impls = program.implementations().filter((s) => built.candidates.includes(s.step)).map((s) => s.impl);
      console.log(`winograd ${name}: relL2 ${error.toExponential(2)} impls ${impls.join(', ')}`);
      expect(error).toBeLessThan(WINO_TOL);
      if (hasWinogradIsa && !name.startsWith('residual')) {
        // The residual case may legitimately run direct (oneDNN decides whether its Winograd kernel takes the sum post-op).
        for (const impl of impls) expect(impl).toMatch(/wino/);
      }
    } finally {
      program.dispose();
    }
  });

  it('batch sizes created after the plan batch (other Winograd weight formats) run and match', async () => {
    const built = convPlan(8, 32, 48, 35, 1, true, 41);
    const program = await compileCpu(built.plan, 2, 'auto');
    try {
      const t = built.plan.tensors[built.plan.input]!;
      const input = randomValues(8 * t.c * t.h * t.w, 9);
      const expected = built.reference(refTensor([8, t.c, t.h, t.w], input));
      for (const n of [1, 3, 8]) {
        const output = await program.run(input.subarray(0, n * t.c * t.h * t.w), n);
        const error = relativeL2(output, firstImagesOf(expected, n).data);
        const impl = program.implementations().find((s) => s.step === 'conv' && s.batch === n)?.impl ?? '?';
        console.log(`winograd batch ${n} of a batch-8 plan: relL2 ${error.toExponential(2)} impl ${impl}`);
        expect(error).toBeLessThan(WINO_TOL);
      }
    } finally {
      program.dispose();
    }
  });

  it("'direct' runs no Winograd kernel and matches 'auto' within the bound", async () => {
    await expectDirectMatchesAuto(viewPlan(2, 17, 32).plan, 2, /wino/, WINO_TOL);
  });

  it('an unknown convolution value is rejected by the backend and by the native module', async () => {
    const built = convPlan(1, 16, 16, 5, 1, false, 51);
    await expect(
      cpuBackend!.compile(built.plan, { precision: 'fp32', convolution: 'winograd' as unknown as 'auto' }),
    ).rejects.toThrow(InvalidArgumentError);
    await expect(loadCpuModule().compile(built.plan, { convolution: 'fast' as unknown as 'auto' })).rejects.toThrow(
      /Expected 'auto' or 'direct' for convolution/,
    );
  });
});
