/**
 * Stage `bench`: our throughput, batch-1 latency and device memory through the PUBLIC API, for
 * PERF_ROWS of perf-rows.ts in their order, goal rows first (the rows torch_bench.py measures
 * PyTorch on).
 *
 * Per row: createSession({ model, weights: { synthetic: 'plain' }, device: 'cuda', precision,
 * maxBatch: batch, inputSize }) - one session per batch, planned for exactly that batch, as a
 * service with a fixed batch would open it; CUDA graphs on (the default; INCEPTION_CUDA_GRAPHS is
 * recorded). WARMUP runs (2 eager, the capture, replays), one run to size the timed part, then
 * timed runs of session.run(input, [n, 3, s, s]) for about TIMED_S (at least MIN_ITERS; at batch 1
 * at least LATENCY_MIN_ITERS, for p99). Each run is awaited (the public API has no queued mode), so
 * images/s = iterations x batch / elapsed and every run is a latency sample. The times include
 * the host->device input copy and the device->host output copy (PyTorch's input is already on the
 * device).
 *
 * Memory: cudaMemGetInfo free bytes are read before createSession, every ~1 ms while the session
 * is created and warmed up (compile runs on a worker thread, so this sees the transient
 * algorithm-search buffers), and after the timed runs (no polling while timing). deviceUsedPeak =
 * before - least free seen; it is the same driver measure as PyTorch's deviceUsedBytes (free
 * before the model minus free at the end; PyTorch's caching allocator keeps its peak reserved
 * segments, so its end reading is its peak). session.memory (weights + arena + workspace) is kept
 * too. A small session is opened and disposed first so process-wide one-time costs (cuDNN loading)
 * do not land in the first row.
 *
 * Env: INCEPTION_PERF_BUDGET_S (default 150: no new row after this), INCEPTION_PERF_TIMED_S (0.5).
 */
import { countMacs } from '../../src/graph/macs';
import { getModel } from '../../src/models/registry';
import { cudaMemoryInfo } from '../../src/native/cuda-backend';
import type { DeviceName } from '../../src/runtime/options';
import { createSession, type Session } from '../../src/runtime/session';
import { percentile } from '../../src/bench/stats';
import { generateInput } from '../../src/weights/synthetic';
import { PERF_BATCHES, selectedPerfRows, type OursRow, type PerfGroup } from './perf-rows';
import { type Args, errorText, log, mib, saveStage } from './suite-common';

