/**
 * Each op of the oneDNN CPU backend against the float64 TypeScript reference (tests/helpers/reference.ts),
 * on hand-built plans: a table of cases (shape, kernel, stride, pad), run at the plan batch and below it.
 *
 * Tolerances (relative L2 of the whole output):
 * - CONV_TOL 2e-6: fp32 direct convolution accumulates K = Cin*kh*kw <= 432 products; each rounding is
 *   <= 2^-24 ≈ 6e-8 relative and they add like a random walk, so the expected error is ~sqrt(K)*6e-8
 *   ≈ 1e-6 at worst here (measured values are printed). oneDNN may reorder the sum; that is still fp32.
 * - EXACT_TOL 1e-7: pools, relu, concat and copies involve at most one fp32 rounding per value
 *   (avg pool: a sum of <= 9 values and one division), so they match to fp32 rounding of the result.
 * - LOOP_TOL 1e-6: l2norm/softmax/affine do a few fp32 operations per value (exp, sqrt, one division);
 *   global average pool sums H*W values whose partial sums can exceed the cancelled mean.
 */
import { describe, expect, it } from 'vitest';
import type { Pair } from '../../src/graph/ir';
import type { Plan } from '../../src/plan/types';
import {
  refConcat,
  refConv2d,
  refGlobalAvgPool,
  refL2Norm,
  refLinear,
  refPool2d,
  refRelu,
  refResidualAdd,
  refSoftmax,
  refTensor,
  type RefTensor,
} from '../helpers/reference';
import { channelBlock, compileCpu, cpuBackend, cpuSuiteName, runAgainstReference } from './cpu-harness';
import { blockedInput, PlanKit, randomValues } from './plan-kit';

const CONV_TOL = 2e-6;
const EXACT_TOL = 1e-7;
const LOOP_TOL = 1e-6;

interface Built {
  plan: Plan;
  reference: (x: RefTensor) => RefTensor;
}

interface ConvSpec {
  cin: number;
  cout: number;
  size: Pair;
  kernel: Pair;
  stride: Pair;
  pad: Pair;
  relu: boolean;
  /** Read the plain 3-channel plan input directly (the stem's first conv). */
  plainInput?: boolean;
}

function convWeights(spec: { cin: number; cout: number; kernel: Pair }, seed: number): { weight: Float32Array; bias: Float32Array } {
  const fanIn = spec.cin * spec.kernel[0] * spec.kernel[1];
  const weight = randomValues(spec.cout * fanIn, seed).map((v) => v / Math.sqrt(fanIn));
  const bias = randomValues(spec.cout, seed + 1).map((v) => v * 0.1);
  return { weight, bias };
}

function outSize(size: Pair, kernel: Pair, stride: Pair, pad: Pair): Pair {
  return [Math.floor((size[0] + 2 * pad[0] - kernel[0]) / stride[0]) + 1, Math.floor((size[1] + 2 * pad[1] - kernel[1]) / stride[1]) + 1];
}

function convPlan(spec: ConvSpec, batch: number, seed: number): Built {
  const kit = new PlanKit(batch, channelBlock());
  const { input, x } = spec.plainInput === true ? { input: kit.map(spec.cin, ...spec.size), x: -1 } : blockedInput(kit, spec.cin, ...spec.size);
  const source = spec.plainInput === true ? input : x;
  const [oh, ow] = outSize(spec.size, spec.kernel, spec.stride, spec.pad);
  const y = kit.map(spec.cout, oh, ow);
  const { weight, bias } = convWeights(spec, seed);
  kit.add({
    op: 'conv2d', name: 'conv', input: source, output: y, residual: -1, weight: kit.weight(weight), bias: kit.weight(bias),
    kernel: spec.kernel, stride: spec.stride, pad: spec.pad, relu: spec.relu,
  });
  return {
    plan: kit.build(input, y),
    reference: (t) => refConv2d(t, weight, bias, spec.cout, spec.kernel, spec.stride, spec.pad, spec.relu),
  };
}

