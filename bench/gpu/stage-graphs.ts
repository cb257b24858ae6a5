/**
 * Stage `graphs`: CUDA graphs in the CUDA backend (native/cuda/program.cc, cuda_graph.cc).
 * For inception_v4 and inception_resnet_v2 (299x299) and inception_resnet_v1 (160x160), fp32 and
 * fp16, one plan at maxBatch 8 compiled twice (benchmark: true): cudaGraphs false ("off") first,
 * then true ("on"; its algorithms come from the in-process algorithm cache the off compile filled,
 * so both run the same cuDNN algorithms; `sameAlgorithms` checks that from choices()).
 *
 * Per batch n in 1, 8 and 2 (the fixture case) each program runs WARMUP times: runs 1-2 are eager,
 * run 3 captures the graph and replays it, run 4 replays. Checks:
 * - the on program captured a graph for every n (graphs() says why not otherwise);
 * - replay (run 4) vs its own eager run 1, and on vs off (run 4 each): rel-L2 <= 1e-6. The replay
 *   launches the very kernels the eager run launched, with the same parameters and pointers, so we
 *   expect bitwise equality (reported as `identical`); 1e-6 leaves room for a cuDNN kernel that
 *   reduces in a run-dependent order while a missing or stale graph node (rel-L2 >> 1e-3) fails.
 *   The off program's run 1 vs run 4 is recorded as the eager baseline of that determinism;
 * - n = 2: the replayed output matches the float64 fixture (<profile plain>/<model>_2x<size>),
 *   with the networks stage's bounds (fp32: tolerances.json; fp16: rel-L2 <= 1e-2).
 * Timing (n = 1 and 8, after the warm-up): TIMED[n] runs per program in two interleaved halves
 * (off, on, off, on) through the public Program.run (so it includes the host copies and the
 * libuv hop); median ms per batch, images/s at the median, p50/p99 (nearest rank).
 */
import { join } from 'node:path';
import { compareWithReference, type Tolerance } from '../../src/check/fixture-compare';
import type { WeightStore } from '../../src/graph/ir';
import { readNpySync } from '../../src/io/npy';
import { percentile } from '../../src/bench/stats';
import { getModel } from '../../src/models/registry';
import type { ModelName } from '../../src/models/types';
import { cudaBackendInfo, loadCudaBackend, type CudaGraphState, type CudaProgram } from '../../src/native/cuda-backend';
import { optimize } from '../../src/optimize/index';
import { lowerToPlan } from '../../src/plan/lower';
import type { CudaPrecision } from '../../src/runtime/backend';
import { loadCheckpoint } from '../../src/weights/load';
import { generateInput } from '../../src/weights/synthetic';
import { networkBound } from '../../tests/gpu/gpu-networks';
import { type Args, ensureCheckpoint, errorText, finishCases, log, saveStage } from './suite-common';
import { expOrDash, tableCell } from './markdown';

const MODELS: readonly { readonly model: ModelName; readonly size: number }[] = [
  { model: 'inception_v4', size: 299 },
  { model: 'inception_resnet_v2', size: 299 },
  { model: 'inception_resnet_v1', size: 160 },
];
const PRECISIONS: readonly CudaPrecision[] = ['fp32', 'fp16'];
const MAX_BATCH = 8;
/** The fixtures' batch (plain/<model>_2x<size>_out_f64.npy). */
const FIXTURE_N = 2;
const BATCHES = [1, MAX_BATCH, FIXTURE_N] as const;
/** 2 eager runs (Program::kEagerRunsBeforeCapture), 1 capture + replay, 1 replay. */
const WARMUP = 4;
const TIMED: Readonly<Record<number, number>> = { 1: 60, [MAX_BATCH]: 50 };
/** Graphs on vs off, replay vs eager (see the file comment for why this and not 0). */
const SAME_KERNELS_REL_L2 = 1e-6;
/** Stop starting new model/precision cases after this long, so the stage stays near a minute. */
const STAGE_BUDGET_MS = 75_000;

export interface Difference {
  readonly relL2: number;
  readonly maxAbs: number;
  /** Every element bitwise equal. */
  readonly identical: boolean;
}

export interface TimingSide {
  readonly runs: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly minMs: number;
  readonly imagesPerSecond: number;
}

