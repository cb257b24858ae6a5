/**
 * The cuDNN GPU backend (inception_cuda.node) behind the runtime's Backend seam.
 * The module is loaded on first use only; cudaBackendInfo() never throws, and loadCudaBackend()
 * throws BackendUnavailableError naming exactly what is missing (the module build, the NVIDIA
 * driver, a GPU, cuDNN 9) and how to get it.
 */
import { BackendUnavailableError, DeviceError, InvalidArgumentError, invalidParam } from '../errors';
import { checkSchedule } from '../plan/schedule';
import type { LayoutPolicy, Plan } from '../plan/types';
import type { Backend, BackendInfo, CompileOptions, Precision, Program } from '../runtime/backend';
import { loadedModulePath, loadNativeModule, type NativeModuleBase } from './binding';
import { fromNativeError, nativeCall } from './native-errors';
import { QueuedProgram } from './queued-program';

export const CUDA_MODULE_HINT =
  'The CUDA module is built only where the CUDA toolkit (nvcc, CUDA 13) is installed: install it, then run npm run build';
export const CUDA_DRIVER_HINT =
  'install the NVIDIA driver for your GPU (one that supports CUDA 13.0, e.g. the 580 series or newer) and check that nvidia-smi works';
export const CUDNN_HINT =
  'install cuDNN 9 with `pip install nvidia-cudnn-cu13` (in a Python virtual environment; set VIRTUAL_ENV or INCEPTION_CUDNN_SEARCH to it) or set INCEPTION_CUDNN_PATH to libcudnn.so.9';

/** What the module's info() returns (native/cuda/addon.cc JsInfo). */
export interface NativeCudaInfo {
  readonly runtimeVersion: string;
  readonly driverVersion: string | null;
  readonly driverError: string | null;
  readonly deviceCount: number;
  readonly deviceError: string | null;
  readonly devices: readonly { index: number; name: string; memoryBytes: number; computeCapability: string }[];
  readonly cudnn: {
    readonly loaded: boolean;
    readonly path: string | null;
    readonly source: string | null;
    readonly version: string | null;
    readonly cudartVersion: string | null;
    readonly error: string | null;
    readonly searched: readonly string[];
    readonly libraries: readonly string[];
  };
}

/** What was chosen for one conv step at one batch size. */
export interface CudaConvChoice {
  readonly step: string;
  readonly n: number;
  readonly description: string;
  /** cudnnConvolutionForward + bias kernel instead of the fused call. */
  readonly split: boolean;
  /** Output written to a packed scratch and copied into its concat slice. */
  readonly viaScratch: boolean;
  readonly workspaceBytes: number;
  /** The algorithm came from the algo cache (INCEPTION_CUDNN_ALGO_CACHE): no cuDNN search ran for it. */
  readonly fromCache: boolean;
}

/** The CUDA-graph state of one batch size a program has set up. */
export interface CudaGraphState {
  readonly n: number;
  /** Runs of this n replay one captured CUDA graph. */
  readonly captured: boolean;
  /** Why not captured: disabled, still warming up, or the failed call (then n runs eagerly for good). */
  readonly reason?: string;
  /** Nodes in the captured graph. */
  readonly nodes?: number;
}

/**
 * One entry of CudaProgram.profile(): the input conversion, each plan step, the output conversion,
 * with the median GPU time between cudaEvents recorded around it (steps run one after another).
 */
export interface CudaStepProfile {
  /** The plan step's name, or 'input-convert' / 'output-convert'. */
  readonly step: string;
  /** Plan step index; -1 for the conversions. */
  readonly index: number;
  readonly ms: number;
  /**
   * What ran: a conv 'fused' (cudnnConvolutionBiasActivationForward), 'split' (convolution + bias
   * kernel), either with '+scratch-copy' (packed scratch copied into its concat slice); a pool
   * 'cudnn' or 'pool-kernel' (our kernel); everything else 'kernel'.
   */
  readonly path: string;
  /** cudnnConvolutionFwdAlgo_t of a conv (0 implicit GEMM, 1 implicit precomp GEMM, ... 7 Winograd nonfused); -1 otherwise. */
  readonly algo: number;
  readonly workspaceBytes: number;
  /** The stream the step is scheduled on (profile runs serialise all streams). */
  readonly stream: number;
  /** A conv's shapes, algorithm and path; '' otherwise. */
  readonly description: string;
}

/** What the module's compile() takes (native/cuda/addon.cc OptionsFromJs). */
export interface NativeCudaCompileOptions {
  readonly precision: Precision;
  readonly deviceIndex: number;
  readonly benchmark: boolean;
  readonly graphs: boolean;
  /** Ascending run sizes, the last = plan.batch; absent: every size runs exactly. */
  readonly batchSizes?: readonly number[];
  /** Most threads of the staging input copy (1..8); absent: the hardware's count, at most 8. */
  readonly copyThreads?: number;
  /** Two staging slots and copy streams: back-to-back runs overlap (native/cuda/program.h). */
  readonly overlapTransfers?: boolean;
}