const CONV_CASES: [string, ConvSpec][] = [
  ['1x1 32->48', { cin: 32, cout: 48, size: [9, 9], kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu: true }],
  ['3x3 pad 1 32->32', { cin: 32, cout: 32, size: [11, 11], kernel: [3, 3], stride: [1, 1], pad: [1, 1], relu: true }],
  ['3x3 stride 2 valid 24->40 (padded input channels)', { cin: 24, cout: 40, size: [17, 17], kernel: [3, 3], stride: [2, 2], pad: [0, 0], relu: false }],
  ['1x7 pad (0,3) 32->20', { cin: 32, cout: 20, size: [9, 9], kernel: [1, 7], stride: [1, 1], pad: [0, 3], relu: true }],
  ['7x1 pad (3,0) 20->32', { cin: 20, cout: 32, size: [9, 9], kernel: [7, 1], stride: [1, 1], pad: [3, 0], relu: true }],
  ['stem 3x3 stride 2 on the plain 3-channel input', { cin: 3, cout: 32, size: [21, 21], kernel: [3, 3], stride: [2, 2], pad: [0, 0], relu: true, plainInput: true }],
  ['3x3 stride 2 pad 1 on an even size', { cin: 16, cout: 16, size: [10, 10], kernel: [3, 3], stride: [2, 2], pad: [1, 1], relu: false }],
];

interface PoolSpec {
  kind: 'max' | 'avg';
  c: number;
  size: Pair;
  kernel: Pair;
  stride: Pair;
  pad: Pair;
  countIncludePad: boolean;
}

function poolPlan(spec: PoolSpec, batch: number): Built {
  const kit = new PlanKit(batch, channelBlock());
  const { input, x } = blockedInput(kit, spec.c, ...spec.size);
  const y = kit.map(spec.c, ...outSize(spec.size, spec.kernel, spec.stride, spec.pad));
  kit.add({
    op: spec.kind === 'max' ? 'maxpool2d' : 'avgpool2d', name: 'pool', input: x, output: y,
    kernel: spec.kernel, stride: spec.stride, pad: spec.pad, countIncludePad: spec.countIncludePad,
  });
  return { plan: kit.build(input, y), reference: (t) => refPool2d(t, spec.kind, spec.kernel, spec.stride, spec.pad, spec.countIncludePad) };
}

const POOL_CASES: [string, PoolSpec][] = [
  ['max 3x3 stride 2 valid', { kind: 'max', c: 40, size: [17, 17], kernel: [3, 3], stride: [2, 2], pad: [0, 0], countIncludePad: false }],
  ['max 3x3 stride 1 pad 1', { kind: 'max', c: 32, size: [9, 9], kernel: [3, 3], stride: [1, 1], pad: [1, 1], countIncludePad: false }],
  ['avg 3x3 pad 1 excluding padding (border divisors 4 and 6)', { kind: 'avg', c: 24, size: [8, 8], kernel: [3, 3], stride: [1, 1], pad: [1, 1], countIncludePad: false }],
  ['avg 3x3 pad 1 including padding (divisor 9)', { kind: 'avg', c: 24, size: [8, 8], kernel: [3, 3], stride: [1, 1], pad: [1, 1], countIncludePad: true }],
  ['avg 3x3 stride 2 pad 1 excluding padding, odd size', { kind: 'avg', c: 16, size: [9, 9], kernel: [3, 3], stride: [2, 2], pad: [1, 1], countIncludePad: false }],
];

/** Small plans for the loop-backed and vector ops; x is a blocked [N,c,h,w] copy of the input. */
function vectorPlan(batch: number, c: number, build: (kit: PlanKit, gap: number) => { y: number; reference: (v: RefTensor) => RefTensor }): Built {
  const kit = new PlanKit(batch, channelBlock());
  const { input, x } = blockedInput(kit, c, 5, 5);
  const gap = kit.map(c, 1, 1);
  kit.add({ op: 'globalavgpool', name: 'gap', input: x, output: gap });
  const { y, reference } = build(kit, gap);
  return { plan: kit.build(input, y), reference: (t) => reference(refGlobalAvgPool(t)) };
}

function asNchw(t: RefTensor): RefTensor {
  return t.shape.length === 2 ? refTensor([t.shape[0]!, t.shape[1]!, 1, 1], t.data) : t;
}

const suite = describe.skipIf(cpuBackend === null);
const seen: { case: string; impl: string }[] = [];

