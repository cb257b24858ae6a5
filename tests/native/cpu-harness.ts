/** Shared setup for tests/native: the CPU backend when built, else a visible skip reason. */
import type { Backend, ConvolutionAlgorithm } from '../../src/runtime/backend';
import { loadCpuBackend, loadCpuModule, type CpuProgram } from '../../src/native/cpu-backend';
import type { Plan } from '../../src/plan/types';
import { refTensor, type RefTensor } from '../helpers/reference';
import { randomValues, relativeL2 } from './plan-kit';

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