/** What the module's copyBandwidth() returns: a device-to-device copy (native/cuda/copy_bandwidth.h). */
export interface CudaCopyBandwidth {
  /** Bytes one copy reads plus the bytes it writes. */
  readonly bytesPerCopy: number;
  /** The best trial's time of one copy. */
  readonly bestMs: number;
  readonly gbPerS: number;
  readonly repeats: number;
  readonly trials: number;
}

/** Free and total memory of one CUDA device (cudaMemGetInfo). */
export interface CudaDeviceMemory {
  readonly deviceIndex: number;
  readonly freeBytes: number;
  readonly totalBytes: number;
}

export interface NativeCudaProgram {
  run(input: Float32Array, n: number): Promise<Float32Array>;
  /**
   * Copies and checks the batch into pinned memory on the calling thread (Program::Stage), then
   * runs it on a worker; null, copying nothing, while another call holds the program.
   */
  runNow(input: Float32Array, n: number): Promise<Float32Array> | null;
  profile(input: Float32Array, n: number, repeats: number): Promise<CudaStepProfile[]>;
  dispose(): void;
  choices(): CudaConvChoice[];
  graphs(): CudaGraphState[];
  readonly workspaceBytes: number;
  readonly weightBytes: number;
  readonly arenaBytes: number;
  /** Whether the program was compiled with overlapTransfers (absent in builds before it existed). */
  readonly overlapsTransfers?: boolean;
}

export interface NativeCudaModule extends NativeModuleBase {
  info(): NativeCudaInfo;
  memoryInfo(deviceIndex: number): CudaDeviceMemory;
  /** Absent in builds before it existed. */
  copyBandwidth?(deviceIndex: number, bytes: number, repeats: number, trials: number): CudaCopyBandwidth;
  compile(plan: Plan, options: NativeCudaCompileOptions): Promise<NativeCudaProgram>;
}

let cached: NativeCudaModule | undefined;

/** Loads inception_cuda.node once (BackendUnavailableError with possible solutions on failure). */
export function loadCudaModule(): NativeCudaModule {
  cached ??= loadNativeModule<NativeCudaModule>('inception_cuda', CUDA_MODULE_HINT);
  return cached;
}

/**
 * The sibling-conv merge (src/optimize/merge-sibling-convs.ts) on CUDA: off until measured on a GPU
 * (bench/README.md, "Sibling-conv merge": the command that measures it).
 */
const MERGE_SIBLING_CONVS = false;

/**
 * fp32/tf32: NCHW float (a channel view is the parent's strides plus a pointer offset);
 * fp16: NHWC half with channels padded to 8 (tensor cores; a view has C-stride 1, W-stride Cbuf).
 */
export function cudaLayoutPolicy(precision: Precision): LayoutPolicy {
  switch (precision) {
    case 'fp32':
    case 'tf32':
      return { elementBytes: 4, channelBlock: 1, alignment: 256, concatViews: true, mergeSiblingConvs: MERGE_SIBLING_CONVS };
    case 'fp16':
      return { elementBytes: 2, channelBlock: 8, alignment: 256, concatViews: true, mergeSiblingConvs: MERGE_SIBLING_CONVS };
    default:
      throw invalidParam('precision', "one of 'fp32', 'tf32', 'fp16'", precision);
  }
}

/** Why the CUDA backend cannot run here, one clause per missing piece; undefined when it can. */
export function describeUnavailability(info: NativeCudaInfo): string | undefined {
  const problems: string[] = [];
  if (info.driverVersion === null || info.driverError !== null) {
    problems.push(`NVIDIA driver: not usable (${info.driverError ?? 'not installed'}); ${CUDA_DRIVER_HINT}`);
  } else if (info.deviceCount === 0) {
    problems.push(`GPU: no CUDA device found (${info.deviceError ?? 'device count 0'}); run on a machine with an NVIDIA GPU (compute capability 8.0 or newer) and check CUDA_VISIBLE_DEVICES`);
  }
  if (!info.cudnn.loaded) {
    problems.push(`cuDNN 9: ${info.cudnn.error ?? 'not loaded'}`);
  }
  if (problems.length === 0) return undefined;
  return `The CUDA backend is unavailable:\n- ${problems.join('\n- ')}`;
}


/**
 * Free/total memory of a CUDA device, e.g. to check that dispose() gave memory back.
 * Throws DeviceError for a device that does not exist, BackendUnavailableError without a usable GPU.
 */