export interface GraphsBatchResult {
  readonly n: number;
  readonly captured: boolean;
  readonly nodes?: number;
  readonly reason?: string;
  readonly replayVsEager?: Difference;
  readonly onVsOff?: Difference;
  /** The off program's run 1 vs run 4 (eager determinism baseline). */
  readonly offRepeat?: Difference;
  /** Both programs chose the same algorithms and paths for this n (then on vs off must agree). */
  readonly sameAlgorithms: boolean;
  readonly fixture?: { readonly relL2: number; readonly maxAbsOverMaxRef: number; readonly bound: Tolerance; readonly pass: boolean; readonly why?: string };
  readonly timing?: { readonly off: TimingSide; readonly on: TimingSide; readonly speedup: number };
  readonly pass: boolean;
  readonly problems: string[];
}

export interface GraphsRow {
  readonly model: ModelName;
  readonly size: number;
  readonly precision: CudaPrecision;
  compileMsOff?: number;
  compileMsOn?: number;
  sameAlgorithms?: boolean;
  graphs?: CudaGraphState[];
  batches: GraphsBatchResult[];
  error?: string;
  skipped?: string;
  pass: boolean;
}

export function difference(a: Float32Array, b: Float32Array): Difference {
  if (a.length !== b.length) return { relL2: Infinity, maxAbs: Infinity, identical: false };
  let diffSq = 0;
  let refSq = 0;
  let maxAbs = 0;
  let identical = true;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    if (!Object.is(a[i], b[i])) identical = false;
    diffSq += d * d;
    refSq += b[i]! * b[i]!;
    maxAbs = Math.max(maxAbs, Math.abs(d));
  }
  const relL2 = refSq === 0 ? (diffSq === 0 ? 0 : Infinity) : Math.sqrt(diffSq / refSq);
  return { relL2: Number.isNaN(relL2) ? Infinity : relL2, maxAbs: Number.isNaN(maxAbs) ? Infinity : maxAbs, identical };
}

function timingSide(n: number, samplesMs: readonly number[]): TimingSide {
  const sorted = [...samplesMs].sort((x, y) => x - y);
  const medianMs = percentile(sorted, 50);
  return { runs: sorted.length, medianMs, p99Ms: percentile(sorted, 99), minMs: sorted[0] ?? NaN, imagesPerSecond: (n * 1000) / medianMs };
}

async function timeRuns(program: CudaProgram, input: Float32Array, n: number, count: number, into: number[]): Promise<void> {
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await program.run(input, n);
    into.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
}

const choiceKey = (c: { step: string; n: number; description: string }): string => `${c.n}|${c.step}|${c.description}`;

