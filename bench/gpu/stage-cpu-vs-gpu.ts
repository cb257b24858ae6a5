/**
 * Stage `cpu_vs_gpu`: single ops on random shapes (tests/gpu/random-op-cases.ts, fixed seed)
 * through BOTH backends, oneDNN (inception_cpu.node) and cuDNN, fp32, compared directly and each
 * against the float64 reference.
 *
 * Bound: rel-L2 <= 1e-5 for GPU vs CPU and for each vs float64. Why: both compute in fp32 with
 * fp32 accumulation; each differs from the exact result by ~1e-7 relative (rounding of up to
 * c*kh*kw ~ 400-term sums in different orders, Winograd/FFT/implicit-GEMM on the GPU, JIT
 * blocked kernels on the CPU), so their difference is ~2e-7: 1e-5 leaves ~50x margin while a
 * wrong pad, stride, layout or residual gives errors of order 1e-1..1.
 *
 *   node device-suite.js cpu_vs_gpu [--cpu-only]   (--cpu-only: the CPU half vs float64 alone)
 */
import { cpuBackendInfo, loadCpuBackend } from '../../src/native/cpu-backend';
import { cudaBackendInfo, loadCudaBackend } from '../../src/native/cuda-backend';
import type { Backend, Program } from '../../src/runtime/backend';
import type { BuiltCase, OpCase } from '../../tests/gpu/gpu-cases';
import { relL2 } from '../../tests/gpu/gpu-plan';
import { randomOpCases } from '../../tests/gpu/random-op-cases';
import { type Args, errorText, log, saveStage } from './suite-common';

export const CPU_VS_GPU_SEED = 20261127;
export const CPU_VS_GPU_CASES = { convs: 40, pools: 16, heads: 4 } as const;
export const CPU_VS_GPU_BOUND = 1e-5;

export interface CpuVsGpuRow {
  readonly name: string;
  readonly n: number;
  readonly cpuVsRef?: number;
  readonly gpuVsRef?: number;
  readonly gpuVsCpu?: number;
  readonly pass: boolean;
  readonly error?: string;
}

interface Side {
  readonly built: BuiltCase;
  readonly program: Program;
}

async function open(backend: Backend | undefined, c: OpCase, benchmark: boolean): Promise<Side | undefined> {
  if (backend === undefined) return undefined;
  const built = c.build(backend.layoutPolicy('fp32'));
  return { built, program: await backend.compile(built.plan, { precision: 'fp32', benchmark }) };
}

async function runCase(c: OpCase, cpu: Backend | undefined, gpu: Backend | undefined): Promise<CpuVsGpuRow[]> {
  const rows: CpuVsGpuRow[] = [];
  let cpuSide: Side | undefined;
  let gpuSide: Side | undefined;
  try {
    cpuSide = await open(cpu, c, false);
    gpuSide = await open(gpu, c, true);
    const built = (cpuSide ?? gpuSide)!.built;
    const per = built.input.length / built.plan.batch;
    for (const n of built.runs) {
      const input = built.input.subarray(0, n * per);
      const expected = built.expected(n);
      const cpuOut = cpuSide ? await cpuSide.program.run(input.slice(), n) : undefined;
      const gpuOut = gpuSide ? await gpuSide.program.run(input.slice(), n) : undefined;
      const cpuVsRef = cpuOut ? relL2(cpuOut, expected) : undefined;
      const gpuVsRef = gpuOut ? relL2(gpuOut, expected) : undefined;
      const gpuVsCpu = cpuOut && gpuOut ? relL2(gpuOut, cpuOut) : undefined;
      const ok = (e: number | undefined): boolean => e === undefined || e <= CPU_VS_GPU_BOUND;
      rows.push({ name: c.name, n, cpuVsRef, gpuVsRef, gpuVsCpu, pass: ok(cpuVsRef) && ok(gpuVsRef) && ok(gpuVsCpu) });
    }
  } catch (error) {
    rows.push({ name: c.name, n: 0, pass: false, error: errorText(error) });
  } finally {
    cpuSide?.program.dispose();
    gpuSide?.program.dispose();
  }
  return rows;
}

const fmt = (e: number | undefined): string => (e === undefined ? '-' : e.toExponential(2));

export async function stageCpuVsGpu(args: Args): Promise<void> {
  const cpuOnly = args.flags.includes('--cpu-only');
  let cpu: Backend | undefined;
  let gpu: Backend | undefined;
  let cpuError: string | undefined;
  let gpuError: string | undefined;
  try {
    cpu = loadCpuBackend();
  } catch (error) {
    cpuError = errorText(error);
  }
  if (cpuOnly) gpuError = 'not run (--cpu-only)';
  else {
    const info = cudaBackendInfo();
    if (info.available) gpu = loadCudaBackend();
    else gpuError = info.reason ?? 'CUDA backend unavailable';
  }
  const cpuInfo = cpuBackendInfo();
  log(`CPU backend: ${cpu ? JSON.stringify(cpuInfo.versions) : `UNAVAILABLE: ${cpuError}`}`);
  log(`GPU backend: ${gpu ? 'loaded' : `UNAVAILABLE: ${gpuError}`}`);
  const rows: CpuVsGpuRow[] = [];
  const save = (extra: object = {}): void =>
    saveStage(args, 'cpu_vs_gpu', { seed: CPU_VS_GPU_SEED, bound: CPU_VS_GPU_BOUND, cpu: cpu ? cpuInfo.versions : { error: cpuError }, gpu: gpu ? 'loaded' : { error: gpuError }, rows, ...extra });
  if (cpu === undefined && gpu === undefined) {
    save({ pass: false });
    process.exitCode = 1;
    return;
  }
  for (const c of randomOpCases(CPU_VS_GPU_SEED, CPU_VS_GPU_CASES)) {
    const rs = await runCase(c, cpu, gpu);
    for (const r of rs) log(`${r.pass ? 'PASS' : 'FAIL'} ${r.name} n=${r.n} gpu-vs-cpu=${fmt(r.gpuVsCpu)} cpu-vs-f64=${fmt(r.cpuVsRef)} gpu-vs-f64=${fmt(r.gpuVsRef)}${r.error ? ` ERROR ${r.error}` : ''}`);
    rows.push(...rs);
    save();
  }
  const failed = rows.filter((r) => !r.pass).length;
  const bothRan = cpu !== undefined && gpu !== undefined;
  const worst = Math.max(0, ...rows.map((r) => r.gpuVsCpu ?? 0));
  log(`${rows.length - failed}/${rows.length} runs pass; ${bothRan ? `worst gpu-vs-cpu rel-L2 ${worst.toExponential(2)}` : 'one backend missing: not a GPU-vs-CPU comparison'}`);
  save({ pass: failed === 0 && (bothRan || cpuOnly), worstGpuVsCpu: bothRan ? worst : null });
  if (failed > 0 || !(bothRan || (cpuOnly && cpu !== undefined))) process.exitCode = 1;
}