export function cudaMemoryInfo(deviceIndex = 0): CudaDeviceMemory {
  const native = loadCudaModule();
  try {
    return native.memoryInfo(deviceIndex);
  } catch (error) {
    throw fromNativeError(error);
  }
}

/**
 * The device-to-device copy bandwidth of a CUDA device (the memory roof of the per-layer profile):
 * a `bytes` buffer copied `repeats` times per trial, best of `trials`; (read + written) / time.
 * Allocates 2 x bytes of device memory for the call. Throws BackendUnavailableError where the
 * module lacks it or no GPU is usable, DeviceError for a device that does not exist.
 */
export function cudaCopyBandwidth(deviceIndex = 0, bytes = 1 << 30, repeats = 10, trials = 5): CudaCopyBandwidth {
  const native = loadCudaModule();
  if (native.copyBandwidth === undefined) throw new BackendUnavailableError('this build of inception_cuda.node has no copyBandwidth(): rebuild it (npm run build:native)');
  try {
    return native.copyBandwidth(deviceIndex, bytes, repeats, trials);
  } catch (error) {
    throw fromNativeError(error);
  }
}

/** A Program that also reports the cuDNN algorithm and path chosen per conv, and its CUDA graphs. */
export interface CudaProgram extends Program {
  /** Whether back-to-back runs overlap their transfers with compute (CompileOptions.overlapTransfers). */
  readonly overlapsTransfers: boolean;
  choices(): CudaConvChoice[];
  /** One entry per batch size set up so far (ascending n); [] after dispose(). */
  graphs(): CudaGraphState[];
  /**
   * Per-step GPU times of a batch of n (eager, never a graph): one warm-up run, then `repeats`
   * timed runs, median per step. Queued behind earlier runs like run().
   */
  profile(input: Float32Array, n: number, repeats: number): Promise<CudaStepProfile[]>;
}

class CudaProgramImpl extends QueuedProgram<NativeCudaProgram> implements CudaProgram {
  /** Program::Run checks every value while copying the batch into pinned memory (native/cuda/program.cc). */
  readonly checksInputValues = true;

  constructor(native: NativeCudaProgram, plan: Plan) {
    // Overlapping programs have two staging slots: two runs may be in flight (one computing, one copying).
    super(native, plan, native.overlapsTransfers === true ? 2 : 1);
  }

  /** Whether this program overlaps back-to-back runs' transfers with compute (CompileOptions.overlapTransfers). */
  get overlapsTransfers(): boolean {
    return this.native.overlapsTransfers === true;
  }

  /**
   * Program::Stage copies and checks the batch into the pinned staging memory before this returns
   * (up to 8 threads for 16 MiB and more), then a worker runs it: no private copy on the JS thread.
   */
  runCopyingNow(input: Float32Array, n: number): Promise<Float32Array> | undefined {
    return this.startIfIdle('run', input, n, () => this.native.runNow(input, n));
  }

  choices(): CudaConvChoice[] {
    return this.native.choices();
  }

  graphs(): CudaGraphState[] {
    return this.native.graphs();
  }

  profile(input: Float32Array, n: number, repeats: number): Promise<CudaStepProfile[]> {
    return this.enqueueProfile(input, n, repeats, 10000, () => this.native.profile(input, n, repeats));
  }
}

/**
 * Whether programs capture CUDA graphs: options.cudaGraphs (default true), unless the environment
 * variable INCEPTION_CUDA_GRAPHS is '0' (an A/B switch). Any other value than '0', '1' or unset is
 * an error rather than a guess.
 */
export function cudaGraphsEnabled(option: boolean | undefined, envValue: string | undefined): boolean {
  if (option !== undefined && typeof option !== 'boolean') throw invalidParam('cudaGraphs', 'a boolean', option);
  if (envValue !== undefined && envValue !== '' && envValue !== '0' && envValue !== '1') {
    throw new InvalidArgumentError(`Expected '0' or '1' for the environment variable INCEPTION_CUDA_GRAPHS but received '${envValue}': set INCEPTION_CUDA_GRAPHS=0 to turn CUDA graphs off, or unset it`);
  }
  return envValue === '0' ? false : (option ?? true);
}

/**
 * Whether programs overlap back-to-back runs' transfers: options.overlapTransfers (default false),
 * unless the environment variable INCEPTION_CUDA_OVERLAP is '0' or '1' (an A/B switch). Any other
 * value is an error rather than a guess.
 */
export function cudaOverlapEnabled(option: boolean | undefined, envValue: string | undefined): boolean {
  if (option !== undefined && typeof option !== 'boolean') throw invalidParam('overlapTransfers', 'a boolean', option);
  if (envValue !== undefined && envValue !== '' && envValue !== '0' && envValue !== '1') {
    throw new InvalidArgumentError(`Expected '0' or '1' for the environment variable INCEPTION_CUDA_OVERLAP but received '${envValue}': set INCEPTION_CUDA_OVERLAP=1 to overlap transfers with compute, 0 to not, or unset it`);
  }
  return envValue === '1' ? true : envValue === '0' ? false : (option ?? false);
}

