/**
 * Stage `profile_streams`: branch streams (plan.schedule, native/cuda/program.cc) and the per-layer
 * GPU profile (CudaProgram.profile), for inception_v4 and inception_resnet_v2 (299x299), fp16 and
 * fp32, one plan per streams count 1..4 at maxBatch 64 (benchmark: true; the 2..4-stream programs
 * get their algorithms from the in-process algorithm cache the 1-stream compile filled, and
 * `sameAlgorithms` checks that from choices()). Synthetic 'plain' weights: speed and equality do
 * not depend on the values.
 *
 * Per batch n in 1, 8, 64, each program runs WARMUP times (2 eager, capture + replay, replay):
 * - equality: run 4 (graph replay) of streams k vs run 4 of streams 1. Both launch the same
 *   kernels on the same values (only arena offsets and the interleaving across streams differ), so
 *   we expect bitwise equality (`identical`); the bound is rel-L2 <= 1e-6 when both chose the same
 *   algorithms (room for a kernel that reduces in a run-dependent order), while a missing wait
 *   (a read of a half-written buffer) gives O(1e-1) or NaN. With different algorithms the bound is
 *   the precision's (fp32 1e-4, fp16 1e-2) and `sameAlgorithms: false` is reported;
 * - the graph of every program was captured (fork/join inside the capture);
 * - speed: TIMED[n] runs per program through Program.run (graphs on), interleaved round-robin
 *   (1, 2, 3, 4, 1, 2, ...) so drift hits every streams count alike; median ms, images/s, p99.
 * Profile: the 1-stream and 4-stream programs at n = 8 and 64 (PROFILE_REPEATS runs after a
 * warm-up, median per step): totals, time per op:path, and the TOP slowest steps.
 * With the flag --quick or INCEPTION_PROFILE_STREAMS_QUICK=1 (a short device slot): fp16 only,
 * n = 1 and 8, profile at n = 8. No new model/precision case starts later than
 * INCEPTION_STAGE_TIMEOUT_S - 75 s (run.sh sets it; one case takes up to about a minute).
 */
import { difference, type Difference } from './stage-graphs';
import { percentile } from '../../src/bench/stats';
import { profiledSteps, totalsByKind, type CudaKindTotal, type CudaProfiledStep } from '../../src/bench/cuda-profile';
import { macsByNode } from '../../src/bench/profile';
import { getModel } from '../../src/models/registry';
import type { ModelName } from '../../src/models/types';
import { cudaBackendInfo, loadCudaBackend, type CudaProgram } from '../../src/native/cuda-backend';
import { optimize } from '../../src/optimize/index';
import { lowerToPlan } from '../../src/plan/lower';
import type { Plan } from '../../src/plan/types';
import type { CudaPrecision } from '../../src/runtime/backend';
import { generateInput, syntheticWeights } from '../../src/weights/synthetic';
import { type Args, errorText, finishCases, log, mib, saveStage } from './suite-common';
import { expOrDash, tableCell } from './markdown';

/** The one output comparison of the GPU stages (bitwise, rel-L2, max |a - b|), re-exported for this stage's users. */
export { difference, type Difference };

const MODELS: readonly ModelName[] = ['inception_v4', 'inception_resnet_v2'];
const SIZE = 299;
const PRECISIONS: readonly CudaPrecision[] = ['fp16', 'fp32'];
const STREAMS = [1, 2, 3, 4] as const;
const MAX_BATCH = 64;
const BATCHES = [1, 8, 64] as const;
/** 2 eager runs (Program::kEagerRunsBeforeCapture), 1 capture + replay, 1 replay. */
const WARMUP = 4;
const TIMED: Readonly<Record<number, number>> = { 1: 40, 8: 24, 64: 8 };
const PROFILE_BATCHES = [8, 64] as const;
const PROFILE_REPEATS = 5;
const TOP = 12;
const SAME_KERNELS_REL_L2 = 1e-6;
const OTHER_ALGORITHMS_REL_L2: Readonly<Record<CudaPrecision, number>> = { fp32: 1e-4, tf32: 1e-2, fp16: 1e-2 };
/** Stop starting new model/precision cases after this long, without INCEPTION_STAGE_TIMEOUT_S. */
const STAGE_BUDGET_MS = 200_000;

function stageBudgetMs(): number {
  const timeout = Number(process.env.INCEPTION_STAGE_TIMEOUT_S);
  return Number.isFinite(timeout) && timeout > 0 ? Math.max(10, timeout - 75) * 1000 : STAGE_BUDGET_MS;
}

export interface StreamsTiming {
  readonly streams: number;
  readonly runs: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly imagesPerSecond: number;
}

