/**
 * Whole networks on the CUDA backend against the float64 fixtures, as plain functions shared by
 * networks.test.ts (vitest) and bench/gpu/device-suite.ts (compiled JS on the GPU machine).
 * Bounds: fp32 uses the fixtures' tolerances.json (why: see fixtures README, 20-200x over torch
 * float32); tf32 rel-L2 <= 5e-3 and fp16 <= 1e-2 on the plain profile (TF32/fp16 rounding of
 * ~5e-4 per layer, which the plain profile does not amplify), max|Δ|/max|ref| at twice that.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareWithReference, type CompareReport, type Tolerance } from '../../src/check/fixture-compare';
import type { WeightStore } from '../../src/graph/ir';
import { readNpySync } from '../../src/io/npy';
import { getModel } from '../../src/models/registry';
import type { ModelName } from '../../src/models/types';
import type { CudaConvChoice } from '../../src/native/cuda-backend';
import { optimize } from '../../src/optimize/index';
import { lowerToPlan } from '../../src/plan/lower';
import type { Backend, CudaPrecision } from '../../src/runtime/backend';
import { generateInput, type Profile } from '../../src/weights/synthetic';

export const NETWORK_CASES: Readonly<Record<ModelName, readonly (readonly [number, number])[]>> = {
  inception_v4: [[2, 299], [1, 311]],
  inception_resnet_v2: [[2, 299], [1, 311]],
  inception_resnet_v1: [[2, 160], [1, 181]],
};

export const REDUCED_BOUNDS: Readonly<Record<'tf32' | 'fp16', Tolerance>> = {
  tf32: { rel_l2: 5e-3, max_abs_over_max_ref: 1e-2, top1_gap_factor: 2 },
  fp16: { rel_l2: 1e-2, max_abs_over_max_ref: 2e-2, top1_gap_factor: 2 },
};

export function networkBound(fixtures: string, model: ModelName, profile: Profile, precision: CudaPrecision): Tolerance {
  if (precision !== 'fp32') return REDUCED_BOUNDS[precision];
  const tolerances = JSON.parse(readFileSync(join(fixtures, 'tolerances.json'), 'utf8')) as { profiles: Record<Profile, Record<ModelName, Tolerance>> };
  return tolerances.profiles[profile][model];
}

export interface NetworkRun {
  readonly output: Float32Array;
  readonly report: CompareReport;
  readonly bound: Tolerance;
  readonly compileMs: number;
  readonly runMs: number;
  readonly choices: readonly CudaConvChoice[];
}

/** Builds, optimises, plans, compiles and runs one fixture case; compares with `<profile>/<model>_<n>x<size>_out_f64.npy`. */
export async function runNetworkCase(
  backend: Backend,
  fixtures: string,
  model: ModelName,
  profile: Profile,
  weights: WeightStore,
  n: number,
  size: number,
  precision: CudaPrecision,
  benchmark = false,
): Promise<NetworkRun> {
  const graph = getModel(model).build({ batch: n, height: size, width: size });
  const optimised = optimize(graph, weights);
  const { plan } = lowerToPlan(optimised.graph, optimised.weights, backend.layoutPolicy(precision));
  const c0 = Date.now();
  const program = await backend.compile(plan, { precision, benchmark });
  const compileMs = Date.now() - c0;
  try {
    const r0 = Date.now();
    const output = await program.run(generateInput(n, size, size), n);
    const runMs = Date.now() - r0;
    const choices = (program as { choices?: () => CudaConvChoice[] }).choices?.call(program) ?? [];
    const ref = readNpySync(join(fixtures, profile, `${model}_${n}x${size}_out_f64.npy`));
    const bound = networkBound(fixtures, model, profile, precision);
    const report = compareWithReference(output, ref.data, [n, output.length / n], bound);
    return { output, report, bound, compileMs, runMs, choices };
  } finally {
    program.dispose();
  }
}
