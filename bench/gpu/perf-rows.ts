/**
 * The rows of the GPU performance benchmark and the shapes both engines write: ours
 * (stage-bench.ts -> <work>/results/bench.json) and PyTorch (torch_bench.py ->
 * <work>/results/torch_bench.json, torch_compile.py -> torch_compile.json). torch_bench.py lists
 * the same rows in the same order (PERF_ROWS: goal rows first), so a run cut short by its time
 * budget keeps the goal rows.
 */
import type { ModelName } from '../../src/models/types';

export type PerfPrecision = 'fp32' | 'fp16';

export interface PerfGroup {
  readonly model: ModelName;
  readonly size: number;
  readonly precision: PerfPrecision;
}

export const PERF_GROUPS: readonly PerfGroup[] = [
  { model: 'inception_v4', size: 299, precision: 'fp16' },
  { model: 'inception_resnet_v2', size: 299, precision: 'fp16' },
  { model: 'inception_v4', size: 299, precision: 'fp32' },
  { model: 'inception_resnet_v2', size: 299, precision: 'fp32' },
  { model: 'inception_resnet_v1', size: 160, precision: 'fp16' },
  { model: 'inception_resnet_v1', size: 160, precision: 'fp32' },
];
export const PERF_BATCHES: readonly number[] = [256, 1, 8, 64];

export interface PerfRowId extends PerfGroup {
  readonly batch: number;
}

const row = (model: ModelName, precision: PerfPrecision, batch: number): PerfRowId => ({ model, size: model === 'inception_resnet_v1' ? 160 : 299, precision, batch });

/**
 * Every group at every batch, in the order both engines measure them: the throughput goal rows
 * (fp16 batch 256 of inception_v4 and inception_resnet_v2), the batch-1 latency rows of all three
 * networks, then fp32 batch 256 and 1, then the rest (batches 8 and 64, Inception-ResNet-v1 at
 * 256). torch_bench.py's PERF_ROWS is the same list.
 */
export const PERF_ROWS: readonly PerfRowId[] = [
  row('inception_v4', 'fp16', 256),
  row('inception_resnet_v2', 'fp16', 256),
  row('inception_v4', 'fp16', 1),
  row('inception_resnet_v2', 'fp16', 1),
  row('inception_resnet_v1', 'fp16', 1),
  row('inception_v4', 'fp32', 256),
  row('inception_resnet_v2', 'fp32', 256),
  row('inception_v4', 'fp32', 1),
  row('inception_resnet_v2', 'fp32', 1),
  row('inception_resnet_v1', 'fp32', 1),
  row('inception_v4', 'fp16', 8),
  row('inception_v4', 'fp16', 64),
  row('inception_resnet_v2', 'fp16', 8),
  row('inception_resnet_v2', 'fp16', 64),
  row('inception_resnet_v1', 'fp16', 256),
  row('inception_resnet_v1', 'fp16', 8),
  row('inception_resnet_v1', 'fp16', 64),
  row('inception_v4', 'fp32', 8),
  row('inception_v4', 'fp32', 64),
  row('inception_resnet_v2', 'fp32', 8),
  row('inception_resnet_v2', 'fp32', 64),
  row('inception_resnet_v1', 'fp32', 256),
  row('inception_resnet_v1', 'fp32', 8),
  row('inception_resnet_v1', 'fp32', 64),
];

/**
 * The groups to measure: all, or those whose precision INCEPTION_PERF_PRECISIONS lists ("fp16" or
 * "fp16,fp32"), so a short device slot can measure the goal rows only. torch_bench.py reads the
 * same variable.
 */
export function selectedPerfGroups(envValue: string | undefined): readonly PerfGroup[] {
  const wanted = wantedPrecisions(envValue);
  return wanted.length === 0 ? PERF_GROUPS : PERF_GROUPS.filter((g) => wanted.includes(g.precision));
}

/** PERF_ROWS of the precisions INCEPTION_PERF_PRECISIONS lists (all when unset), in their order. */
export function selectedPerfRows(envValue: string | undefined): readonly PerfRowId[] {
  const wanted = wantedPrecisions(envValue);
  return wanted.length === 0 ? PERF_ROWS : PERF_ROWS.filter((r) => wanted.includes(r.precision));
}

