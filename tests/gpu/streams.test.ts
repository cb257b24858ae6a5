/**
 * Branch streams and the per-step profile in the CUDA backend (native/cuda/program.cc), on
 * inception_resnet_v1 plain 2x160 (the smallest network), fp32 and fp16:
 * - a plan scheduled on 4 streams gives the output of the 1-stream plan. Both run the same kernels
 *   on the same values (only the arena offsets and the launch order across streams differ), so we
 *   expect bitwise equality; the bound is rel-L2 <= 1e-6, room for a cuDNN kernel that reduces in
 *   a run-dependent order, while a missing wait (a read of a half-written buffer) gives O(1) errors;
 * - the 4-stream run is captured as a CUDA graph (fork/join inside the capture) and replays bitwise
 *   equal to its eager runs;
 * - profile() reports every step plus the two conversions, positive times, the conv path and algorithm.
 * Skipped without a usable GPU; the GPU check's `profile-streams` stage measures the speed.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors';
import { getModel } from '../../src/models/registry';
import { cudaBackendInfo, loadCudaBackend, type CudaProgram } from '../../src/native/cuda-backend';
import { optimize } from '../../src/optimize/index';
import { lowerToPlan } from '../../src/plan/lower';
import { generateInput, syntheticWeights } from '../../src/weights/synthetic';
import { relL2 } from './gpu-plan';

const info = cudaBackendInfo();
const skip = !info.available;
const reason = skip ? ` (skipped: no CUDA device: ${(info.reason ?? '').replace(/\n/g, ' ')})` : '';
if (skip) console.warn(`[skip] tests/gpu/streams${reason}`);

const MODEL = 'inception_resnet_v1' as const;
const N = 2;
const SIZE = 160;
const SAME_KERNELS_REL_L2 = 1e-6;

describe.skipIf(skip)(`CUDA branch streams and profile${reason}`, () => {
  const weights = skip ? undefined : syntheticWeights(getModel(MODEL), 'plain');
  const optimised = skip ? undefined : optimize(getModel(MODEL).build({ batch: N, height: SIZE, width: SIZE }), weights!);

  for (const precision of ['fp32', 'fp16'] as const) {
    it(`${MODEL} ${N}x${SIZE} ${precision}: 4 streams == 1 stream, eager and graph replay`, async () => {
      const backend = loadCudaBackend();
      const policy = backend.layoutPolicy(precision);
      const one = lowerToPlan(optimised!.graph, optimised!.weights, policy, { streams: 1 }).plan;
      const four = lowerToPlan(optimised!.graph, optimised!.weights, policy, { streams: 4 }).plan;
      expect(new Set(four.schedule!.steps.map((s) => s.stream)).size).toBe(4);
      const p1 = (await backend.compile(one, { precision, cudaGraphs: false })) as CudaProgram;
      const p4 = (await backend.compile(four, { precision, cudaGraphs: true })) as CudaProgram;
      try {
        const input = generateInput(N, SIZE, SIZE);
        const reference = await p1.run(input, N);
        const outputs: Float32Array[] = [];
        for (let i = 0; i < 4; i++) outputs.push(await p4.run(input, N)); // 2 eager, capture + replay, replay
        expect(p4.graphs().find((g) => g.n === N)?.captured).toBe(true);
        for (const out of outputs) expect(relL2(out, reference)).toBeLessThanOrEqual(SAME_KERNELS_REL_L2);
        expect(outputs[3]).toEqual(outputs[0]);
      } finally {
        p1.dispose();
        p4.dispose();
      }
    });
  }

  it('profile(): every step and both conversions, with times and what ran', async () => {
    const backend = loadCudaBackend();
    const { plan } = lowerToPlan(optimised!.graph, optimised!.weights, backend.layoutPolicy('fp16'), { streams: 2 });
    const program = (await backend.compile(plan, { precision: 'fp16' })) as CudaProgram;
    try {
      const input = generateInput(N, SIZE, SIZE);
      const profile = await program.profile(input, N, 3);
      expect(profile.map((p) => p.step)).toEqual(['input-convert', ...plan.steps.map((s) => s.name), 'output-convert']);
      for (const p of profile) expect(p.ms).toBeGreaterThan(0);
      profile.slice(1, -1).forEach((p, i) => {
        expect(p.index).toBe(i);
        expect(p.stream).toBe(plan.schedule!.steps[i]!.stream);
        if (plan.steps[i]!.op === 'conv2d') {
          expect(p.path).toMatch(/^(fused|split)(\+scratch-copy)?$/);
          expect(p.algo).toBeGreaterThanOrEqual(0);
        } else {
          expect(p.algo).toBe(-1);
        }
      });
      await expect(program.profile(input, N, 0)).rejects.toBeInstanceOf(InvalidArgumentError);
      // The program still runs normally afterwards.
      expect((await program.run(input, N)).length).toBe(N * 512);
    } finally {
      program.dispose();
    }
  });
});
