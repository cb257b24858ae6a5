/**
 * The CPU benchmark: per model and batch, ours vs onnxruntime-node on the same weights, runs
 * interleaved (ours, ort, ours, ort, ... one iteration of each in turn) so that a change in the
 * machine's load hits every engine alike, after a warm-up of each engine.
 */
import { InvalidArgumentError } from '../errors';
import { getModel } from '../models/registry';
import { loadCpuModule } from '../native/cpu-backend';
import type { ModelName } from '../models/types';
import type { ConvolutionAlgorithm } from '../runtime/backend';
import { generateInput } from '../weights/synthetic';
import { type BenchEngine, type EngineName, loadOnnxRuntime, ortEngine, oursEngine } from './engines';
import { machineInfo, type MachineInfo } from './machine';
import { imagesPerSecond, latencyStats, pairedSpeedup, type LatencyStats } from './stats';

export interface CpuBenchOptions {
  readonly models: readonly ModelName[];
  readonly batches: readonly number[];
  readonly iterations: number;
  readonly warmup: number;
  readonly threads: number;
  /** Ours: how 3x3 stride-1 convolutions run (SessionOptions.convolution). Default 'auto'. */
  readonly convolution?: ConvolutionAlgorithm;
  /**
   * 'bf16': also time ours under precision 'bf16' (engine 'ours-bf16', another computation) next
   * to ours in fp32 and onnxruntime in fp32. Default 'fp32' (ours in fp32 only).
   */
  readonly precision?: 'fp32' | 'bf16';
  /** Also time onnxruntime on the unfolded (checkpoint) graph. */
  readonly unfolded: boolean;
  /**
   * Idle milliseconds before every run (not timed). onnxruntime's intra-op threads spin for tens
   * of ms after a run and libgomp's for a few; back to back, each engine's leftover spinning
   * steals a core from the next run (measured: IR-v1 160 b1 ours 31-35 ms right after a run,
   * 17-20 ms after a 50 ms pause; onnxruntime 23-24 vs 17 ms after ours). Default 50.
   */
  readonly settleMs?: number;
  /**
   * Runs per engine turn (default 1). 1: each timed run follows the idle time, so it measures an
   * engine woken from idle, as a lightly loaded service sees it. N > 1: after the idle time one
   * untimed run, then N - 1 timed runs back to back: the sustained rate of an engine kept busy.
   */
  readonly runsPerTurn?: number;
  /** Input size per model (default: the model's own). */
  readonly inputSize?: number;
  /**
   * Progress (stderr in the CLI). `transient` text is a status that the next one replaces (a
   * terminal shows it after '\r'; a log may drop it); the rest are whole lines.
   */
  readonly progress?: (text: string, transient: boolean) => void;
}

export interface EngineResult extends LatencyStats {
  readonly engine: EngineName;
  readonly imagesPerSecond: number;
}

export interface BenchRow {
  readonly model: ModelName;
  readonly inputSize: number;
  readonly batch: number;
  readonly engines: readonly EngineResult[];
  /** ours images/s over onnxruntime (folded export) images/s: > 1 means ours is faster. */
  readonly oursOverOrt: number;
  /** The median of the per-iteration ratios onnxruntime ms / ours ms (pairedSpeedup). Absent in older results. */
  readonly pairedOursOverOrt?: number;
  /** With precision 'bf16': ours-bf16 images/s over ours (fp32) images/s, and the paired median of fp32 ms / bf16 ms. */
  readonly bf16OverFp32?: number;
  readonly pairedBf16OverFp32?: number;
}

export interface CpuBenchResult {
  readonly kind: 'cpu-benchmark';
  readonly machine: MachineInfo;
  /**
   * threadPinning: how our oneDNN team was placed, read after the runs (NativeCpuInfo.threadPinning);
   * runsPerTurn: CpuBenchOptions.runsPerTurn. Both absent in older results (runsPerTurn then 1).
   */
  readonly settings: { iterations: number; warmup: number; threads: number; convolution: ConvolutionAlgorithm; settleMs: number; runsPerTurn?: number; interleaved: true; ortOptions: Record<string, unknown>; threadPinning?: string; precision?: 'fp32' | 'bf16' };
  readonly rows: readonly BenchRow[];
  /** 1-minute load average when the run finished (compare with machine.loadAverage1m at the start). */
  readonly loadAverage1mAtEnd: number;
}

