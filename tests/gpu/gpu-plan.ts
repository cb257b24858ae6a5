/**
 * Helpers for GPU op tests (plain TS, no vitest: the device suite runs them as compiled JS).
 * The Plan builder itself is tests/helpers/plan-builder.ts, shared with the CPU tests.
 */
export { PlanBuilder as GpuPlanBuilder } from '../helpers/plan-builder';

/** Deterministic uniform values in [-scale, scale) (xorshift32). */
export function randomValues(count: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** ||a - b||_2 / ||b||_2 (b the reference). */
export function relL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = actual[i]! - expected[i]!;
    num += d * d;
    den += expected[i]! * expected[i]!;
  }
  return Math.sqrt(num) / Math.sqrt(den || 1);
}
