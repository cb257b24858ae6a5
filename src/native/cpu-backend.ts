/**
 * The oneDNN CPU backend (inception_cpu.node) behind the runtime's Backend seam.
 * The module is loaded on first use only; cpuBackendInfo() never throws.
 */
import { DeviceError, InvalidArgumentError, invalidParam } from '../errors';
import type { LayoutPolicy, Plan } from '../plan/types';
import { type Backend, type BackendInfo, type CompileOptions, CONVOLUTION_ALGORITHMS, type ConvolutionAlgorithm, type Precision, type Program } from '../runtime/backend';
import { loadedModulePath, loadNativeModule, type NativeModuleBase } from './binding';
import { fromNativeError, nativeCall } from './native-errors';
import { QueuedProgram } from './queued-program';

export const CPU_INSTALL_HINT = 'Install oneDNN 2.x (the module links libdnnl.so.2): sudo apt-get install libdnnl-dev';

export interface CpuStepImplementation {
  readonly step: string;
  /** oneDNN impl_info_str(), e.g. 'jit:avx512_core' or 'brg:avx512_core'; 'loop' for the plain loops. */
  readonly impl: string;
  readonly batch: number;
}

/** One entry of Program.profile(): a step (or the input/output reorder) and its median time. */
export interface CpuStepTiming {
  readonly step: string;
  readonly impl: string;
  /** Median over the repeats of the step's wall time, waiting for it to finish (steady clock). */
  readonly ms: number;
  /**
   * profile(..., hot = true) only, plan steps only (not the reorders): the median of the step's
   * second run right after its timed one, its weights and inputs then in the caches.
   */
  readonly hotMs?: number;
}

/**
 * peakGflops(): a large oneDNN fp32 matmul, a 1x1 convolution (512->512 channels on 56x56) and a
 * 3x3 convolution (192->192 on 35x35), each timed natively, best of `repeats` runs.
 */
export interface CpuPeak {
  /** The matmul's GFLOP/s. */
  readonly gflops: number;
  readonly bestMs: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly threads: number;
  readonly repeats: number;
  readonly impl: string;
  readonly conv1x1Gflops: number;
  readonly conv1x1BestMs: number;
  readonly conv1x1Channels: number;
  readonly conv1x1Size: number;
  readonly conv1x1Impl: string;
  /** A 3x3 conv 192->192 on 35x35 (pad 1). */
  readonly conv3x3Gflops: number;
  readonly conv3x3BestMs: number;
  readonly conv3x3Impl: string;
}

/** The native Program object (native/cpu/program_wrap.cc). */
export interface NativeCpuProgram {
  run(input: Float32Array, n: number): Promise<Float32Array>;
  dispose(): void;
  implementations(): CpuStepImplementation[];
  profile(input: Float32Array, n: number, repeats: number, hot?: boolean): Promise<CpuStepTiming[]>;
  readonly workspaceBytes: number;
  readonly weightBytes: number;
  readonly arenaBytes: number;
  readonly batch: number;
  readonly disposed: boolean;
}

export interface NativeCpuInfo {
  readonly onednn: string;
  readonly isa: string;
  readonly channelBlock: number;
  /** The CPU multiplies bf16 natively (oneDNN's ISA is avx512_core_bf16 or avx512_core_amx). */
  readonly bf16Native: boolean;
  /** When bf16Native is false: why precision 'bf16' is refused, naming the ISA and what is needed. */
  readonly bf16Refusal?: string;
  readonly threads: number;
  /**
   * How the oneDNN thread team is placed (native/cpu/thread_team.h): e.g. '2 threads pinned to
   * CPUs 0,1', 'off: INCEPTION_CPU_PIN_THREADS=0', or 'not set up yet' before the first run.
   */
  readonly threadPinning: string;
}

interface NativeCompileOptions {
  threads?: number;
  convolution?: ConvolutionAlgorithm;
  /** Default true: time oneDNN's kernels for each 3x3 stride-1 conv under 'auto' (program.cc WinogradKernel). */
  benchmark?: boolean;
  /** Default 'fp32'. 'bf16': bf16 activations and weights, fp32 accumulation (native bf16 CPUs only). */
  precision?: 'fp32' | 'bf16';
}

export interface NativeCpuModule extends NativeModuleBase {
  info(): NativeCpuInfo;
  layoutPolicy(precision: string): LayoutPolicy;
  compile(plan: Plan, options: NativeCompileOptions): Promise<NativeCpuProgram>;
  peakGflops(options: { size?: number; threads?: number; repeats?: number }): Promise<CpuPeak>;
  /** Programs alive in the whole process, every worker_thread included (neither disposed nor freed). */
  livePrograms(): number;
  /** Bytes malloc has handed out and not got back, whole process (glibc mallinfo2); undefined without glibc ≥ 2.33. */
  mallocInUse(): number | undefined;
}

let cached: NativeCpuModule | undefined;

/** Loads inception_cpu.node once (BackendUnavailableError with possible solutions on failure). */
export function loadCpuModule(): NativeCpuModule {
  cached ??= loadNativeModule<NativeCpuModule>('inception_cpu', CPU_INSTALL_HINT);
  return cached;
}

