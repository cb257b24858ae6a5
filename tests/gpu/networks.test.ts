/**
 * Whole networks on the GPU against the float64 fixtures (bounds in gpu-networks.ts, with why).
 * The full matrix (3 models x 2 profiles x 2 sizes, plus tf32/fp16) runs in the GPU check
 * (bench/gpu/run.sh); here the default case of each model, plain profile, every precision.
 */
import { describe, expect, it } from 'vitest';
import { getModel } from '../../src/models/registry';
import { cudaBackendInfo, loadCudaBackend } from '../../src/native/cuda-backend';
import { syntheticWeights } from '../../src/weights/synthetic';
import { MODEL_NAMES, fixturesDir } from '../helpers/fixtures';
import { NETWORK_CASES, runNetworkCase } from './gpu-networks';

const info = cudaBackendInfo();
const fixtures = fixturesDir();
const skip = !info.available || fixtures === null;
const reason = !info.available ? ` (skipped: no CUDA device: ${(info.reason ?? '').replace(/\n/g, ' ')})` : fixtures === null ? ' (skipped: fixtures not found; set INCEPTION_FIXTURES)' : '';

if (skip) console.warn(`[skip] tests/gpu/networks${reason}`);

describe.skipIf(skip)(`CUDA networks vs float64 fixtures${reason}`, () => {
  for (const model of MODEL_NAMES) {
    for (const precision of ['fp32', 'tf32', 'fp16'] as const) {
      it(`${model} plain ${NETWORK_CASES[model][0]!.join('x')} ${precision}`, async () => {
        const [n, size] = NETWORK_CASES[model][0]!;
        const weights = syntheticWeights(getModel(model), 'plain');
        const run = await runNetworkCase(loadCudaBackend(), fixtures!, model, 'plain', weights, n, size, precision);
        expect(run.report.why, run.report.why).toBeUndefined();
        expect(run.report.relL2).toBeLessThanOrEqual(run.bound.rel_l2);
        expect(run.report.pass).toBe(true);
      });
    }
  }
});
