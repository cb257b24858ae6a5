/**
 * benchmark (default true) under convolution 'auto': for a 3x3 stride-1 conv for which oneDNN lists
 * several Winograd kernels (at small batches), each is timed and a faster one may replace oneDNN's first
 * (native/cpu/program.cc WinogradKernel). Checked here: whichever kernel runs, the output is
 * right (against the float64 reference, WINO_TOL as in cpu-winograd.test.ts: Winograd transforms
 * add a few fp32 roundings, measured ~1e-6, and any wrong tap or bias gives 1e-2 or more); the
 * decision is the process's, so a second program of the same shape runs the same kernel and gives
 * bitwise the same output; benchmark: false runs oneDNN's first kernel.
 */
import { describe, expect, it } from 'vitest';
import { loadCpuModule, type CpuProgram } from '../../src/native/cpu-backend';
import type { Plan } from '../../src/plan/types';
import { refConv2d, refTensor } from '../helpers/reference';
import { channelBlock, cpuBackend, cpuSuiteName } from './cpu-harness';
import { blockedInput, PlanKit, randomValues, relativeL2 } from './plan-kit';

const WINO_TOL = 1e-5;
const hasWinogradIsa = cpuBackend !== null && loadCpuModule().info().isa.startsWith('avx512_core');
if (cpuBackend !== null && !hasWinogradIsa) console.warn('[skip] Winograd kernel choice: oneDNN 2.6 has fp32 Winograd kernels on AVX-512 only');

// IR-v1's stem conv 2a at 160x160 input: 32 -> 32 on 79x79, no padding, ReLU.
const CIN = 32;
const COUT = 32;
const SIZE = 79;
const weight = randomValues(COUT * CIN * 9, 11).map((v) => v / Math.sqrt(CIN * 9));
const bias = randomValues(COUT, 12).map((v) => v * 0.1);

function stemPlan(batch: number): Plan {
  const kit = new PlanKit(batch, channelBlock());
  const { input, x } = blockedInput(kit, CIN, SIZE, SIZE);
  const y = kit.map(COUT, SIZE - 2, SIZE - 2);
  kit.add({ op: 'conv2d', name: 'conv', input: x, output: y, residual: -1, weight: kit.weight(weight), bias: kit.weight(bias), kernel: [3, 3], stride: [1, 1], pad: [0, 0], relu: true });
  return kit.build(input, y);
}

async function runConv(batch: number, benchmark: boolean): Promise<{ impl: string; output: Float32Array; error: number }> {
  const program = (await cpuBackend!.compile(stemPlan(batch), { precision: 'fp32', threads: 2, convolution: 'auto', benchmark })) as CpuProgram;
  try {
    const input = randomValues(batch * CIN * SIZE * SIZE, 13);
    const output = await program.run(input, batch);
    const expected = refConv2d(refTensor([batch, CIN, SIZE, SIZE], input), weight, bias, COUT, [3, 3], [1, 1], [0, 0], true);
    const impl = program.implementations().find((s) => s.step === 'conv' && s.batch === batch)!.impl;
    return { impl, output, error: relativeL2(output, expected.data) };
  } finally {
    program.dispose();
  }
}

describe.skipIf(!hasWinogradIsa)(cpuSuiteName('3x3 Winograd kernel choice (benchmark)'), () => {
  it('at batch 1: timed or not, a Winograd kernel within tolerance; the timed choice is the same for a second program, bitwise', async () => {
    const first = await runConv(1, false);
    const timed = await runConv(1, true);
    const again = await runConv(1, true);
    console.log(`32->32 79x79 batch 1: oneDNN's first ${first.impl} (relL2 ${first.error.toExponential(2)}), timed ${timed.impl} (relL2 ${timed.error.toExponential(2)})`);
    for (const r of [first, timed, again]) {
      expect(r.impl).toMatch(/wino/);
      expect(r.error).toBeLessThan(WINO_TOL);
    }
    expect(again.impl).toBe(timed.impl);
    expect(Array.from(again.output)).toEqual(Array.from(timed.output));
  });
});
