/**
 * CUDA graphs in the CUDA backend (native/cuda/program.cc): after 2 eager runs of a batch size,
 * run 3 captures and replays it, later runs replay. Checked on inception_resnet_v1 plain 2x160
 * (the smallest fixture case), fp32 and fp16:
 * - graphs() reports the batch captured after run 3 (and why not before), disabled when cudaGraphs: false;
 * - the replayed output is bitwise equal to the same program's eager run 1: the graph launches the
 *   same kernels with the same parameters and pointers, so no tolerance is needed (a nondeterministic
 *   cuDNN kernel would show up here as a tiny difference and deserves a look);
 * - the replayed output matches the float64 fixture within the networks bounds (gpu-networks.ts).
 * The timing comparison (graphs on vs off) is in the GPU check's `graphs` stage.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareWithReference } from '../../src/check/fixture-compare';
import { readNpySync } from '../../src/io/npy';
import { getModel } from '../../src/models/registry';
import { cudaBackendInfo, loadCudaBackend, type CudaProgram } from '../../src/native/cuda-backend';
import { optimize } from '../../src/optimize/index';
import { lowerToPlan } from '../../src/plan/lower';
import { generateInput, syntheticWeights } from '../../src/weights/synthetic';
import { fixturesDir } from '../helpers/fixtures';
import { networkBound } from './gpu-networks';

const info = cudaBackendInfo();
const fixtures = fixturesDir();
const skip = !info.available || fixtures === null;
const reason = !info.available ? ` (skipped: no CUDA device: ${(info.reason ?? '').replace(/\n/g, ' ')})` : fixtures === null ? ' (skipped: fixtures not found; set INCEPTION_FIXTURES)' : '';
if (skip) console.warn(`[skip] tests/gpu/graphs${reason}`);

const MODEL = 'inception_resnet_v1' as const;
const N = 2;
const SIZE = 160;

describe.skipIf(skip)(`CUDA graphs${reason}`, () => {
  const weights = skip ? undefined : syntheticWeights(getModel(MODEL), 'plain');
  for (const precision of ['fp32', 'fp16'] as const) {
    it(`${MODEL} plain ${N}x${SIZE} ${precision}: captured on run 3, replay bitwise equal to eager, matches the fixture`, async () => {
      const backend = loadCudaBackend();
      const optimised = optimize(getModel(MODEL).build({ batch: N, height: SIZE, width: SIZE }), weights!);
      const { plan } = lowerToPlan(optimised.graph, optimised.weights, backend.layoutPolicy(precision));
      const program = (await backend.compile(plan, { precision, cudaGraphs: true })) as CudaProgram;
      try {
        const input = generateInput(N, SIZE, SIZE);
        const eager = await program.run(input, N);
        await program.run(input, N);
        const before = program.graphs().find((g) => g.n === N);
        expect(before?.captured).toBe(false);
        expect(before?.reason).toContain('not captured yet: 2 of 2');
        await program.run(input, N); // captures, then replays
        const replay = await program.run(input, N);
        const after = program.graphs().find((g) => g.n === N);
        expect(after?.reason, after?.reason).toBeUndefined();
        expect(after?.captured).toBe(true);
        expect(after?.nodes ?? 0).toBeGreaterThan(plan.steps.length);
        expect(replay).toEqual(eager);
        const ref = readNpySync(join(fixtures!, 'plain', `${MODEL}_${N}x${SIZE}_out_f64.npy`)).data;
        const report = compareWithReference(replay, ref, [N, replay.length / N], networkBound(fixtures!, MODEL, 'plain', precision));
        expect(report.why, report.why).toBeUndefined();
        expect(report.pass).toBe(true);
      } finally {
        program.dispose();
      }
    });
  }

  it('cudaGraphs: false runs eagerly and says so', async () => {
    const backend = loadCudaBackend();
    const optimised = optimize(getModel(MODEL).build({ batch: 1, height: SIZE, width: SIZE }), weights!);
    const { plan } = lowerToPlan(optimised.graph, optimised.weights, backend.layoutPolicy('fp32'));
    const program = (await backend.compile(plan, { precision: 'fp32', cudaGraphs: false })) as CudaProgram;
    try {
      const input = generateInput(1, SIZE, SIZE);
      for (let i = 0; i < 4; i++) await program.run(input, 1);
      expect(program.graphs()).toEqual([{ n: 1, captured: false, reason: 'disabled (compile option cudaGraphs: false, or INCEPTION_CUDA_GRAPHS=0)' }]);
    } finally {
      program.dispose();
    }
    expect(program.graphs()).toEqual([]);
  });
});
