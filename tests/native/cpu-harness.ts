/** Shared setup for tests/native: the CPU backend when built, else a visible skip reason. */
import { expect } from 'vitest';
import type { Backend, ConvolutionAlgorithm } from '../../src/runtime/backend';
import { loadCpuBackend, loadCpuModule, type CpuProgram } from '../../src/native/cpu-backend';
import type { Plan } from '../../src/plan/types';
import { refTensor, type RefTensor } from '../helpers/reference';
import { firstImages, randomValues, relativeL2 } from './plan-kit';

function tryLoad(): { backend: Backend | null; reason: string } {
  try {
    return { backend: loadCpuBackend(), reason: '' };
  } catch (error) {
    const reason = `inception_cpu.node is not available (run npm run build:native): ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
    console.warn(`tests/native skipped: ${reason}`);
    return { backend: null, reason };
  }
}

export const { backend: cpuBackend, reason: cpuSkipReason } = tryLoad();
export const cpuSuiteName = (name: string): string => (cpuBackend === null ? `${name} (skipped: ${cpuSkipReason})` : name);
export const channelBlock = (): number => (cpuBackend === null ? 8 : loadCpuModule().layoutPolicy('fp32').channelBlock);

/**
 * Compiles with direct convolution unless told otherwise: the op tests' tolerances are derived for
 * direct fp32 sums; Winograd ('auto', the session default) has its own tests and bound
 * (cpu-winograd.test.ts).
 */
export async function compileCpu(plan: Plan, threads = 2, convolution: ConvolutionAlgorithm = 'direct'): Promise<CpuProgram> {
  if (cpuBackend === null) throw new Error(cpuSkipReason);
  return (await cpuBackend.compile(plan, { precision: 'fp32', threads, convolution })) as CpuProgram;
}

/**
 * Runs `plan` on n images of seeded random input and returns relative L2 against
 * reference(input as a float64 [n, ...inputShape] tensor).
 */
export async function runAgainstReference(
  program: CpuProgram,
  plan: Plan,
  n: number,
  seed: number,
  reference: (x: RefTensor) => RefTensor,
): Promise<{ error: number; output: Float32Array; expected: Float64Array }> {
  const t = plan.tensors[plan.input]!;
  const input = randomValues(n * t.c * t.h * t.w, seed);
  const output = await program.run(input, n);
  const expected = reference(refTensor([n, t.c, t.h, t.w], input)).data;
  return { error: relativeL2(output, expected), output, expected };
}

/** A plan for a test of one of our own CPU kernels: its float64 reference, and where the kernel should run. */
export interface KernelCase {
  plan: Plan;
  reference: (x: RefTensor) => RefTensor;
  /** Steps expected on the kernel where the CPU has it. */
  ours: string[];
  /** Steps expected elsewhere (oneDNN). */
  others: string[];
}

export interface KernelUnderTest {
  /** Its implementation name, as Program.implementations() reports it. */
  impl: string;
  /** Whether this CPU runs it (elsewhere its steps must not claim it). */
  available: boolean;
  /** Relative L2 bound of a case's whole output against the float64 reference. */
  tolerance: number;
}

/**
 * Runs `built` on `batch` images of seeded random input under convolution 'auto', prints the error
 * and implementations under `label`, and checks the error bound and which steps ran the kernel.
 */
export async function expectKernelCase(kernel: KernelUnderTest, label: string, built: KernelCase, batch: number): Promise<void> {
  const program = await compileCpu(built.plan, 2, 'auto');
  try {
    const { error } = await runAgainstReference(program, built.plan, batch, 7, built.reference);
    const impls = program.implementations().filter((s) => s.batch === batch);
    const implOf = (step: string): string => impls.find((s) => s.step === step)?.impl ?? '?';
    console.log(`${label}: relL2 ${error.toExponential(2)} impls ${[...built.ours, ...built.others].map(implOf).join(', ')}`);
    expect(error, `${label}: relative L2`).toBeLessThan(kernel.tolerance);
    for (const step of built.ours) expect(implOf(step), `${label}: step ${step}`).toBe(kernel.available ? kernel.impl : expect.not.stringContaining(kernel.impl));
    for (const step of built.others) expect(implOf(step), `${label}: step ${step}`).not.toBe(kernel.impl);
  } finally {
    program.dispose();
  }
}

/**
 * Runs a batch-`planBatch` plan at each of `batches` (other batch sizes than the plan's, in an
 * order that revisits one) against the float64 reference on the first n images; returns each
 * batch size's implementation of `step`, for the caller's own checks.
 */
export async function expectBatchSizes(
  kernel: KernelUnderTest,
  label: string,
  built: KernelCase,
  planBatch: number,
  batches: readonly number[],
  step: string,
): Promise<Map<number, string>> {
  const program = await compileCpu(built.plan, 2, 'auto');
  const implByBatch = new Map<number, string>();
  try {
    const t = built.plan.tensors[built.plan.input]!;
    const input = randomValues(planBatch * t.c * t.h * t.w, 9);
    const expected = built.reference(refTensor([planBatch, t.c, t.h, t.w], input));
    for (const n of batches) {
      const output = await program.run(input.subarray(0, n * t.c * t.h * t.w), n);
      const error = relativeL2(output, firstImages(expected, n));
      const impl = program.implementations().find((s) => s.batch === n && s.step === step)?.impl ?? '?';
      console.log(`${label} batch ${n} of a batch-${planBatch} plan: relL2 ${error.toExponential(2)} (${step}: ${impl})`);
      expect(error, `${label} batch ${n}: relative L2`).toBeLessThan(kernel.tolerance);
      implByBatch.set(n, impl);
    }
  } finally {
    program.dispose();
  }
  return implByBatch;
}

/**
 * Compiles `plan` with convolution 'direct' and 'auto' and checks that 'direct' runs no
 * implementation matching `kernelImpl`, and that the two outputs on n images of seeded random
 * input (seed 13) agree within `tolerance` (relative L2).
 */
export async function expectDirectMatchesAuto(plan: Plan, n: number, kernelImpl: RegExp, tolerance: number): Promise<void> {
  const direct = await compileCpu(plan, 2, 'direct');
  const auto = await compileCpu(plan, 2, 'auto');
  try {
    expect(direct.implementations().some((s) => kernelImpl.test(s.impl))).toBe(false);
    const t = plan.tensors[plan.input]!;
    const input = randomValues(n * t.c * t.h * t.w, 13);
    const a = await direct.run(input, n);
    const b = await auto.run(input, n);
    expect(relativeL2(b, a)).toBeLessThan(tolerance);
  } finally {
    direct.dispose();
    auto.dispose();
  }
}
