/**
 * Overlapped transfers (CompileOptions.overlapTransfers, native/cuda/program.h): two pinned
 * staging slots and two copy streams, so back-to-back runs overlap upload, compute and download.
 * Checked on inception_resnet_v1 plain 160x160, fp16 and fp32, maxBatch 4:
 * - the program says so (overlapsTransfers, runsInFlight 2) and the default stays off (1);
 * - six runs of different random batches started at once (two in flight in the native program,
 *   the rest queued) each return their own batch's output: bitwise equal to the same batch run
 *   alone, awaited, on the same program (same kernels; a graph replays the eager kernels
 *   bitwise, tests/gpu/graphs.test.ts), so a mix-up of slots (a run reading another's upload or
 *   download) shows as a difference. Runs 3 and later replay the compute-only graph;
 * - the same as a program without overlap: bitwise when both chose the same algorithms
 *   (choices(); the second compile re-trials the first's cached decisions), else within the
 *   precision's bound for other algorithms (rel-L2 1e-2 fp16, 1e-4 fp32, as streams.test.ts);
 * - a batch of n = 3 runs at its exact size while a batch of 4 is in flight (a new batch size is
 *   set up only after the streams drain);
 * - a NaN input rejects with InvalidInputError and frees its slot: the next runs still succeed;
 * - profile() in overlap mode returns every step (it takes a slot and drains the streams first);
 * - through a session (INCEPTION_CUDA_OVERLAP=1): runs started together return, bitwise, the rows
 *   the same session returns for each batch awaited alone.
 * Timing is the GPU check's `overlap` stage. Needs no fixtures; skips without a CUDA device.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors';
import { getModel } from '../../src/models/registry';
import { cudaBackendInfo, loadCudaBackend, type CudaProgram } from '../../src/native/cuda-backend';
import { optimize } from '../../src/optimize/index';
import { lowerToPlan } from '../../src/plan/lower';
import type { Plan } from '../../src/plan/types';
import { createSession } from '../../src/runtime/session';
import { syntheticWeights } from '../../src/weights/synthetic';
import { randomValues, relL2 } from './gpu-plan';

const info = cudaBackendInfo();
const skip = !info.available;
const reason = skip ? ` (skipped: no CUDA device: ${(info.reason ?? '').replace(/\n/g, ' ')})` : '';
if (skip) console.warn(`[skip] tests/gpu/overlap${reason}`);

const MODEL = 'inception_resnet_v1' as const;
const SIZE = 160;
const IMAGE = 3 * SIZE * SIZE;
const MAX_BATCH = 4;

/** rel-L2 allowed between programs that chose different algorithms (as tests/gpu/streams.test.ts). */
const OTHER_ALGORITHMS_REL_L2 = { fp16: 1e-2, fp32: 1e-4 } as const;

const choiceKeys = (p: CudaProgram, n: number): string[] => p.choices().filter((c) => c.n === n).map((c) => `${c.step}|${c.description}`).sort();

/** A fresh random batch per seed (never zeros: an unwritten output would hide). */
const batchOf = (n: number, seed: number): Float32Array => randomValues(n * IMAGE, seed, 2);