/** A Program that also lists which oneDNN implementation runs each step. */
export interface CpuProgram extends Program {
  implementations(): CpuStepImplementation[];
  /**
   * Runs n images `repeats` times (after one warm-up) waiting after every step; resolves to each
   * step's median milliseconds: the input reorder, every plan step in order, the output reorder.
   * hot: also run every plan step a second time right after its timed run and report that run's
   * median as hotMs (cold minus hot: what reading weights and inputs from memory costs the step).
   * Off the JS thread like run(); serialised with run().
   */
  profile(input: Float32Array, n: number, repeats: number, hot?: boolean): Promise<CpuStepTiming[]>;
}

class CpuProgramImpl extends QueuedProgram<NativeCpuProgram> implements CpuProgram {
  implementations(): CpuStepImplementation[] {
    try {
      return this.native.implementations();
    } catch (error) {
      throw fromNativeError(error);
    }
  }

  profile(input: Float32Array, n: number, repeats: number, hot = false): Promise<CpuStepTiming[]> {
    if (typeof hot !== 'boolean') return Promise.reject(invalidParam('hot', 'a boolean', hot));
    return this.enqueueProfile(input, n, repeats, 1000, () => this.native.profile(input, n, repeats, hot));
  }
}

/** The machine's fp32 peak as oneDNN reaches it: a matmul (default 1536^3), a 1x1 and a 3x3 conv, best of 10 each, all cores. */
export async function measureCpuPeak(options: { size?: number; threads?: number; repeats?: number } = {}): Promise<CpuPeak> {
  const native = loadCpuModule();
  return nativeCall(() => native.peakGflops(options));
}

/**
 * Refuses precision 'bf16' on a CPU without native bf16 (oneDNN would emulate it, slower than
 * fp32): a DeviceError naming the CPU's ISA and what is needed. Never falls back to fp32.
 */
export function checkCpuPrecision(precision: Precision, info: Pick<NativeCpuInfo, 'isa' | 'bf16Native' | 'bf16Refusal'>): void {
  if (precision !== 'fp32' && precision !== 'bf16') {
    throw new InvalidArgumentError(`Expected 'fp32' or 'bf16' for precision but received '${String(precision)}': tf32 and fp16 are CUDA precisions`);
  }
  if (precision === 'bf16' && !info.bf16Native) {
    throw new DeviceError(info.bf16Refusal ?? `precision 'bf16' needs a CPU with AVX512-BF16 or AMX, but oneDNN runs this CPU as '${info.isa}'; use precision 'fp32'`);
  }
}

function checkOptions(options: CompileOptions, info: NativeCpuInfo): NativeCompileOptions {
  checkCpuPrecision(options.precision, info);
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1 || options.threads > 1024)) {
    throw invalidParam('threads', 'an integer between 1 and 1024', options.threads);
  }
  if (options.convolution !== undefined && !CONVOLUTION_ALGORITHMS.includes(options.convolution)) {
    throw invalidParam('convolution', "'auto' or 'direct'", options.convolution);
  }
  if (options.benchmark !== undefined && typeof options.benchmark !== 'boolean') throw invalidParam('benchmark', 'a boolean', options.benchmark);
  return {
    precision: options.precision as 'fp32' | 'bf16',
    ...(options.threads === undefined ? {} : { threads: options.threads }),
    ...(options.convolution === undefined ? {} : { convolution: options.convolution }),
    ...(options.benchmark === undefined ? {} : { benchmark: options.benchmark }),
  };
}

export function loadCpuBackend(): Backend {
  const native = loadCpuModule();
  return {
    kind: 'cpu',
    info: () => cpuBackendInfo(),
    layoutPolicy(precision: Precision): LayoutPolicy {
      checkCpuPrecision(precision, native.info());
      try {
        // The sibling-conv merge stays off on the CPU: measured +1-2% on inception_v4 and nothing
        // on the Inception-ResNets on a 2-core AVX-512 VM (bench/README.md, "Sibling-conv merge").
        return { ...native.layoutPolicy(precision), mergeSiblingConvs: false };
      } catch (error) {
        throw fromNativeError(error);
      }
    },
    async compile(plan: Plan, options: CompileOptions): Promise<CpuProgram> {
      const nativeOptions = checkOptions(options, native.info());
      const program = await nativeCall(() => native.compile(plan, nativeOptions));
      return new CpuProgramImpl(program, plan);
    },
  };
}

/** What the CPU backend reports about itself; never throws (available: false with the reason). */
export function cpuBackendInfo(): BackendInfo {
  try {
    const info = loadCpuModule().info();
    return {
      name: 'cpu',
      available: true,
      versions: { onednn: info.onednn, isa: info.isa, bf16: info.bf16Native ? `native (${info.isa})` : 'not native: fp32 only' },
      devices: [{ index: 0, name: `CPU (${info.isa}, ${info.threads} threads)` }],
      module: loadedModulePath('inception_cpu'),
    };
  } catch (error) {
    return { name: 'cpu', available: false, reason: error instanceof Error ? error.message : String(error), versions: {}, devices: [] };
  }
}