suite(cpuSuiteName('oneDNN CPU backend: convolution'), () => {
  it.each(CONV_CASES)('%s', async (name, spec) => {
    const built = convPlan(spec, 2, 11);
    const program = await compileCpu(built.plan);
    const { error } = await runAgainstReference(program, built.plan, 2, 5, built.reference);
    const impl = program.implementations().find((s) => s.step === 'conv')!.impl;
    seen.push({ case: `conv ${name}`, impl });
    console.log(`conv ${name}: relL2 ${error.toExponential(2)} impl ${impl}`);
    expect(error).toBeLessThan(CONV_TOL);
    expect(impl.startsWith('ref')).toBe(false);
    program.dispose();
  });

  it('linear (a 1x1 convolution on [N,F,1,1]) with relu', async () => {
    const weight = randomValues(10 * 40, 3).map((v) => v / Math.sqrt(40));
    const bias = randomValues(10, 4);
    const built = vectorPlan(2, 40, (kit, gap) => {
      const y = kit.map(10, 1, 1);
      kit.add({ op: 'linear', name: 'fc', input: gap, output: y, weight: kit.weight(weight), bias: kit.weight(bias), relu: true });
      return { y, reference: (v) => refLinear(v, weight, bias, 10, true) };
    });
    const program = await compileCpu(built.plan);
    const { error } = await runAgainstReference(program, built.plan, 2, 9, built.reference);
    expect(error).toBeLessThan(CONV_TOL);
  });

  it('residual: a conv accumulates into its output in place (sum post-op), then relu', async () => {
    const kit = new PlanKit(2, channelBlock());
    const { input, x } = blockedInput(kit, 32, 9, 9);
    const r = kit.map(32, 9, 9);
    const a = convWeights({ cin: 32, cout: 32, kernel: [1, 1] }, 21);
    const b = convWeights({ cin: 32, cout: 32, kernel: [3, 3] }, 22);
    kit.add({ op: 'conv2d', name: 'shortcut', input: x, output: r, residual: -1, weight: kit.weight(a.weight), bias: kit.weight(a.bias), kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu: false });
    kit.add({ op: 'conv2d', name: 'block', input: x, output: r, residual: r, weight: kit.weight(b.weight), bias: kit.weight(b.bias), kernel: [3, 3], stride: [1, 1], pad: [1, 1], relu: true });
    const plan = kit.build(input, r);
    const program = await compileCpu(plan);
    const { error } = await runAgainstReference(program, plan, 2, 31, (t) => {
      const shortcut = refConv2d(t, a.weight, a.bias, 32, [1, 1], [1, 1], [0, 0], false);
      return refConv2d(t, b.weight, b.bias, 32, [3, 3], [1, 1], [1, 1], true, { tensor: shortcut, scale: 1 });
    });
    expect(error).toBeLessThan(CONV_TOL);
  });
});

suite(cpuSuiteName('oneDNN CPU backend: pooling'), () => {
  it.each(POOL_CASES)('%s', async (name, spec) => {
    const built = poolPlan(spec, 2);
    const program = await compileCpu(built.plan);
    const { error } = await runAgainstReference(program, built.plan, 2, 7, built.reference);
    const impl = program.implementations().find((s) => s.step === 'pool')!.impl;
    seen.push({ case: `pool ${name}`, impl });
    console.log(`pool ${name}: relL2 ${error.toExponential(2)} impl ${impl}`);
    expect(error).toBeLessThan(EXACT_TOL);
    expect(impl.startsWith('ref')).toBe(false);
  });

  it('global average pool', async () => {
    const kit = new PlanKit(2, channelBlock());
    const { input, x } = blockedInput(kit, 40, 8, 8);
    const y = kit.map(40, 1, 1);
    kit.add({ op: 'globalavgpool', name: 'gap', input: x, output: y });
    const plan = kit.build(input, y);
    const program = await compileCpu(plan);
    const { error } = await runAgainstReference(program, plan, 2, 8, (t) => asNchw(refGlobalAvgPool(t)));
    // A mean of 64 zero-mean values: the fp32 sum's rounding is relative to the partial sums, which
    // can exceed the (cancelled) result, so allow the sum-length tolerance of the loops, not EXACT_TOL.
    expect(error).toBeLessThan(LOOP_TOL);
  });
});

