/**
 * Plans for the tests of the CPU module's own kernels (cpu-winograd-1d, cpu-small-map): one conv
 * with seeded weights, its float64 reference, and Inception's concat-view pattern.
 */
import type { Pair } from '../../src/graph/ir';
import { refConcat, refConv2d, type RefTensor } from '../helpers/reference';
import { channelBlock, type KernelCase } from './cpu-harness';
import { blockedInput, PlanKit, randomValues } from './plan-kit';

export interface ConvSpec {
  weight: Float32Array;
  bias: Float32Array;
  cout: number;
  kernel: Pair;
  stride: Pair;
  pad: Pair;
  relu: boolean;
}

/** Seeded weights scaled by 1/sqrt(fan-in) (outputs of order 1), biases of order 0.1. */
export function convSpec(cin: number, cout: number, kernel: Pair, stride: Pair, pad: Pair, relu: boolean, seed: number): ConvSpec {
  const fanIn = cin * kernel[0] * kernel[1];
  return {
    weight: randomValues(cout * fanIn, seed).map((v) => v / Math.sqrt(fanIn)),
    bias: randomValues(cout, seed + 1).map((v) => v * 0.1),
    cout,
    kernel,
    stride,
    pad,
    relu,
  };
}

/** Adds the conv step; residual: the output tensor to accumulate into (in place), or -1. */
export function addConvStep(kit: PlanKit, name: string, input: number, output: number, c: ConvSpec, residual = -1): void {
  kit.add({
    op: 'conv2d', name, input, output, residual, weight: kit.weight(c.weight), bias: kit.weight(c.bias),
    kernel: c.kernel, stride: c.stride, pad: c.pad, relu: c.relu,
  });
}

/** The float64 reference of the conv (plus the residual before the ReLU when given). */
export function refConvSpec(x: RefTensor, c: ConvSpec, residual?: RefTensor): RefTensor {
  return refConv2d(x, c.weight, c.bias, c.cout, c.kernel, c.stride, c.pad, c.relu, residual === undefined ? undefined : { tensor: residual, scale: 1 });
}

/**
 * Concat views as in an Inception block: steps a(x) and b(x) write the first two slices of one
 * concat buffer, and c(b) reads slice b (a view input) into the third. a, b and c must keep the
 * map size; b's slice starts at channel a.cout, c's at a.cout + b.cout (multiples of 16 keep them
 * on the kernels' block grid). Every step is expected on the kernel under test.
 */
export function concatViewPlan(batch: number, cin: number, size: number, steps: { a: [string, ConvSpec]; b: [string, ConvSpec]; c: [string, ConvSpec] }): KernelCase {
  const [[na, a], [nb, b], [nc, c]] = [steps.a, steps.b, steps.c];
  const kit = new PlanKit(batch, channelBlock());
  const { input, x } = blockedInput(kit, cin, size, size);
  const cat = kit.map(a.cout + b.cout + c.cout, size, size);
  const va = kit.view(cat, 0, a.cout);
  const vb = kit.view(cat, a.cout, b.cout);
  const vc = kit.view(cat, a.cout + b.cout, c.cout);
  addConvStep(kit, na, x, va, a);
  addConvStep(kit, nb, x, vb, b);
  addConvStep(kit, nc, vb, vc, c);
  return {
    plan: kit.build(input, cat),
    reference: (t) => {
      const rb = refConvSpec(t, b);
      return refConcat([refConvSpec(t, a), rb, refConvSpec(rb, c)]);
    },
    ours: [na, nb, nc],
    others: [],
  };
}
