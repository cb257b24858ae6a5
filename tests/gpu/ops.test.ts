/**
 * Single ops on the GPU against the float64 reference, in every precision, on the default
 * paths and with the fallbacks forced (split conv + bias kernel, packed scratch for concat
 * slices, our pooling kernel). Bounds per precision in gpu-cases.ts (OP_BOUNDS) with the why.
 */
import { describe, expect, it } from 'vitest';
import { cudaBackendInfo, loadCudaBackend } from '../../src/native/cuda-backend';
import type { CudaPrecision } from '../../src/runtime/backend';
import { OP_CASES, runOpCase } from './gpu-cases';

const info = cudaBackendInfo();
const hasCuda = info.available;
const skipReason = hasCuda ? '' : ` (skipped: no CUDA device: ${(info.reason ?? '').replace(/\n/g, ' ')})`;

const precisions: readonly CudaPrecision[] = ['fp32', 'tf32', 'fp16'];
const forced = ['', 'split-conv,scratch-views,pool-kernel'];

if (!hasCuda) console.warn(`[skip] tests/gpu/ops${skipReason}`);

describe.skipIf(!hasCuda)(`CUDA ops vs the float64 reference${skipReason}`, () => {
  for (const precision of precisions) {
    for (const force of forced) {
      for (const c of OP_CASES) {
        it(`${precision}${force ? ` [${force}]` : ''}: ${c.name}`, async () => {
          const results = await runOpCase(loadCudaBackend(), c, precision, force);
          for (const r of results) {
            expect(r.error, r.error).toBeUndefined();
            expect(r.relL2, `n=${r.n}`).toBeLessThanOrEqual(r.bound);
          }
        });
      }
    }
  }
});