suite(cpuSuiteName('oneDNN CPU backend: loop ops'), () => {
  it('relu', async () => {
    const kit = new PlanKit(2, channelBlock());
    const { input, x } = blockedInput(kit, 20, 6, 6);
    const y = kit.map(20, 6, 6);
    kit.add({ op: 'relu', name: 'relu', input: x, output: y });
    const plan = kit.build(input, y);
    const { error } = await runAgainstReference(await compileCpu(plan), plan, 2, 1, (t) => refRelu(t));
    expect(error).toBeLessThan(EXACT_TOL);
  });

  it('residual_add with scale and relu', async () => {
    const kit = new PlanKit(2, channelBlock());
    const { input, x } = blockedInput(kit, 24, 6, 6);
    const r = kit.map(24, 6, 6);
    const y = kit.map(24, 6, 6);
    kit.add({ op: 'relu', name: 'relu', input: x, output: r });
    kit.add({ op: 'residual_add', name: 'add', inputs: [x, r], output: y, scale: 0.17, relu: true });
    const plan = kit.build(input, y);
    const { error } = await runAgainstReference(await compileCpu(plan), plan, 2, 2, (t) => refResidualAdd(t, refRelu(t), 0.17, true));
    expect(error).toBeLessThan(LOOP_TOL);
  });

  it('affine (per-channel scale and shift) with relu', async () => {
    const scale = randomValues(20, 5);
    const shift = randomValues(20, 6);
    const kit = new PlanKit(2, channelBlock());
    const { input, x } = blockedInput(kit, 20, 4, 4);
    const y = kit.map(20, 4, 4);
    kit.add({ op: 'affine', name: 'bn', input: x, output: y, scale: kit.weight(scale), shift: kit.weight(shift), relu: true });
    const plan = kit.build(input, y);
    const { error } = await runAgainstReference(await compileCpu(plan), plan, 2, 3, (t) => {
      const out = refTensor(t.shape);
      const [n, c, h, w] = t.shape as [number, number, number, number];
      for (let i = 0; i < n * c * h * w; i++) {
        const ch = Math.floor(i / (h * w)) % c;
        out.data[i] = Math.max(0, t.data[i]! * scale[ch]! + shift[ch]!);
      }
      return out;
    });
    expect(error).toBeLessThan(LOOP_TOL);
  });

  it('concat copy with pieces not aligned to the channel block (20 + 12 + 40)', async () => {
    const kit = new PlanKit(2, channelBlock());
    const { input, x } = blockedInput(kit, 40, 7, 7);
    const a = kit.map(20, 7, 7);
    const b = kit.map(12, 7, 7);
    const y = kit.map(72, 7, 7);
    const wa = convWeights({ cin: 40, cout: 20, kernel: [1, 1] }, 41);
    const wb = convWeights({ cin: 40, cout: 12, kernel: [1, 1] }, 42);
    kit.add({ op: 'conv2d', name: 'a', input: x, output: a, residual: -1, weight: kit.weight(wa.weight), bias: kit.weight(wa.bias), kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu: false });
    kit.add({ op: 'conv2d', name: 'b', input: x, output: b, residual: -1, weight: kit.weight(wb.weight), bias: kit.weight(wb.bias), kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu: false });
    kit.add({ op: 'concat', name: 'cat', inputs: [a, b, x], output: y });
    const plan = kit.build(input, y);
    const { error } = await runAgainstReference(await compileCpu(plan), plan, 2, 4, (t) =>
      refConcat([refConv2d(t, wa.weight, wa.bias, 20, [1, 1], [1, 1], [0, 0], false), refConv2d(t, wb.weight, wb.bias, 12, [1, 1], [1, 1], [0, 0], false), t]),
    );
    expect(error).toBeLessThan(CONV_TOL);
  });

  it('l2norm on [N,F,1,1]', async () => {
    const built = vectorPlan(2, 40, (kit, gap) => {
      const y = kit.map(40, 1, 1);
      kit.add({ op: 'l2norm', name: 'norm', input: gap, output: y, eps: 1e-12 });
      return { y, reference: (v) => refL2Norm(v, 1e-12) };
    });
    const { error } = await runAgainstReference(await compileCpu(built.plan), built.plan, 2, 6, built.reference);
    expect(error).toBeLessThan(LOOP_TOL);
  });

  it('softmax on [N,K,1,1]', async () => {
    const built = vectorPlan(3, 24, (kit, gap) => {
      const y = kit.map(24, 1, 1);
      kit.add({ op: 'softmax', name: 'softmax', input: gap, output: y });
      return { y, reference: (v) => refSoftmax(v) };
    });
    const { error } = await runAgainstReference(await compileCpu(built.plan), built.plan, 3, 7, built.reference);
    expect(error).toBeLessThan(LOOP_TOL);
  });
});

export { seen as implementationsSeen };