export interface StreamsBatchResult {
  readonly n: number;
  /** Per streams count 2..4: its output vs the 1-stream program's. */
  readonly vsOneStream: { readonly streams: number; readonly difference: Difference; readonly sameAlgorithms: boolean; readonly captured: boolean }[];
  readonly timing: StreamsTiming[];
  /** Best streams count's images/s over the 1-stream images/s. */
  readonly bestSpeedup: number;
  readonly bestStreams: number;
  readonly pass: boolean;
  readonly problems: string[];
}

export interface ProfileSummary {
  readonly n: number;
  readonly streams: number;
  readonly totalMs: number;
  readonly totalMacs: number;
  readonly tflops: number;
  readonly byKind: readonly CudaKindTotal[];
  readonly top: readonly CudaProfiledStep[];
  /** The stem conv (first step): fp16 pads its 3 input channels to 8 for tensor cores. */
  readonly stem?: CudaProfiledStep;
}

export interface StreamsRow {
  readonly model: ModelName;
  readonly precision: CudaPrecision;
  /** Per streams count: arena and workspace bytes, event waits, compile ms. */
  programs: { streams: number; arenaBytes: number; workspaceBytes: number; waits: number; compileMs: number }[];
  batches: StreamsBatchResult[];
  profiles: ProfileSummary[];
  error?: string;
  skipped?: string;
  pass: boolean;
}

// Descriptions hold shapes, strides, algorithm and path (no pointers), so they compare across arena layouts.
const choiceKeys = (p: CudaProgram, n: number): string[] => p.choices().filter((c) => c.n === n).map((c) => `${c.step}|${c.description}`).sort();

function sameAlgorithms(a: CudaProgram, b: CudaProgram, n: number): boolean {
  const x = choiceKeys(a, n);
  const y = choiceKeys(b, n);
  return x.length === y.length && x.every((k, i) => k === y[i]);
}