/** Both programs run the same algorithms and paths for batch n (or for every n set up, without n). */
function sameChoices(off: CudaProgram, on: CudaProgram, n?: number): boolean {
  const keys = (p: CudaProgram): string[] => p.choices().filter((c) => n === undefined || c.n === n).map(choiceKey).sort();
  const a = keys(off);
  const b = keys(on);
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

async function warmRuns(program: CudaProgram, input: Float32Array, n: number): Promise<Float32Array[]> {
  const outputs: Float32Array[] = [];
  for (let i = 0; i < WARMUP; i++) outputs.push(await program.run(input, n));
  return outputs;
}

async function runBatch(args: Args, model: ModelName, size: number, precision: CudaPrecision, off: CudaProgram, on: CudaProgram, n: number): Promise<GraphsBatchResult> {
  const problems: string[] = [];
  const input = generateInput(n, size, size);
  const offOut = await warmRuns(off, input, n);
  const onOut = await warmRuns(on, input, n);
  const state = on.graphs().find((g) => g.n === n);
  const sameAlgorithms = sameChoices(off, on, n);
  const captured = state?.captured === true;
  if (!captured) problems.push(`n=${n} not captured: ${state?.reason ?? 'no graphs() entry'}`);
  const replayVsEager = difference(onOut[WARMUP - 1]!, onOut[0]!);
  const onVsOff = difference(onOut[WARMUP - 1]!, offOut[WARMUP - 1]!);
  const offRepeat = difference(offOut[WARMUP - 1]!, offOut[0]!);
  if (!(replayVsEager.relL2 <= SAME_KERNELS_REL_L2)) problems.push(`n=${n} replay vs eager rel-L2 ${replayVsEager.relL2.toExponential(2)} > ${SAME_KERNELS_REL_L2}`);
  // With different algorithms (e.g. INCEPTION_CUDNN_ALGO_CACHE=off and a close Find race) on vs off
  // need not agree to 1e-6; replay vs eager above is the check then.
  if (sameAlgorithms && !(onVsOff.relL2 <= SAME_KERNELS_REL_L2)) problems.push(`n=${n} graphs on vs off rel-L2 ${onVsOff.relL2.toExponential(2)} > ${SAME_KERNELS_REL_L2}`);
  let fixture: GraphsBatchResult['fixture'];
  if (n === FIXTURE_N) {
    const bound = networkBound(args.fixtures, model, 'plain', precision);
    const ref = readNpySync(join(args.fixtures, 'plain', `${model}_${n}x${size}_out_f64.npy`)).data;
    const out = onOut[WARMUP - 1]!;
    const report = compareWithReference(out, ref, [n, out.length / n], bound);
    fixture = { relL2: report.relL2, maxAbsOverMaxRef: report.maxAbsOverMaxRef, bound, pass: report.pass, why: report.why };
    if (!report.pass) problems.push(`n=${n} replay vs fixture: rel-L2 ${report.relL2.toExponential(2)} (bound ${bound.rel_l2})${report.why ? ` ${report.why}` : ''}`);
  }
  let timing: GraphsBatchResult['timing'];
  const count = TIMED[n];
  if (count !== undefined) {
    const offMs: number[] = [];
    const onMs: number[] = [];
    const half = Math.ceil(count / 2);
    await timeRuns(off, input, n, half, offMs);
    await timeRuns(on, input, n, half, onMs);
    await timeRuns(off, input, n, count - half, offMs);
    await timeRuns(on, input, n, count - half, onMs);
    const offSide = timingSide(n, offMs);
    const onSide = timingSide(n, onMs);
    timing = { off: offSide, on: onSide, speedup: offSide.medianMs / onSide.medianMs };
  }
  return {
    n,
    captured,
    nodes: state?.nodes,
    reason: state?.reason,
    replayVsEager,
    onVsOff,
    offRepeat,
    sameAlgorithms,
    fixture,
    timing,
    pass: problems.length === 0,
    problems,
  };
}

async function runCase(args: Args, model: ModelName, size: number, precision: CudaPrecision, weights: WeightStore): Promise<GraphsRow> {
  const row: GraphsRow = { model, size, precision, batches: [], pass: false };
  const backend = loadCudaBackend();
  const graph = getModel(model).build({ batch: MAX_BATCH, height: size, width: size });
  const optimised = optimize(graph, weights);
  const { plan } = lowerToPlan(optimised.graph, optimised.weights, backend.layoutPolicy(precision));
  let off: CudaProgram | undefined;
  let on: CudaProgram | undefined;
  try {
    let t0 = Date.now();
    off = (await backend.compile(plan, { precision, benchmark: true, cudaGraphs: false })) as CudaProgram;
    row.compileMsOff = Date.now() - t0;
    t0 = Date.now();
    on = (await backend.compile(plan, { precision, benchmark: true, cudaGraphs: true })) as CudaProgram;
    row.compileMsOn = Date.now() - t0;
    for (const n of BATCHES) {
      const r = await runBatch(args, model, size, precision, off, on, n);
      row.batches.push(r);
      const t = r.timing;
      log(
        `${r.pass ? 'PASS' : 'FAIL'} ${model} ${precision} n=${n}: captured=${r.captured}${r.nodes !== undefined ? ` (${r.nodes} nodes)` : ''} replay-vs-eager ${r.replayVsEager?.relL2.toExponential(2)}${r.replayVsEager?.identical ? ' (bitwise)' : ''} on-vs-off ${r.onVsOff?.relL2.toExponential(2)}${r.onVsOff?.identical ? ' (bitwise)' : ''}` +
          (r.fixture ? ` fixture ${r.fixture.relL2.toExponential(2)} (<= ${r.fixture.bound.rel_l2})` : '') +
          (t ? ` | off ${t.off.medianMs.toFixed(2)} ms (p99 ${t.off.p99Ms.toFixed(2)}) on ${t.on.medianMs.toFixed(2)} ms (p99 ${t.on.p99Ms.toFixed(2)}) x${t.speedup.toFixed(2)}, ${t.off.imagesPerSecond.toFixed(1)} -> ${t.on.imagesPerSecond.toFixed(1)} img/s` : '') +
          (r.problems.length > 0 ? ` | ${r.problems.join('; ')}` : ''),
      );
    }
    row.sameAlgorithms = sameChoices(off, on);
    row.graphs = on.graphs();
    if (!row.sameAlgorithms) log(`note: ${model} ${precision}: the on and off programs chose different algorithms, so on vs off need not be bitwise`);
    row.pass = row.batches.length === BATCHES.length && row.batches.every((b) => b.pass);
  } catch (error) {
    row.error = errorText(error);
    log(`FAIL ${model} ${precision}: ERROR ${row.error}`);
  } finally {
    off?.dispose();
    on?.dispose();
  }
  return row;
}

export async function stageGraphs(args: Args): Promise<void> {
  const info = cudaBackendInfo();
  const env = process.env.INCEPTION_CUDA_GRAPHS ?? null;
  if (!info.available) {
    saveStage(args, 'graphs', { skipped: info.reason ?? 'CUDA backend unavailable', rows: [] });
    log(`graphs: CUDA backend unavailable: ${info.reason ?? ''}`);
    process.exitCode = 1;
    return;
  }
  const started = Date.now();
  const rows: GraphsRow[] = [];
  const save = (): void => saveStage(args, 'graphs', { env: { INCEPTION_CUDA_GRAPHS: env }, sameKernelsRelL2: SAME_KERNELS_REL_L2, warmup: WARMUP, timed: TIMED, rows });
  for (const { model, size } of MODELS) {
    let weights: WeightStore | undefined;
    for (const precision of PRECISIONS) {
      if (Date.now() - started > STAGE_BUDGET_MS) {
        rows.push({ model, size, precision, batches: [], pass: false, skipped: `stage budget of ${STAGE_BUDGET_MS / 1000} s spent` });
        log(`SKIP ${model} ${precision}: stage budget spent`);
        continue;
      }
      try {
        weights ??= (await loadCheckpoint(await ensureCheckpoint(args, model, 'plain'), getModel(model))).weights;
      } catch (error) {
        rows.push({ model, size, precision, batches: [], pass: false, error: `checkpoint: ${errorText(error)}` });
        continue;
      }
      rows.push(await runCase(args, model, size, precision, weights));
      save();
    }
  }
  save();
  finishCases('graphs', rows, started);
}

const cell = (text: string | undefined): string => tableCell(text, 200);

/** results.md section: one line per model/precision/n. */
export function reportGraphs(stage: unknown): string[] {
  const s = stage as { skipped?: string; env?: { INCEPTION_CUDA_GRAPHS: string | null }; rows?: GraphsRow[] } | null | undefined;
  if (!s) return [];
  const md = ['## CUDA graphs (maxBatch 8, benchmark: true; graphs off vs on, same process)', ''];
  if (s.skipped) return [...md, `skipped: ${cell(s.skipped)}`, ''];
  const rows = s.rows ?? [];
  md.push(
    `${rows.filter((r) => r.pass).length}/${rows.length} cases pass (every n captured; replay vs eager and on vs off rel-L2 <= ${SAME_KERNELS_REL_L2.toExponential(0)}; n=2 vs the f64 fixture). INCEPTION_CUDA_GRAPHS=${s.env?.INCEPTION_CUDA_GRAPHS ?? 'unset'}.`,
    '',
    '| model | precision | n | captured (nodes) | replay vs eager | on vs off | fixture relL2 | ms/batch off -> on | speedup | img/s off -> on | p99 ms off -> on | note |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  const diff = (d: Difference | undefined): string => (d ? `${expOrDash(d.relL2)}${d.identical ? ' (bitwise)' : ''}` : '-');
  for (const r of rows) {
    if (r.batches.length === 0) {
      md.push(`| ${r.model} | ${r.precision} | - | - | - | - | - | - | - | - | - | ${cell(r.error ?? r.skipped)} |`);
      continue;
    }
    for (const b of r.batches) {
      const t = b.timing;
      const note = [...b.problems, ...(r.error ? [r.error] : []), ...(r.sameAlgorithms === false ? ['algorithms differ between on and off'] : [])].join('; ');
      md.push(
        `| ${r.model} | ${r.precision} | ${b.n} | ${b.captured ? `yes (${b.nodes ?? '-'})` : `**no**`} | ${diff(b.replayVsEager)} | ${diff(b.onVsOff)} | ${b.fixture ? `${expOrDash(b.fixture.relL2)}${b.fixture.pass ? '' : ' **FAIL**'}` : '-'} | ${t ? `${t.off.medianMs.toFixed(2)} -> ${t.on.medianMs.toFixed(2)}` : '-'} | ${t ? t.speedup.toFixed(2) : '-'} | ${t ? `${t.off.imagesPerSecond.toFixed(1)} -> ${t.on.imagesPerSecond.toFixed(1)}` : '-'} | ${t ? `${t.off.p99Ms.toFixed(2)} -> ${t.on.p99Ms.toFixed(2)}` : '-'} | ${cell(note || (b.captured ? '' : b.reason))} |`,
      );
    }
  }
  md.push('', 'Times are through Program.run (host copies and the worker-thread hop included); median of the timed runs, p99 nearest rank.', '');
  return md;
}
