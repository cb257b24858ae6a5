/**
 * The random-shape op cases of the GPU check's cpu_vs_gpu stage (tests/gpu/random-op-cases.ts),
 * CPU half: oneDNN vs the float64 reference, and the same case built twice gives the same data
 * (the stage builds each case once per backend layout and compares the outputs directly).
 * Tolerance: rel-L2 <= 1e-5 (fp32 with fp32 accumulation is ~1e-7 per op; 100x margin).
 */
import { describe, expect, it } from 'vitest';
import { randomOpCases } from '../gpu/random-op-cases';
import { relL2 } from '../gpu/gpu-plan';
import { compileCpu, cpuBackend, cpuSuiteName } from './cpu-harness';

const CASES = randomOpCases(20261127, { convs: 12, pools: 6, heads: 2 });

describe.skipIf(cpuBackend === null)(cpuSuiteName('random-shape op cases on the CPU backend'), () => {
  it('are deterministic per (seed, index): two builds give identical plans, inputs and references', () => {
    const policy = cpuBackend!.layoutPolicy('fp32');
    for (const c of CASES.slice(0, 4)) {
      const a = c.build(policy);
      const b = c.build(policy);
      expect(b.input).toEqual(a.input);
      expect(b.plan.weights).toEqual(a.plan.weights);
      expect(b.expected(1)).toEqual(a.expected(1));
    }
  });

  for (const c of CASES) {
    it(`${c.name}: within 1e-5 of float64`, async () => {
      const built = c.build(cpuBackend!.layoutPolicy('fp32'));
      const program = await compileCpu(built.plan);
      try {
        const per = built.input.length / built.plan.batch;
        for (const n of built.runs) {
          const out = await program.run(built.input.slice(0, n * per), n);
          expect(relL2(out, built.expected(n))).toBeLessThanOrEqual(1e-5);
        }
      } finally {
        program.dispose();
      }
    });
  }
});
