/**
 * The oneDNN CPU backend (inception_cpu.node) behind the runtime's Backend seam.
 * The module is loaded on first use only; cpuBackendInfo() never throws.
 */
import { DisposedError, InvalidArgumentError, InvalidInputError, invalidParam } from '../errors';
import type { LayoutPolicy, Plan } from '../plan/types';
import type { Backend, BackendInfo, CompileOptions, Precision, Program } from '../runtime/backend';
import { loadNativeModule, type NativeModuleBase } from './binding';
import { fromNativeError, nativeCall } from './native-errors';

export const CPU_INSTALL_HINT = 'Install oneDNN 2.x (the module links libdnnl.so.2): sudo apt-get install libdnnl-dev';

export interface CpuStepImplementation {
  readonly step: string;
  /** oneDNN impl_info_str(), e.g. 'jit:avx512_core' or 'brg:avx512_core'; 'loop' for the plain loops. */
  readonly impl: string;
  readonly batch: number;
}

/** The native Program object (native/cpu/program_wrap.cc). */
export interface NativeCpuProgram {
  run(input: Float32Array, n: number): Promise<Float32Array>;
  dispose(): void;
  implementations(): CpuStepImplementation[];
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
  readonly threads: number;
}

export interface NativeCpuModule extends NativeModuleBase {
  info(): NativeCpuInfo;
  layoutPolicy(precision: string): LayoutPolicy;
  compile(plan: Plan, options: { threads?: number }): Promise<NativeCpuProgram>;
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
}

class CpuProgramImpl implements CpuProgram {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly inputElementsPerImage: number;
  private readonly batch: number;

  constructor(
    private readonly native: NativeCpuProgram,
    plan: Plan,
  ) {
    const input = plan.tensors[plan.input];
    this.inputElementsPerImage = input === undefined ? 0 : input.c * input.h * input.w;
    this.batch = native.batch;
  }

  get workspaceBytes(): number {
    return this.native.workspaceBytes;
  }
  get weightBytes(): number {
    return this.native.weightBytes;
  }
  get arenaBytes(): number {
    return this.native.arenaBytes;
  }

  implementations(): CpuStepImplementation[] {
    try {
      return this.native.implementations();
    } catch (error) {
      throw fromNativeError(error);
    }
  }

  run(input: Float32Array, n: number): Promise<Float32Array> {
    if (this.native.disposed) return Promise.reject(new DisposedError('Program.run after dispose(): compile the plan again'));
    if (!(input instanceof Float32Array)) return Promise.reject(invalidParam('input', 'a Float32Array', input));
    if (!Number.isInteger(n) || n < 1 || n > this.batch) {
      return Promise.reject(new InvalidInputError(`Expected an integer between 1 and ${this.batch} for n but received ${String(n)}`));
    }
    if (input.length !== n * this.inputElementsPerImage) {
      return Promise.reject(
        new InvalidInputError(`Expected a Float32Array of length ${n * this.inputElementsPerImage} for ${n} images but received length ${input.length}`),
      );
    }
    // Runs are serialised here too, so a caller that forgets to await gets a queue, not an error.
    const result = this.tail.then(() => nativeCall(() => this.native.run(input, n)));
    this.tail = result.catch(() => undefined);
    return result;
  }

  dispose(): void {
    this.native.dispose();
  }
}

function checkOptions(options: CompileOptions): { threads?: number } {
  if (options.precision !== 'fp32') {
    throw new InvalidArgumentError(
      `Expected 'fp32' for precision but received '${String(options.precision)}': the CPU backend computes in fp32 only`,
    );
  }
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1 || options.threads > 1024)) {
    throw invalidParam('threads', 'an integer between 1 and 1024', options.threads);
  }
  return options.threads === undefined ? {} : { threads: options.threads };
}

export function loadCpuBackend(): Backend {
  const native = loadCpuModule();
  return {
    kind: 'cpu',
    info: () => cpuBackendInfo(),
    layoutPolicy(precision: Precision): LayoutPolicy {
      try {
        return native.layoutPolicy(precision);
      } catch (error) {
        throw fromNativeError(error);
      }
    },
    async compile(plan: Plan, options: CompileOptions): Promise<CpuProgram> {
      const nativeOptions = checkOptions(options);
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
      versions: { onednn: info.onednn, isa: info.isa },
      devices: [{ index: 0, name: `CPU (${info.isa}, ${info.threads} threads)` }],
    };
  } catch (error) {
    return { name: 'cpu', available: false, reason: error instanceof Error ? error.message : String(error), versions: {}, devices: [] };
  }
}