const WARMUP = 5;
const MIN_ITERS = 3;
const LATENCY_MIN_ITERS = 100;
const MAX_ITERS = 2000;
const POLL_MS = 1;

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number of seconds, got '${raw}'`);
  return value;
}

/** Where rows run and how free device memory is read (the CUDA device 0; a CPU test passes its own). */
export interface RowProbe {
  readonly device: DeviceName;
  freeBytes(): number;
}
export const CUDA_PROBE: RowProbe = { device: 'cuda', freeBytes: () => cudaMemoryInfo(0).freeBytes };

/** Tracks the least free device memory, read every POLL_MS while started (a failed read is kept, never thrown from the timer). */
class FreeMemoryWatch {
  least = Infinity;
  samples = 0;
  error: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly freeBytes: () => number) {}

  sample(): void {
    try {
      this.least = Math.min(this.least, this.freeBytes());
      this.samples++;
    } catch (error) {
      this.error ??= errorText(error);
    }
  }
  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), POLL_MS);
  }
  /** Stops polling (idempotent) with one last reading. */
  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
  }
}

async function timeOne(session: Session, input: Float32Array, shape: [number, number, number, number]): Promise<number> {
  const t0 = process.hrtime.bigint();
  await session.run(input, shape);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** One row: a session for exactly this batch, warmed up, timed, memory watched, disposed; errors become the row's error. */
export async function benchRow(group: PerfGroup, batch: number, input: Float32Array, timedS: number, probe: RowProbe = CUDA_PROBE): Promise<OursRow> {
  const { model, size, precision } = group;
  const flopsPerImage = 2 * countMacs(getModel(model).build({ batch: 1, height: size, width: size }));
  const base = { engine: 'ours' as const, model, size, precision, batch, flopsPerImage };
  const shape: [number, number, number, number] = [batch, 3, size, size];
  const watch = new FreeMemoryWatch(() => probe.freeBytes());
  let session: Session | undefined;
  try {
    const before = probe.freeBytes();
    watch.start();
    const c0 = Date.now();
    session = await createSession({ model, weights: { synthetic: 'plain' }, device: probe.device, precision, maxBatch: batch, inputSize: size });
    const createMs = Date.now() - c0;
    for (let i = 0; i < WARMUP; i++) await session.run(input, shape);
    const estimateMs = Math.max(await timeOne(session, input, shape), 0.01);
    watch.stop();
    const minIters = batch === 1 ? LATENCY_MIN_ITERS : MIN_ITERS;
    const iterations = Math.min(MAX_ITERS, Math.max(minIters, Math.ceil((timedS * 1000) / estimateMs)));
    const samples: number[] = [];
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) samples.push(await timeOne(session, input, shape));
    const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const after = probe.freeBytes();
    const sorted = samples.sort((a, b) => a - b);
    const m = session.memory;
    return {
      ...base,
      imagesPerSecond: (iterations * batch * 1000) / elapsedMs,
      msPerBatch: elapsedMs / iterations,
      iterations,
      ...(batch === 1 ? { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), latencyIterations: iterations } : {}),
      createMs,
      heldBytes: { weightBytes: m.weightBytes, arenaBytes: m.arenaBytes, workspaceBytes: m.workspaceBytes },
      ...(watch.error === undefined
        ? { deviceUsedPeakBytes: before - Math.min(watch.least, after), deviceUsedSteadyBytes: before - after, memorySamples: watch.samples + 1 }
        : { memoryError: `a cudaMemGetInfo reading failed: ${watch.error}` }),
    };
  } catch (error) {
    return { ...base, error: errorText(error) };
  } finally {
    watch.stop();
    await session?.dispose().catch((error: unknown) => log(`${model} ${precision} batch ${batch}: dispose failed: ${errorText(error)}`));
  }
}

/** Opens, runs and disposes a small session so one-time process costs stay out of the rows. */
async function warmProcess(): Promise<void> {
  const session = await createSession({ model: 'inception_resnet_v1', weights: { synthetic: 'plain' }, device: 'cuda', precision: 'fp16', maxBatch: 1, inputSize: 160 });
  try {
    const input = generateInput(1, 160, 160);
    for (let i = 0; i < 4; i++) await session.run(input, [1, 3, 160, 160]);
  } finally {
    await session.dispose();
  }
}

export async function stageBench(args: Args): Promise<void> {
  const budgetS = envNumber('INCEPTION_PERF_BUDGET_S', 150);
  const timedS = envNumber('INCEPTION_PERF_TIMED_S', 0.5);
  const started = Date.now();
  const elapsedS = (): number => (Date.now() - started) / 1000;
  const results: OursRow[] = [];
  const save = (): void => saveStage(args, 'bench', { results, cudaGraphsEnv: process.env.INCEPTION_CUDA_GRAPHS ?? null, budgetS, timedS, elapsedS: elapsedS() });
  log(`budget ${budgetS} s, ${timedS} s timed per row, INCEPTION_CUDA_GRAPHS=${process.env.INCEPTION_CUDA_GRAPHS ?? 'unset'}`);
  try {
    await warmProcess();
  } catch (error) {
    log(`process warm-up failed: ${errorText(error)}`);
  }
  const inputs = new Map<number, Float32Array>();
  for (const { batch, ...group } of selectedPerfRows(process.env.INCEPTION_PERF_PRECISIONS)) {
    if (elapsedS() > budgetS) {
      results.push({ engine: 'ours', ...group, batch, flopsPerImage: 2 * countMacs(getModel(group.model).build({ batch: 1, height: group.size, width: group.size })), skipped: `time budget (${budgetS} s) spent` });
      continue;
    }
    let full = inputs.get(group.size);
    if (full === undefined) {
      full = generateInput(Math.max(...PERF_BATCHES), group.size, group.size);
      inputs.set(group.size, full);
    }
    const perImage = 3 * group.size * group.size;
    const input = batch * perImage === full.length ? full : full.slice(0, batch * perImage);
    const row = await benchRow(group, batch, input, timedS);
    results.push(row);
    save();
    const mem = row.deviceUsedPeakBytes === undefined ? '' : ` device peak ${mib(row.deviceUsedPeakBytes)} MiB (steady ${mib(row.deviceUsedSteadyBytes ?? NaN)}, held ${row.heldBytes ? mib(row.heldBytes.weightBytes + row.heldBytes.arenaBytes + row.heldBytes.workspaceBytes) : '-'})`;
    const lat = row.p50Ms === undefined ? '' : ` p50 ${row.p50Ms.toFixed(2)} ms p99 ${row.p99Ms?.toFixed(2)} ms`;
    log(`ours ${group.model} ${group.precision} batch ${batch}: ${row.error ? `ERROR ${row.error}` : `${row.imagesPerSecond?.toFixed(1)} img/s (${row.msPerBatch?.toFixed(2)} ms/batch x ${row.iterations}, create ${row.createMs} ms)${lat}${mem}`}`);
  }
  save();
}