describe.skipIf(skip)(`CUDA overlapped transfers${reason}`, () => {
  for (const precision of ['fp16', 'fp32'] as const) {
    describe(precision, () => {
      let plan: Plan;
      let plain: CudaProgram;
      let overlapped: CudaProgram;
      beforeAll(async () => {
        const backend = loadCudaBackend();
        const def = getModel(MODEL);
        const optimised = optimize(def.build({ batch: MAX_BATCH, height: SIZE, width: SIZE }), syntheticWeights(def, 'plain'));
        plan = lowerToPlan(optimised.graph, optimised.weights, backend.layoutPolicy(precision)).plan;
        plain = (await backend.compile(plan, { precision, benchmark: true, cudaGraphs: true })) as CudaProgram;
        overlapped = (await backend.compile(plan, { precision, benchmark: true, cudaGraphs: true, overlapTransfers: true })) as CudaProgram;
      }, 180_000);
      afterAll(() => {
        plain?.dispose();
        overlapped?.dispose();
      });

      it('says it overlaps (two runs in flight); the default does not', () => {
        expect(overlapped.overlapsTransfers).toBe(true);
        expect(overlapped.runsInFlight).toBe(2);
        expect(plain.overlapsTransfers).toBe(false);
        expect(plain.runsInFlight ?? 1).toBe(1);
      });

      it('six batches started at once each get their own rows: bitwise as each alone, and as without overlap', async () => {
        const inputs = Array.from({ length: 6 }, (_, i) => batchOf(MAX_BATCH, 1000 + i));
        const got = await Promise.all(inputs.map((x) => overlapped.run(x, MAX_BATCH)));
        expect(overlapped.graphs().find((g) => g.n === MAX_BATCH)?.captured).toBe(true);
        const alone: Float32Array[] = [];
        for (const x of inputs) alone.push(await overlapped.run(x, MAX_BATCH));
        got.forEach((out, i) => expect(out, `batch ${i}`).toEqual(alone[i]));
        const same = JSON.stringify(choiceKeys(plain, MAX_BATCH)) === JSON.stringify(choiceKeys(overlapped, MAX_BATCH));
        for (let i = 0; i < inputs.length; i++) {
          const want = await plain.run(inputs[i]!, MAX_BATCH);
          if (same) expect(got[i], `batch ${i} vs no overlap`).toEqual(want);
          else expect(relL2(got[i]!, want), `batch ${i} vs no overlap (other algorithms)`).toBeLessThanOrEqual(OTHER_ALGORITHMS_REL_L2[precision]);
        }
      }, 120_000);

      it('a new batch size (3) set up while a batch of 4 is in flight returns both right', async () => {
        const four = batchOf(4, 77);
        const three = batchOf(3, 78);
        const [got4, got3] = await Promise.all([overlapped.run(four, 4), overlapped.run(three, 3)]);
        // Size 3 is now set up: later runs of it are eager (its graph comes after 2 eager runs) and
        // launch the same kernels as the first, so each alone must give the same rows bitwise.
        expect(await overlapped.run(four, 4)).toEqual(got4);
        expect(await overlapped.run(three, 3)).toEqual(got3);
      }, 120_000);

      it('a NaN batch rejects and frees its slot; the runs after it succeed', async () => {
        const bad = batchOf(MAX_BATCH, 5);
        bad[IMAGE + 7] = Number.NaN;
        const good = batchOf(MAX_BATCH, 6);
        const want = await overlapped.run(good, MAX_BATCH);
        const results = await Promise.allSettled([overlapped.run(bad, MAX_BATCH), overlapped.run(good, MAX_BATCH), overlapped.run(good, MAX_BATCH), overlapped.run(good, MAX_BATCH)]);
        expect(results[0]!.status).toBe('rejected');
        expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(InvalidInputError);
        for (const r of results.slice(1)) expect((r as PromiseFulfilledResult<Float32Array>).value).toEqual(want);
      }, 120_000);

      it('profile() works in overlap mode: every step timed', async () => {
        const steps = await overlapped.profile(batchOf(MAX_BATCH, 9), MAX_BATCH, 2);
        expect(steps).toHaveLength(plan.steps.length + 2);
        for (const s of steps) expect(s.ms).toBeGreaterThanOrEqual(0);
      }, 120_000);
    });
  }

  it('a session with INCEPTION_CUDA_OVERLAP=1: runs started together return the rows of each batch run alone', async () => {
    const previous = process.env.INCEPTION_CUDA_OVERLAP;
    process.env.INCEPTION_CUDA_OVERLAP = '1';
    const session = await createSession({ model: MODEL, weights: 'synthetic', device: 'cuda', precision: 'fp16', maxBatch: 2, inputSize: SIZE }).finally(() => {
      if (previous === undefined) delete process.env.INCEPTION_CUDA_OVERLAP;
      else process.env.INCEPTION_CUDA_OVERLAP = previous;
    });
    try {
      const shape = [2, 3, SIZE, SIZE] as const;
      const inputs = Array.from({ length: 5 }, (_, i) => batchOf(2, 300 + i));
      for (let i = 0; i < 3; i++) await session.run(inputs[0]!, shape); // eager runs and the capture
      const got = await Promise.all(inputs.map((x) => session.run(x, shape)));
      for (let i = 0; i < inputs.length; i++) expect(got[i], `batch ${i}`).toEqual(await session.run(inputs[i]!, shape));
    } finally {
      await session.dispose();
    }
  }, 180_000);
});