export const ORT_OPTIONS = { interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' } as const;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const DEFAULT_SETTLE_MS = 50;

async function timed(engine: BenchEngine, input: Float32Array, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  await engine.run(input, n);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export async function runCpuBenchmark(options: CpuBenchOptions): Promise<CpuBenchResult> {
  const progress = options.progress ?? (() => undefined);
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  const runsPerTurn = options.runsPerTurn ?? 1;
  if (!Number.isInteger(runsPerTurn) || runsPerTurn < 1) throw new InvalidArgumentError(`Expected a positive integer for runsPerTurn but received ${runsPerTurn}`);
  const ort = loadOnnxRuntime();
  const machine = machineInfo();
  if (machine.loadAverage1m > 0.25 * machine.logicalCores) {
    progress(
      `warning: the 1-minute load average is ${machine.loadAverage1m.toFixed(2)} on ${machine.logicalCores} cores: other processes are using the CPU, ` +
        'so absolute numbers will be low and noisy (the interleaved ratios suffer less); the result files record the load\n',
      false,
    );
  }
  const rows: BenchRow[] = [];
  const maxBatch = Math.max(...options.batches);
  for (const model of options.models) {
    const def = getModel(model);
    const size = options.inputSize ?? def.preprocessing.inputSize;
    const engines: BenchEngine[] = [];
    try {
      // Each of these takes seconds (up to a minute for the unfolded export on two cores): say which runs.
      if (options.precision === 'bf16') {
        progress(`${model} at ${size}x${size}: compiling ours in bf16 for batches up to ${maxBatch}\n`, false);
        engines.push(await oursEngine(model, size, maxBatch, options.threads, options.convolution ?? 'auto', 'bf16'));
      }
      progress(`${model} at ${size}x${size}: compiling ours for batches up to ${maxBatch}\n`, false);
      engines.push(await oursEngine(model, size, maxBatch, options.threads, options.convolution ?? 'auto'));
      progress(`${model}: exporting the folded ONNX graph and creating its onnxruntime session\n`, false);
      engines.push(await ortEngine(ort, def, size, options.threads, true));
      if (options.unfolded) {
        progress(`${model}: exporting the unfolded ONNX graph and creating its onnxruntime session\n`, false);
        engines.push(await ortEngine(ort, def, size, options.threads, false));
      }
      for (const batch of options.batches) {
        const input = generateInput(batch, size, size);
        const samples = engines.map(() => [] as number[]);
        const total = options.warmup + options.iterations;
        progress(`${model} batch ${batch}: ${options.warmup} warm-up and ${options.iterations} timed turns of ${engines.map((e) => e.name).join(', ')}\n`, false);
        for (let i = 0; i < total; i++) {
          const phase = i < options.warmup ? `warm-up ${i + 1}/${options.warmup}` : `iteration ${i - options.warmup + 1}/${options.iterations}`;
          // Odd iterations run the engines in reverse order: neither always follows the other.
          const order = i % 2 === 0 ? engines.map((_, e) => e) : engines.map((_, e) => engines.length - 1 - e);
          for (const e of order) {
            progress(`${model} batch ${batch}: ${phase} ${engines[e]!.name}`, true);
            if (settleMs > 0) await sleep(settleMs);
            if (runsPerTurn > 1) await engines[e]!.run(input, batch);
            for (let r = runsPerTurn > 1 ? 1 : 0; r < runsPerTurn; r++) {
              const ms = await timed(engines[e]!, input, batch);
              if (i >= options.warmup) samples[e]!.push(ms);
            }
          }
        }
        const results: EngineResult[] = engines.map((engine, e) => {
          const stats = latencyStats(samples[e]!);
          return { engine: engine.name, ...stats, imagesPerSecond: imagesPerSecond(batch, stats) };
        });
        const ours = results.find((r) => r.engine === 'ours')!;
        const folded = results.find((r) => r.engine === 'ort-folded')!;
        const oursIndex = engines.findIndex((engine) => engine.name === 'ours');
        const foldedIndex = engines.findIndex((engine) => engine.name === 'ort-folded');
        const bf16Index = engines.findIndex((engine) => engine.name === 'ours-bf16');
        const bf16 = bf16Index < 0 ? undefined : results[bf16Index]!;
        const row: BenchRow = {
          model,
          inputSize: size,
          batch,
          engines: results,
          oursOverOrt: ours.imagesPerSecond / folded.imagesPerSecond,
          pairedOursOverOrt: pairedSpeedup(samples[oursIndex]!, samples[foldedIndex]!),
          ...(bf16 === undefined ? {} : { bf16OverFp32: bf16.imagesPerSecond / ours.imagesPerSecond, pairedBf16OverFp32: pairedSpeedup(samples[bf16Index]!, samples[oursIndex]!) }),
        };
        rows.push(row);
        const bf16Text = row.bf16OverFp32 === undefined ? '' : `; bf16/fp32 ${row.bf16OverFp32.toFixed(2)} (paired ${row.pairedBf16OverFp32!.toFixed(2)})`;
        progress(`${model} batch ${batch}: ${results.map((r) => `${r.engine} ${r.imagesPerSecond.toFixed(2)} img/s (p50 ${r.p50Ms.toFixed(1)} ms)`).join(', ')}; ours/ort ${row.oursOverOrt.toFixed(2)} (paired ${row.pairedOursOverOrt!.toFixed(2)})${bf16Text}\n`, false);
      }
    } finally {
      for (const engine of engines) await engine.dispose();
    }
  }
  return {
    kind: 'cpu-benchmark',
    machine,
    settings: { iterations: options.iterations, warmup: options.warmup, threads: options.threads, convolution: options.convolution ?? 'auto', settleMs, runsPerTurn, interleaved: true, ortOptions: { intraOpNumThreads: options.threads, ...ORT_OPTIONS }, threadPinning: loadCpuModule().info().threadPinning, precision: options.precision ?? 'fp32' },
    rows,
    loadAverage1mAtEnd: (await import('node:os')).loadavg()[0] ?? NaN,
  };
}