async function runBatch(precision: CudaPrecision, programs: readonly CudaProgram[], n: number): Promise<StreamsBatchResult> {
  const problems: string[] = [];
  const input = generateInput(n, SIZE, SIZE);
  const last: Float32Array[] = [];
  for (const program of programs) {
    let out: Float32Array = new Float32Array(0);
    for (let i = 0; i < WARMUP; i++) out = await program.run(input, n);
    last.push(out);
  }
  const vsOneStream: StreamsBatchResult['vsOneStream'] = [];
  programs.forEach((program, k) => {
    const captured = program.graphs().find((g) => g.n === n)?.captured === true;
    if (!captured) problems.push(`streams=${k + 1} n=${n} not captured: ${program.graphs().find((g) => g.n === n)?.reason ?? 'no graphs() entry'}`);
    if (k === 0) return;
    const diff = difference(last[k]!, last[0]!);
    const same = sameAlgorithms(programs[0]!, program, n);
    const bound = same ? SAME_KERNELS_REL_L2 : OTHER_ALGORITHMS_REL_L2[precision];
    if (!(diff.relL2 <= bound)) problems.push(`streams=${k + 1} n=${n} vs streams=1 rel-L2 ${diff.relL2.toExponential(2)} > ${bound}${same ? '' : ' (different algorithms)'}`);
    vsOneStream.push({ streams: k + 1, difference: diff, sameAlgorithms: same, captured });
  });
  const samples: number[][] = programs.map(() => []);
  const count = TIMED[n] ?? 8;
  for (let r = 0; r < count; r++) {
    for (let k = 0; k < programs.length; k++) {
      const t0 = process.hrtime.bigint();
      await programs[k]!.run(input, n);
      samples[k]!.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  const timing = samples.map((s, k): StreamsTiming => {
    const sorted = [...s].sort((a, b) => a - b);
    const medianMs = percentile(sorted, 50);
    return { streams: k + 1, runs: sorted.length, medianMs, p99Ms: percentile(sorted, 99), imagesPerSecond: (n * 1000) / medianMs };
  });
  const best = timing.reduce((a, b) => (b.imagesPerSecond > a.imagesPerSecond ? b : a));
  return { n, vsOneStream, timing, bestSpeedup: best.imagesPerSecond / timing[0]!.imagesPerSecond, bestStreams: best.streams, pass: problems.length === 0, problems };
}

async function profileSummary(program: CudaProgram, plan: Plan, macs: ReturnType<typeof macsByNode>, n: number, streams: number): Promise<ProfileSummary> {
  const raw = await program.profile(generateInput(n, SIZE, SIZE), n, PROFILE_REPEATS);
  // The graph (and so `macs`) is built for MAX_BATCH images; this profile runs n of them.
  const macsAtN = new Map([...macs].map(([name, m]) => [name, { ...m, macs: (m.macs * n) / MAX_BATCH }]));
  const steps = profiledSteps(plan, raw, macsAtN);
  const totalMs = steps.reduce((a, s) => a + s.ms, 0);
  const totalMacs = steps.reduce((a, s) => a + s.macs, 0);
  return {
    n,
    streams,
    totalMs,
    totalMacs,
    tflops: (2 * totalMacs) / (totalMs * 1e9),
    byKind: totalsByKind(steps),
    top: [...steps].sort((a, b) => b.ms - a.ms).slice(0, TOP),
    stem: steps.find((s) => s.op === 'conv2d'),
  };
}

async function runCase(model: ModelName, precision: CudaPrecision, quick: boolean): Promise<StreamsRow> {
  const batches = quick ? BATCHES.filter((n) => n <= 8) : BATCHES;
  const profileBatches = quick ? PROFILE_BATCHES.filter((n) => n <= 8) : PROFILE_BATCHES;
  const row: StreamsRow = { model, precision, programs: [], batches: [], profiles: [], pass: false };
  const backend = loadCudaBackend();
  const def = getModel(model);
  const optimised = optimize(def.build({ batch: MAX_BATCH, height: SIZE, width: SIZE }), syntheticWeights(def, 'plain'));
  const macs = macsByNode(optimised.graph);
  const programs: CudaProgram[] = [];
  const plans: Plan[] = [];
  try {
    for (const streams of STREAMS) {
      const { plan } = lowerToPlan(optimised.graph, optimised.weights, backend.layoutPolicy(precision), { streams });
      const t0 = Date.now();
      const program = (await backend.compile(plan, { precision, benchmark: true, cudaGraphs: true })) as CudaProgram;
      programs.push(program);
      plans.push(plan);
      const waits = plan.schedule?.steps.reduce((a, s) => a + s.waits.length, 0) ?? 0;
      row.programs.push({ streams, arenaBytes: program.arenaBytes, workspaceBytes: program.workspaceBytes, waits, compileMs: Date.now() - t0 });
    }
    for (const n of batches) {
      const r = await runBatch(precision, programs, n);
      row.batches.push(r);
      log(
        `${r.pass ? 'PASS' : 'FAIL'} ${model} ${precision} n=${n}: ` +
          r.vsOneStream.map((v) => `s${v.streams} ${v.difference.identical ? 'bitwise' : v.difference.relL2.toExponential(2)}`).join(', ') +
          ' | ' +
          r.timing.map((t) => `s${t.streams} ${t.imagesPerSecond.toFixed(1)} img/s`).join(', ') +
          ` | best s${r.bestStreams} x${r.bestSpeedup.toFixed(3)}` +
          (r.problems.length > 0 ? ` | ${r.problems.join('; ')}` : ''),
      );
    }
    for (const n of profileBatches) {
      for (const k of [0, programs.length - 1]) {
        const p = await profileSummary(programs[k]!, plans[k]!, macs, n, k + 1);
        row.profiles.push(p);
        log(`profile ${model} ${precision} n=${n} streams=${k + 1}: ${p.totalMs.toFixed(2)} ms summed, ${p.tflops.toFixed(1)} TFLOP/s; ${p.byKind.slice(0, 3).map((x) => `${x.kind} ${x.ms.toFixed(2)} ms`).join(', ')}; stem ${p.stem?.path} algo ${p.stem?.algo} ${p.stem?.ms.toFixed(3)} ms`);
      }
    }
    row.pass = row.batches.length === batches.length && row.batches.every((b) => b.pass);
  } catch (error) {
    row.error = errorText(error);
    log(`FAIL ${model} ${precision}: ERROR ${row.error}`);
  } finally {
    for (const p of programs) p.dispose();
  }
  return row;
}

export async function stageProfileStreams(args: Args): Promise<void> {
  const info = cudaBackendInfo();
  if (!info.available) {
    saveStage(args, 'profile_streams', { skipped: info.reason ?? 'CUDA backend unavailable', rows: [] });
    log(`profile_streams: CUDA backend unavailable: ${info.reason ?? ''}`);
    process.exitCode = 1;
    return;
  }
  const started = Date.now();
  const quick = args.flags.includes('--quick') || process.env.INCEPTION_PROFILE_STREAMS_QUICK === '1';
  const budgetMs = stageBudgetMs();
  const rows: StreamsRow[] = [];
  const save = (): void =>
    saveStage(args, 'profile_streams', { quick, env: { INCEPTION_CUDA_STREAMS: process.env.INCEPTION_CUDA_STREAMS ?? null, INCEPTION_CUDA_GRAPHS: process.env.INCEPTION_CUDA_GRAPHS ?? null }, sameKernelsRelL2: SAME_KERNELS_REL_L2, timed: TIMED, rows });
  for (const model of MODELS) {
    for (const precision of quick ? PRECISIONS.filter((p) => p === 'fp16') : PRECISIONS) {
      if (Date.now() - started > budgetMs) {
        rows.push({ model, precision, programs: [], batches: [], profiles: [], pass: false, skipped: `stage budget of ${budgetMs / 1000} s spent` });
        log(`SKIP ${model} ${precision}: stage budget spent`);
        continue;
      }
      rows.push(await runCase(model, precision, quick));
      save();
    }
  }
  save();
  finishCases('profile_streams', rows, started);
}

const cell = (text: string | undefined): string => tableCell(text, 200);

/** results.md section: equality and images/s per streams count, then the profiles. */
export function reportProfileStreams(stage: unknown): string[] {
  const s = stage as { skipped?: string; rows?: StreamsRow[] } | null | undefined;
  if (!s) return [];
  const md = ['## Branch streams and the per-layer GPU profile (maxBatch 64, graphs on, benchmark: true)', ''];
  if (s.skipped) return [...md, `skipped: ${cell(s.skipped)}`, ''];
  const rows = s.rows ?? [];
  md.push(
    `${rows.filter((r) => r.pass).length}/${rows.length} cases pass (every program's graph captured; streams 2..4 vs 1: rel-L2 <= ${SAME_KERNELS_REL_L2.toExponential(0)} with the same algorithms).`,
    '',
    '| model | precision | n | vs 1 stream (s2 / s3 / s4) | img/s s1 | s2 | s3 | s4 | best | note |',
    '|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of rows) {
    if (r.batches.length === 0) {
      md.push(`| ${r.model} | ${r.precision} | - | - | - | - | - | - | - | ${cell(r.error ?? r.skipped)} |`);
      continue;
    }
    for (const b of r.batches) {
      const eq = b.vsOneStream.map((v) => (v.difference.identical ? 'bitwise' : expOrDash(v.difference.relL2)) + (v.sameAlgorithms ? '' : '*')).join(' / ');
      const ips = b.timing.map((t) => t.imagesPerSecond.toFixed(1));
      md.push(`| ${r.model} | ${r.precision} | ${b.n} | ${eq} | ${ips.join(' | ')} | s${b.bestStreams} x${b.bestSpeedup.toFixed(3)} | ${cell([...b.problems, ...(r.error ? [r.error] : [])].join('; '))} |`);
    }
  }
  md.push('', '`*`: different cuDNN algorithms than the 1-stream program (bound then 1e-4 fp32 / 1e-2 fp16). Memory per streams count:', '');
  for (const r of rows) {
    if (r.programs.length === 0) continue;
    md.push(`- ${r.model} ${r.precision}: ` + r.programs.map((p) => `s${p.streams} arena ${mib(p.arenaBytes)} MiB, workspace ${mib(p.workspaceBytes)} MiB, ${p.waits} waits`).join('; '));
  }
  md.push('', '### Per-layer profile (steps one by one between cudaEvents, no graph; median of ' + PROFILE_REPEATS + ')', '');
  for (const r of rows) {
    for (const p of r.profiles) {
      md.push(`**${r.model} ${r.precision} n=${p.n} streams=${p.streams}**: ${p.totalMs.toFixed(2)} ms summed, ${(p.totalMacs / 1e9).toFixed(1)} GMACs, ${p.tflops.toFixed(1)} TFLOP/s; stem conv ${p.stem ? `${p.stem.path} algo ${p.stem.algo} ${p.stem.ms.toFixed(3)} ms` : '-'}`);
      md.push('', '| kind | ms | % | steps | TFLOP/s |', '|---|---|---|---|---|');
      for (const k of p.byKind) md.push(`| ${k.kind} | ${k.ms.toFixed(3)} | ${((100 * k.ms) / p.totalMs).toFixed(1)} | ${k.steps} | ${k.tflops > 0 ? k.tflops.toFixed(1) : '-'} |`);
      md.push('', '| slowest steps | op | path | algo | ms | TFLOP/s |', '|---|---|---|---|---|---|');
      for (const t of p.top) md.push(`| ${t.step} | ${t.op} | ${t.path} | ${t.algo >= 0 ? t.algo : '-'} | ${t.ms.toFixed(3)} | ${t.tflops > 0 ? t.tflops.toFixed(1) : '-'} |`);
      md.push('');
    }
  }
  return md;
}
