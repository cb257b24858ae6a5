/**
 * The seam between the TypeScript planner and a native backend (oneDNN on CPU, cuDNN on CUDA).
 * A backend compiles one Plan (planned at the session's maxBatch) into a Program; the Program
 * runs any batch n <= plan.batch with the same arena offsets (every buffer of a batch-n run
 * is a prefix-sized part of the batch-maxBatch buffer at the same offset), creating its
 * per-n primitives lazily and sharing the prepared weights between them.
 */
import type { LayoutPolicy, Plan } from '../plan/types';

export type DeviceKind = 'cpu' | 'cuda';
/** 'fp32' everywhere; 'tf32' and 'fp16' on CUDA; 'bf16' on CPUs with native bf16 (AVX512-BF16 or AMX). */
export type Precision = CudaPrecision | 'bf16';
/** The precisions the CUDA backend runs. */
export type CudaPrecision = 'fp32' | 'tf32' | 'fp16';
/**
 * How the CPU backend computes convolutions. 'auto': Winograd (oneDNN's F(4x4,3x3) or F(2x2,3x3)
 * kernels for 3x3 stride-1 wherever oneDNN has one for the shape; on AVX-512, our 1-D F(4,7) for
 * 1x7/7x1, native/cpu/winograd_1d.h: fewer multiplications, slightly different rounding), on
 * AVX-512 our weight stream for convs with more than one tap and at most 12 output pixels over the
 * batch (native/cpu/small_map_conv.h), oneDNN direct elsewhere. 'direct': oneDNN direct everywhere.
 */
export type ConvolutionAlgorithm = 'auto' | 'direct';
/** What 'auto' runs on the CPU, in one line, as the benchmark and profile reports print it. */
export const AUTO_CONVOLUTION_SUMMARY = 'Winograd for 3x3 where oneDNN has a kernel, F(4,7) for 1x7/7x1 and a weight stream on maps of at most 12 pixels';
export const CONVOLUTION_ALGORITHMS: readonly ConvolutionAlgorithm[] = ['auto', 'direct'];

export interface CompileOptions {
  readonly precision: Precision;
  /** CUDA only: device ordinal. */
  readonly deviceIndex?: number;
  /** CPU only: threads used by the backend (default: the process's CPUs; the session passes src/system/cpu-threads.ts's figure). */
  readonly threads?: number;
  /**
   * CUDA only: most threads that copy and check a large batch into pinned staging memory (default:
   * the hardware's count, at most 8). The session passes the CPU figure of src/system/cpu-threads.ts,
   * so a container's CPU quota bounds the copy too.
   */
  readonly copyThreads?: number;
  /** CPU only: see SessionOptions.convolution (default 'auto'). */
  readonly convolution?: ConvolutionAlgorithm;
  /**
   * Time candidate kernels at creation (true) or take the library's first choice (false). CUDA:
   * cuDNN's algorithms for every convolution. CPU (default true): oneDNN's Winograd kernels and its
   * direct kernel for each 3x3 stride-1 convolution under convolution 'auto'.
   */
  readonly benchmark?: boolean;
  /**
   * CUDA only: after two eager warm-up runs of a batch size, capture its whole run as a CUDA graph
   * and replay it (far fewer launches at small batches; same kernels, same results). Default true;
   * the environment variable INCEPTION_CUDA_GRAPHS=0 turns it off for every program.
   */
  readonly cudaGraphs?: boolean;
  /**
   * CUDA only: two pinned staging slots and two copy streams, so back-to-back runs overlap the
   * upload, compute and download of different batches (Program.runsInFlight becomes 2). Default
   * false; the environment variable INCEPTION_CUDA_OVERLAP=1 (or 0) sets it for every program.
   */
  readonly overlapTransfers?: boolean;
  /**
   * CUDA only: the batch sizes the program runs at, ascending, the last = plan.batch. A run of n
   * images executes at the smallest listed size >= n and returns n rows, so at most this many
   * sizes are ever set up (algorithm timing, graph capture). Default: every size, run exactly.
   * Sessions pass runBatchSizes(maxBatch) (src/runtime/batch-sizes.ts).
   */
  readonly batchSizes?: readonly number[];
}

export interface BackendInfo {
  readonly name: DeviceKind;
  readonly available: boolean;
  /** Why not, and what to install, when !available. */
  readonly reason?: string;
  /** Library versions, e.g. { onednn: '2.6.3', isa: 'avx2' } or { cudnn: '9.13.0', cudaRuntime: '13.0', driver: '13.0' }. */
  readonly versions: Readonly<Record<string, string>>;
  readonly devices: readonly { readonly index: number; readonly name: string; readonly memoryBytes?: number }[];
  /** The .node file the backend was loaded from (a prebuild or a source build), when it loaded. */
  readonly module?: string;
}

export interface Program {
  /**
   * Runs n images. `input` is plain NCHW float32 [n,3,H,W] (length n*3*H*W), n in 1..plan.batch.
   * Resolves to plain float32 [n,K]. Runs off the JS thread; the caller has at most runsInFlight
   * calls of one Program running at a time (one unless the program says more).
   * The backend reads `input` in place while the run executes (no copy on the JS thread): the caller
   * leaves it unchanged until the promise settles (Session.run copies its caller's input first).
   */
  run(input: Float32Array, n: number): Promise<Float32Array>;
  /**
   * True when run() itself rejects an input holding NaN or ±Infinity, with InvalidInputError and
   * the text of checkFiniteValues (src/runtime/input.ts), before any work of that run starts; the
   * next run is unaffected. Session.run then leaves the scan to the backend instead of doing it
   * on the JS thread. The CUDA backend does (it scans while copying the batch into pinned memory,
   * on its worker threads). Absent means false: the caller must scan.
   */
  readonly checksInputValues?: boolean;
  /**
   * run(), except that `input` is copied (and, with checksInputValues, checked) into the backend's
   * own staging memory before this returns, so the caller may change or reuse it at once and no
   * private copy is needed. Returns undefined, having done nothing, while earlier calls on this
   * program are pending (the staging memory may be in use): then run() a private copy. The copy
   * runs on the JS thread (on several native threads for large batches). Never throws: a bad batch
   * or a native failure is the returned promise's rejection. Optional.
   */
  runCopyingNow?(input: Float32Array, n: number): Promise<Float32Array> | undefined;
  /**
   * How many runs may be in flight at once (absent: 1). 2 where the program overlaps one run's
   * host<->device transfers with another's compute (CUDA, CompileOptions.overlapTransfers): the
   * session then starts a second run while the first computes.
   */
  readonly runsInFlight?: number;
  /** Bytes of the backend's scratch/workspace memory (max over steps). */
  readonly workspaceBytes: number;
  /** Bytes of prepared weights held by the backend (after any reorder/cast). */
  readonly weightBytes: number;
  /** Bytes of the activation arena allocated (>= plan.arenaBytes). */
  readonly arenaBytes: number;
  dispose(): void;
}

export interface Backend {
  readonly kind: DeviceKind;
  info(): BackendInfo;
  layoutPolicy(precision: Precision): LayoutPolicy;
  compile(plan: Plan, options: CompileOptions): Promise<Program>;
}