function wantedPrecisions(envValue: string | undefined): string[] {
  const wanted = (envValue ?? '').split(',').filter((p) => p !== '');
  for (const p of wanted) {
    if (p !== 'fp16' && p !== 'fp32') throw new Error(`INCEPTION_PERF_PRECISIONS lists '${p}'; expected fp16 and/or fp32, comma-separated`);
  }
  return wanted;
}

/** What one engine/mode measured for one row; all optional because a row can fail part-way. */
export interface ModeTiming {
  readonly imagesPerSecond?: number;
  readonly msPerBatch?: number;
  readonly iterations?: number;
  /** Batch 1 only: per-iteration latency, nearest rank. */
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly latencyIterations?: number;
  readonly error?: string;
}

/** PyTorch, one mode (eager or CUDA graphs) of one row. */
export interface TorchMode extends ModeTiming {
  /** torch.cuda.max_memory_allocated over the mode (weights included). */
  readonly maxAllocatedBytes?: number;
  /** torch.cuda.max_memory_reserved over the mode. */
  readonly maxReservedBytes?: number;
  /** cudaMemGetInfo: free before the model was created minus free at the end of the mode. */
  readonly deviceUsedBytes?: number;
}

export interface TorchRow {
  readonly model: string;
  readonly size: number;
  readonly precision: string;
  readonly batch: number;
  readonly eager?: TorchMode;
  readonly graphs?: TorchMode;
  readonly error?: string;
  readonly skipped?: string;
}

export interface MatmulPeak {
  readonly n?: number;
  readonly tflops?: number;
  readonly bestMs?: number;
  readonly error?: string;
}

/** torch_bench.py's device-to-device copy: (bytes read + bytes written) / the best trial's time. */
export interface CopyRoof {
  readonly bytesPerCopy?: number;
  readonly bestMs?: number;
  readonly gbPerS?: number;
  readonly error?: string;
}

export interface TorchBench {
  readonly results?: readonly TorchRow[];
  readonly matmulPeak?: { readonly fp16?: MatmulPeak; readonly fp32?: MatmulPeak };
  readonly copyRoof?: CopyRoof;
  readonly device?: string;
  readonly torch?: string;
  readonly timm?: string;
  readonly cuda?: string;
  readonly cudnn?: number;
  readonly elapsedS?: number;
}

/** torch_compile.py, one row: torch.compile (inductor, default mode) of the timm model. */
export interface TorchCompileRow {
  readonly model: string;
  readonly size: number;
  readonly precision: string;
  readonly batch: number;
  readonly mode?: string;
  /** Wall seconds of the first (compiling) call, synchronised. */
  readonly compileS?: number;
  readonly compiled?: TorchMode;
  /** 'compiling' when the stage was killed during the compile. */
  readonly status?: string;
  readonly error?: string;
  readonly skipped?: string;
}

export interface TorchCompile {
  readonly results?: readonly TorchCompileRow[];
  readonly elapsedS?: number;
}

/** Ours, one row: a session opened for this batch (maxBatch = batch), CUDA graphs on. */
export interface OursRow extends ModeTiming {
  readonly engine: 'ours';
  readonly model: ModelName;
  readonly size: number;
  readonly precision: PerfPrecision;
  readonly batch: number;
  /** 2 x MACs of one image (convolutions and linear layers, src/graph/macs.ts) = FLOPs per image. */
  readonly flopsPerImage: number;
  readonly createMs?: number;
  /** session.memory: what the program allocated for weights, activations and cuDNN workspace. */
  readonly heldBytes?: { readonly weightBytes: number; readonly arenaBytes: number; readonly workspaceBytes: number };
  /** cudaMemGetInfo: free before createSession minus the least free seen from createSession through the timed runs. */
  readonly deviceUsedPeakBytes?: number;
  /** cudaMemGetInfo: free before createSession minus free after the timed runs. */
  readonly deviceUsedSteadyBytes?: number;
  /** How many cudaMemGetInfo samples the peak is the minimum of. */
  readonly memorySamples?: number;
  /** Why the device-memory fields are missing (a cudaMemGetInfo reading failed). */
  readonly memoryError?: string;
  readonly skipped?: string;
}

export interface OursBench {
  readonly results?: readonly OursRow[];
  readonly cudaGraphsEnv?: string | null;
  readonly elapsedS?: number;
}

export const sameRow = (a: { model: string; precision: string; batch: number }, b: { model: string; precision: string; batch: number }): boolean =>
  a.model === b.model && a.precision === b.precision && a.batch === b.batch;
