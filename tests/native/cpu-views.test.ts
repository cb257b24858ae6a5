/**
 * Concat as views: convolutions and pools write straight into channel slices of one blocked concat
 * buffer (what layoutPolicy().concatViews = true promises), at batch 2 and 3 and for every n below
 * the plan batch (a batch-n run uses the first n images of each buffer).
 * Tolerance CONV_TOL 2e-6 as in cpu-ops.test.ts (fp32 direct convolution, K <= 144 products).
 */
import { describe, expect, it } from 'vitest';
import type { Pair } from '../../src/graph/ir';
import type { Plan } from '../../src/plan/types';
import { refConcat, refConv2d, refPool2d, type RefTensor } from '../helpers/reference';
import { loadCpuModule } from '../../src/native/cpu-backend';
import { channelBlock, compileCpu, cpuBackend, cpuSuiteName, runAgainstReference } from './cpu-harness';
import { identityWeights, PlanKit, randomValues } from './plan-kit';

const CONV_TOL = 2e-6;

function weights(cin: number, cout: number, k: Pair, seed: number): { weight: Float32Array; bias: Float32Array } {
  const fanIn = cin * k[0] * k[1];
  return { weight: randomValues(cout * fanIn, seed).map((v) => v / Math.sqrt(fanIn)), bias: randomValues(cout, seed + 1) };
}

/**
 * An Inception-style block: x [16, s, s] -> concat buffer of 32 (1x1 conv) + 48 (3x3 conv) + 16 (3x3 pool),
 * each branch writing its own slice, stride 1 (pad 1) or stride 2 (valid, a reduction block).
 */
function inceptionBlock(batch: number, size: number, stride: 1 | 2): { plan: Plan; reference: (x: RefTensor) => RefTensor } {
  const kit = new PlanKit(batch, channelBlock());
  const input = kit.map(16, size, size);
  const x = kit.map(16, size, size);
  kit.add({ op: 'conv2d', name: 'copy_in', input, output: x, residual: -1, weight: kit.weight(identityWeights(16)), bias: kit.weight(new Float32Array(16)), kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu: false });
  const pad: Pair = stride === 1 ? [1, 1] : [0, 0];
  const out = stride === 1 ? size : Math.floor((size - 3) / 2) + 1;
  const cat = kit.map(96, out, out);
  const b0 = kit.view(cat, 0, 32);
  const b1 = kit.view(cat, 32, 48);
  const b2 = kit.view(cat, 80, 16);
  const k0: Pair = stride === 1 ? [1, 1] : [3, 3];
  const w0 = weights(16, 32, k0, 1);
  const w1 = weights(16, 48, [3, 3], 2);
  kit.add({ op: 'conv2d', name: 'branch0', input: x, output: b0, residual: -1, weight: kit.weight(w0.weight), bias: kit.weight(w0.bias), kernel: k0, stride: [stride, stride], pad: stride === 1 ? [0, 0] : [0, 0], relu: true });
  kit.add({ op: 'conv2d', name: 'branch1', input: x, output: b1, residual: -1, weight: kit.weight(w1.weight), bias: kit.weight(w1.bias), kernel: [3, 3], stride: [stride, stride], pad, relu: true });
  kit.add({ op: 'maxpool2d', name: 'branch2', input: x, output: b2, kernel: [3, 3], stride: [stride, stride], pad, countIncludePad: false });
  return {
    plan: kit.build(input, cat),
    reference: (t) =>
      refConcat([
        refConv2d(t, w0.weight, w0.bias, 32, k0, [stride, stride], [0, 0], true),
        refConv2d(t, w1.weight, w1.bias, 48, [3, 3], [stride, stride], pad, true),
        refPool2d(t, 'max', [3, 3], [stride, stride], pad, false),
      ]),
  };
}

describe.skipIf(cpuBackend === null)(cpuSuiteName('oneDNN CPU backend: concat views'), () => {
  it('the layout policy reports concat views (verified below)', () => {
    expect(loadCpuModule().layoutPolicy('fp32').concatViews).toBe(true);
  });

  it.each([
    [1 as const, 2],
    [1 as const, 3],
    [2 as const, 2],
    [2 as const, 3],
  ])('branches write into slices of one buffer: stride %i, plan batch %i, every n <= batch', async (stride, batch) => {
    const { plan, reference } = inceptionBlock(batch, 9, stride);
    const program = await compileCpu(plan);
    for (let n = batch; n >= 1; n--) {
      const { error } = await runAgainstReference(program, plan, n, 100 + n, reference);
      expect(error, `n = ${n}`).toBeLessThan(CONV_TOL);
    }
    const impls = program.implementations().filter((s) => s.step.startsWith('branch'));
    console.log(`views stride ${stride} batch ${batch}: ${impls.map((s) => `${s.step}@${s.batch}=${s.impl}`).join(', ')}`);
    expect(impls.length).toBe(3 * batch); // created lazily for every n that ran
    for (const s of impls) expect(s.impl.startsWith('ref'), `${s.step} at batch ${s.batch}: ${s.impl}`).toBe(false);
    program.dispose();
  });

  it('runs with n < plan.batch give per-image results independent of the batch', async () => {
    const { plan } = inceptionBlock(3, 9, 1);
    const program = await compileCpu(plan);
    const perImage = 16 * 9 * 9;
    const input = randomValues(3 * perImage, 77);
    const all = await program.run(input, 3);
    const first = await program.run(input.slice(0, perImage), 1);
    const outPerImage = all.length / 3;
    // Same kernels on the same data: the same image must give the same values to fp32 rounding
    // (a different batch may pick another blocking, so not necessarily bit-identical).
    let worst = 0;
    for (let i = 0; i < outPerImage; i++) worst = Math.max(worst, Math.abs(first[i]! - all[i]!));
    expect(worst).toBeLessThan(1e-5);
  });
});