/** Throws InvalidArgumentError unless `sizes` ascends strictly through integers in 1..maxBatch and ends at maxBatch. */
export function checkBatchSizes(sizes: unknown, maxBatch: number): readonly number[] {
  const ok =
    Array.isArray(sizes) &&
    sizes.length > 0 &&
    sizes.every((s, i) => Number.isInteger(s) && s >= 1 && s <= maxBatch && (i === 0 || s > (sizes[i - 1] as number))) &&
    sizes[sizes.length - 1] === maxBatch;
  if (!ok) throw invalidParam('batchSizes', `ascending integers in [1, ${maxBatch}] ending at the plan's batch ${maxBatch}`, sizes);
  return sizes as readonly number[];
}

/** Checks the compile options and turns them into what the native module takes. */
export function cudaNativeOptions(options: CompileOptions, deviceCount: number, maxBatch: number, env: NodeJS.ProcessEnv = process.env): NativeCudaCompileOptions {
  cudaLayoutPolicy(options.precision); // validates the precision
  const deviceIndex = options.deviceIndex ?? 0;
  if (!Number.isInteger(deviceIndex) || deviceIndex < 0) throw invalidParam('deviceIndex', 'a non-negative integer', options.deviceIndex);
  if (deviceIndex >= deviceCount) {
    throw new DeviceError(`device cuda:${deviceIndex} does not exist; this machine has ${deviceCount} CUDA device(s): use cuda:0..cuda:${deviceCount - 1}`);
  }
  if (options.benchmark !== undefined && typeof options.benchmark !== 'boolean') throw invalidParam('benchmark', 'a boolean', options.benchmark);
  const graphs = cudaGraphsEnabled(options.cudaGraphs, env.INCEPTION_CUDA_GRAPHS);
  const copyThreads = options.copyThreads;
  if (copyThreads !== undefined && (!Number.isInteger(copyThreads) || copyThreads < 1 || copyThreads > 8)) throw invalidParam('copyThreads', 'an integer in [1, 8]', copyThreads);
  const overlapTransfers = cudaOverlapEnabled(options.overlapTransfers, env.INCEPTION_CUDA_OVERLAP);
  const base = { precision: options.precision, deviceIndex, benchmark: options.benchmark ?? false, graphs, ...(copyThreads === undefined ? {} : { copyThreads }), ...(overlapTransfers ? { overlapTransfers } : {}) };
  return options.batchSizes === undefined ? base : { ...base, batchSizes: checkBatchSizes(options.batchSizes, maxBatch) };
}

/** Loads the CUDA backend, or throws BackendUnavailableError saying what is missing and how to get it. */
export function loadCudaBackend(): Backend {
  const native = loadCudaModule();
  const info = native.info();
  const reason = describeUnavailability(info);
  if (reason !== undefined) throw new BackendUnavailableError(reason);
  return {
    kind: 'cuda',
    info: () => cudaBackendInfo(),
    layoutPolicy: cudaLayoutPolicy,
    async compile(plan: Plan, options: CompileOptions): Promise<CudaProgram> {
      const opts = cudaNativeOptions(options, info.deviceCount, plan.batch);
      if (plan.schedule !== undefined) checkSchedule(plan, plan.schedule);
      const program = await nativeCall(() => native.compile(plan, opts));
      return new CudaProgramImpl(program, plan);
    },
  };
}

/** What the CUDA backend reports about itself; never throws (available: false with the reason). */
export function cudaBackendInfo(): BackendInfo {
  let info: NativeCudaInfo;
  try {
    info = loadCudaModule().info();
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    return { name: 'cuda', available: false, reason: `The CUDA backend is unavailable:\n- the CUDA module build: ${text}`, versions: {}, devices: [] };
  }
  const versions: Record<string, string> = { cudaRuntime: info.runtimeVersion };
  if (info.driverVersion !== null) versions.driver = info.driverVersion;
  if (info.cudnn.version !== null) versions.cudnn = info.cudnn.version;
  if (info.cudnn.path !== null) versions.cudnnPath = info.cudnn.path;
  const devices = info.devices.map((d) => ({ index: d.index, name: d.name, memoryBytes: d.memoryBytes }));
  const reason = describeUnavailability(info);
  const module = loadedModulePath('inception_cuda');
  return reason === undefined
    ? { name: 'cuda', available: true, versions, devices, module }
    : { name: 'cuda', available: false, reason, versions, devices, module };
}
