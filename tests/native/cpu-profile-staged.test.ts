/**
 * Program.profile() (with and without its hot reruns) and peakGflops() (the per-layer profile's
 * native parts), and the staged
 * execution of concat-view steps at batch > 1 (a whole network at batch 3 against the same
 * images run one at a time, which takes the per-image path).
 */
import { describe, expect, it } from 'vitest';
import { getModel } from '../../src/models/registry';
import { optimize } from '../../src/optimize';
import { lowerToPlan } from '../../src/plan/lower';
import { measureCpuPeak, loadCpuModule } from '../../src/native/cpu-backend';
import { generateInput, syntheticWeights } from '../../src/weights/synthetic';
import { DisposedError, InvalidArgumentError } from '../../src/errors';
import { compileCpu, cpuBackend, cpuSuiteName } from './cpu-harness';

const SIZE = 80; // IR-v1 at 80x80: every block and view of the network, small maps, fast
async function irv1Program(batch: number) {
  const def = getModel('inception_resnet_v1');
  const opt = optimize(def.build({ batch, height: SIZE, width: SIZE }), syntheticWeights(def, 'plain'));
  const { plan } = lowerToPlan(opt.graph, opt.weights, loadCpuModule().layoutPolicy('fp32'));
  return { plan, program: await compileCpu(plan) };
}

describe.skipIf(cpuBackend === null)(cpuSuiteName('CPU profile, peak and staged view steps'), () => {
  it('profile() times the input reorder, every plan step and the output reorder; bad calls reject', async () => {
    const { plan, program } = await irv1Program(2);
    try {
      const timings = await program.profile(generateInput(2, SIZE, SIZE), 2, 2);
      expect(timings.length).toBe(plan.steps.length + 2);
      expect(timings.slice(1, -1).map((t) => t.step)).toEqual(plan.steps.map((s) => s.name));
      for (const t of timings) {
        expect(Number.isFinite(t.ms) && t.ms >= 0).toBe(true);
        expect(t.impl.length).toBeGreaterThan(0);
      }
      // At batch 2 the small view steps are staged; none may fall back to a reference kernel.
      expect(timings.some((t) => t.impl.endsWith('(staged)'))).toBe(true);
      expect(timings.filter((t) => t.impl.startsWith('ref'))).toEqual([]);
      await expect(program.profile(generateInput(2, SIZE, SIZE), 2, 0)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(program.profile(generateInput(1, SIZE, SIZE), 2, 1)).rejects.toThrow(/length/);
    } finally {
      program.dispose();
    }
    await expect(program.profile(generateInput(2, SIZE, SIZE), 2, 1)).rejects.toBeInstanceOf(DisposedError);
  });

  it('profile(..., hot) reruns every plan step right after its timed run; a run afterwards is bitwise unchanged', async () => {
    // IR-v1's residual convs accumulate into their output in place, so the hot rerun leaves other
    // values in the arena than a run does; every run recomputes the arena from the input.
    const { plan, program } = await irv1Program(1);
    try {
      const x = generateInput(1, SIZE, SIZE);
      const before = await program.run(x, 1);
      const timings = await program.profile(x, 1, 2, true);
      expect(timings.length).toBe(plan.steps.length + 2);
      expect(timings[0]!.hotMs).toBeUndefined();
      expect(timings[timings.length - 1]!.hotMs).toBeUndefined();
      for (const t of timings.slice(1, -1)) expect(Number.isFinite(t.hotMs) && t.hotMs! >= 0, t.step).toBe(true);
      expect((await program.profile(x, 1, 1)).every((t) => t.hotMs === undefined)).toBe(true);
      await expect(program.profile(x, 1, 1, 'yes' as unknown as boolean)).rejects.toThrow(/Expected a boolean for hot but received 'yes'/);
      expect(await program.run(x, 1)).toEqual(before);
    } finally {
      program.dispose();
    }
  });

  it('a batch of 3 (staged view steps) equals the same images run one at a time (per-image path)', async () => {
    const { program } = await irv1Program(3);
    try {
      const x = generateInput(3, SIZE, SIZE);
      const batched = await program.run(x, 3);
      const per = SIZE * SIZE * 3;
      const k = batched.length / 3;
      let num = 0;
      let den = 0;
      for (let i = 0; i < 3; i++) {
        const single = await program.run(x.slice(i * per, (i + 1) * per), 1);
        for (let j = 0; j < k; j++) {
          num += (single[j]! - batched[i * k + j]!) ** 2;
          den += single[j]! ** 2;
        }
      }
      // Same float32 math in a possibly different kernel blocking per batch size: ~1e-7; 1e-5
      // allows summation-order differences, a wrong copy (image/offset mix-up) gives ~1.
      expect(Math.sqrt(num / den)).toBeLessThanOrEqual(1e-5);
      expect(program.implementations().some((e) => e.batch === 3 && e.impl.endsWith('(staged)'))).toBe(true);
    } finally {
      program.dispose();
    }
  });

  it('peakGflops() measures a matmul and a 1x1 conv and rejects bad options', async () => {
    const peak = await measureCpuPeak({ size: 256, repeats: 2, threads: 1 });
    expect(peak.m).toBe(256);
    expect(peak.threads).toBe(1);
    expect(peak.gflops).toBeGreaterThan(0.1);
    expect(peak.conv1x1Gflops).toBeGreaterThan(0.1);
    expect(peak.conv3x3Gflops).toBeGreaterThan(0.1);
    expect(peak.impl.length).toBeGreaterThan(0);
    await expect(measureCpuPeak({ size: 1 })).rejects.toThrow(/size/);
  });
});
