/**
 * The GPU op cases (tests/gpu/gpu-cases.ts) checked without a GPU: each hand-built Plan, run by
 * the float64 plan interpreter, must reproduce the case's own reference output. This proves the
 * plans (views, in-place residuals, concat copies) mean what the references compute, so a GPU
 * failure points at the backend. Bound 1e-6 rel-L2: the interpreter stores every tensor in a
 * float32 arena (rounding ~6e-8 per value, 2-4e-8 observed over a case); a wrong view, offset or
 * op moves the output by far more than 1e-3.
 */
import { describe, expect, it } from 'vitest';
import { cudaLayoutPolicy } from '../../src/native/cuda-backend';
import { OP_CASES } from '../gpu/gpu-cases';
import { relL2 } from '../gpu/gpu-plan';
import { interpretPlan } from '../helpers/plan-interpreter';

describe('GPU op cases mean what their references compute', () => {
  for (const c of OP_CASES) {
    it(c.name, () => {
      const built = c.build(cudaLayoutPolicy('fp32'));
      const per = built.input.length / built.plan.batch;
      for (const n of built.runs) {
        const got = interpretPlan(built.plan, built.input.subarray(0, n * per), n);
        expect(relL2(got, built.expected(n))).toBeLessThan(1e-6);
      }
    });
  }
});
