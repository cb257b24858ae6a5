/**
 * Stage `layer_profile` (issue 18 item 5): the per-layer GPU profile at batch 256, fp16, of
 * inception_v4 then inception_resnet_v2, with each step's time, TFLOP/s, the fewest bytes it must
 * move and its bytes/s against the memory-bandwidth roof, and what bounds it (src/bench/roofline.ts).
 *
 * Roofs, both measured in the same device call: the device-to-device copy (cudaCopyBandwidth, in
 * this stage, 1 GiB x 10 copies, best of 5) and the fp16 matmul peak that torch_bench measured
 * earlier in the call (<work>/results/torch_bench.json; without it the compute floor is left out
 * and says so).
 *
 * Per model: the plan a session would run (optimise, lower with the fp16 layout, 1 stream, as
 * sessions at maxBatch 256 do), compiled with benchmark: true (the algorithm cache the bench stage
 * filled makes this a re-trial, not a search), CudaProgram.profile (each step between cudaEvents,
 * eager, one after another; median of REPEATS after a warm-up), and the whole run through
 * Program.run (graph replay) for scale. No new model starts after the stage timeout - 30 s (a model
 * on cached decisions: compile + profile + runs, ~10-20 s).
 *
 * Writes <work>/results/layer_profile.json and <out>/layer-profile.md (the committed format).
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { percentile } from '../../src/bench/stats';
import { profiledSteps, totalsByKind, type CudaKindTotal } from '../../src/bench/cuda-profile';
import { macsByNode } from '../../src/bench/profile';
import { classifyStep, conversionBytes, stepBytes, type Bound, type ElementLayout } from '../../src/bench/roofline';
import { getModel } from '../../src/models/registry';
import type { ModelName } from '../../src/models/types';
import { cudaBackendInfo, cudaCopyBandwidth, loadCudaBackend, type CudaCopyBandwidth, type CudaProgram } from '../../src/native/cuda-backend';
import { optimize } from '../../src/optimize/index';
import { lowerToPlan } from '../../src/plan/lower';
import { generateInput, syntheticWeights } from '../../src/weights/synthetic';
import { type Args, errorText, log, readStage, saveStage } from './suite-common';

const MODELS: readonly ModelName[] = ['inception_v4', 'inception_resnet_v2'];
const BATCH = 256;
const SIZE = 299;
const REPEATS = 5;
const RUNS = 5;
const COPY_BYTES = 1 << 30;

export interface LayerRow {
  readonly step: string;
  readonly op: string;
  readonly path: string;
  readonly ms: number;
  readonly flops: number;
  readonly tflops: number;
  readonly bytes: number;
  readonly gbPerS: number;
  /** bytes/s over the copy roof. */
  readonly fractionOfBandwidth: number;
  /** FLOP/s over the fp16 matmul peak (absent without a peak). */
  readonly fractionOfPeak?: number;
  readonly bound: Bound;
  /** The larger floor over the measured time. */
  readonly roofFraction: number;
  readonly nearer: 'memory' | 'compute';
}

export interface LayerProfile {
  readonly model: ModelName;
  readonly batch: number;
  readonly precision: 'fp16';
  readonly steps: readonly LayerRow[];
  readonly totalMs: number;
  readonly totalFlops: number;
  readonly byKind: readonly CudaKindTotal[];
  /** Milliseconds and steps per bound class. */
  readonly byBound: readonly { bound: Bound; ms: number; steps: number }[];
  /** Median of RUNS whole runs through Program.run (graph replay, host copies included). */
  readonly runMs?: number;
  readonly error?: string;
  readonly skipped?: string;
}

export interface LayerProfileStage {
  readonly copyRoof?: CudaCopyBandwidth;
  readonly copyRoofError?: string;
  readonly fp16PeakTflops?: number;
  readonly peakNote?: string;
  readonly profiles: LayerProfile[];
}

const FP16_LAYOUT: ElementLayout = { elementBytes: 2, channelBlock: 8 };

/** The rows of one profile: raw native entries joined with MACs, bytes and the roof classification. */
export function layerRows(
  plan: Parameters<typeof profiledSteps>[0],
  raw: Parameters<typeof profiledSteps>[1],
  macs: Parameters<typeof profiledSteps>[2],
  layout: ElementLayout,
  roofBytesPerS: number,
  peakFlopsPerS: number | undefined,
): LayerRow[] {
  return profiledSteps(plan, raw, macs).map((s, i) => {
    const index = raw[i]!.index;
    const conversion = index < 0;
    const bytes = conversion ? conversionBytes(plan, s.step === 'output-convert' ? 'output' : 'input', layout) : stepBytes(plan, index, layout);
    const flops = 2 * s.macs;
    const position = classifyStep(Math.max(s.ms, 1e-6), bytes, flops, roofBytesPerS, peakFlopsPerS, conversion);
    return {
      step: s.step,
      op: s.op,
      path: s.path,
      ms: s.ms,
      flops,
      tflops: s.tflops,
      bytes,
      gbPerS: position.bytesPerS / 1e9,
      fractionOfBandwidth: position.bytesPerS / roofBytesPerS,
      ...(peakFlopsPerS === undefined ? {} : { fractionOfPeak: position.flopsPerS / peakFlopsPerS }),
      bound: position.bound,
      roofFraction: position.roofFraction,
      nearer: position.nearer,
    };
  });
}

export function summarise(model: ModelName, rows: readonly LayerRow[], byKind: readonly CudaKindTotal[], runMs: number | undefined): LayerProfile {
  const byBound = new Map<Bound, { ms: number; steps: number }>();
  for (const r of rows) {
    const e = byBound.get(r.bound) ?? { ms: 0, steps: 0 };
    e.ms += r.ms;
    e.steps += 1;
    byBound.set(r.bound, e);
  }
  return {
    model,
    batch: BATCH,
    precision: 'fp16',
    steps: rows,
    totalMs: rows.reduce((a, r) => a + r.ms, 0),
    totalFlops: rows.reduce((a, r) => a + r.flops, 0),
    byKind,
    byBound: [...byBound.entries()].map(([bound, e]) => ({ bound, ...e })).sort((a, b) => b.ms - a.ms),
    ...(runMs === undefined ? {} : { runMs }),
  };
}

async function profileModel(model: ModelName, roofBytesPerS: number, peakFlopsPerS: number | undefined): Promise<LayerProfile> {
  const backend = loadCudaBackend();
  const def = getModel(model);
  const optimised = optimize(def.build({ batch: BATCH, height: SIZE, width: SIZE }), syntheticWeights(def, 'plain'));
  const { plan } = lowerToPlan(optimised.graph, optimised.weights, backend.layoutPolicy('fp16'), { streams: 1 });
  const program = (await backend.compile(plan, { precision: 'fp16', benchmark: true, cudaGraphs: true })) as CudaProgram;
  try {
    const input = generateInput(BATCH, SIZE, SIZE);
    const raw = await program.profile(input, BATCH, REPEATS);
    for (let i = 0; i < 3; i++) await program.run(input, BATCH); // 2 eager, then the capture
    const runs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = process.hrtime.bigint();
      await program.run(input, BATCH);
      runs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const rows = layerRows(plan, raw, macsByNode(optimised.graph), FP16_LAYOUT, roofBytesPerS, peakFlopsPerS);
    const steps = profiledSteps(plan, raw, macsByNode(optimised.graph));
    return summarise(model, rows, totalsByKind(steps), percentile([...runs].sort((a, b) => a - b), 50));
  } finally {
    program.dispose();
  }
}

function fp16Peak(args: Args): { tflops?: number; note?: string } {
  const torch = readStage(args, 'torch_bench') as { matmulPeak?: { fp16?: { tflops?: number; error?: string } } } | null;
  const peak = torch?.matmulPeak?.fp16;
  if (peak?.tflops !== undefined && Number.isFinite(peak.tflops)) return { tflops: peak.tflops };
  return { note: torch === null ? 'torch_bench did not run before this stage: no fp16 matmul peak, compute floors left out' : `no fp16 matmul peak (${peak?.error ?? 'not measured'}): compute floors left out` };
}

export async function stageLayerProfile(args: Args): Promise<void> {
  const info = cudaBackendInfo();
  const stage: LayerProfileStage = { profiles: [] };
  const save = (): void => saveStage(args, 'layer_profile', stage);
  if (!info.available) {
    log(`layer_profile: CUDA backend unavailable: ${info.reason ?? ''}`);
    saveStage(args, 'layer_profile', { ...stage, skipped: info.reason ?? 'CUDA backend unavailable' });
    process.exitCode = 1;
    return;
  }
  const started = Date.now();
  const timeout = Number(process.env.INCEPTION_STAGE_TIMEOUT_S);
  const budgetMs = Number.isFinite(timeout) && timeout > 0 ? Math.max(10, timeout - 30) * 1000 : 120_000;
  const mutable = stage as { -readonly [K in keyof LayerProfileStage]: LayerProfileStage[K] };
  try {
    mutable.copyRoof = cudaCopyBandwidth(0, COPY_BYTES, 10, 5);
    log(`device-to-device copy: ${mutable.copyRoof.gbPerS.toFixed(0)} GB/s (${(mutable.copyRoof.bytesPerCopy / 2 ** 20).toFixed(0)} MiB moved per copy in ${mutable.copyRoof.bestMs.toFixed(3)} ms)`);
  } catch (error) {
    mutable.copyRoofError = errorText(error);
    log(`copy roof failed: ${mutable.copyRoofError}`);
  }
  const peak = fp16Peak(args);
  if (peak.tflops !== undefined) mutable.fp16PeakTflops = peak.tflops;
  if (peak.note !== undefined) mutable.peakNote = peak.note;
  save();
  const roof = stage.copyRoof === undefined ? undefined : stage.copyRoof.gbPerS * 1e9;
  for (const model of MODELS) {
    const base = { model, batch: BATCH, precision: 'fp16' as const, steps: [], totalMs: 0, totalFlops: 0, byKind: [], byBound: [] };
    if (roof === undefined) {
      stage.profiles.push({ ...base, skipped: `no memory roof: ${stage.copyRoofError ?? '?'}` });
      continue;
    }
    if (Date.now() - started > budgetMs) {
      stage.profiles.push({ ...base, skipped: `stage budget of ${budgetMs / 1000} s spent` });
      log(`SKIP ${model}: stage budget spent`);
      continue;
    }
    try {
      const p = await profileModel(model, roof, peak.tflops === undefined ? undefined : peak.tflops * 1e12);
      stage.profiles.push(p);
      log(`${model} fp16 b${BATCH}: ${p.totalMs.toFixed(2)} ms over ${p.steps.length} entries, run ${p.runMs?.toFixed(2)} ms; ` + p.byBound.map((b) => `${b.bound} ${b.ms.toFixed(2)} ms (${b.steps})`).join(', '));
    } catch (error) {
      stage.profiles.push({ ...base, error: errorText(error) });
      log(`${model}: ERROR ${errorText(error)}`);
    }
    save();
  }
  save();
  mkdirSync(args.out, { recursive: true });
  writeFileSync(join(args.out, 'layer-profile.md'), layerProfileMarkdown(stage, info.devices[0]?.name ?? 'cuda:0', JSON.stringify(info.versions)).join('\n') + '\n');
}

const pct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : (100 * x).toFixed(1));

/** The committed format: roofs, per model the time per bound class, per kind, then every step in plan order. */
export function layerProfileMarkdown(stage: LayerProfileStage, device: string, versions: string): string[] {
  const md = [
    `# Per-layer GPU profile, batch ${BATCH}, fp16 (issue 18 item 5)`,
    '',
    `device: ${device}; versions: ${versions}; date: ${new Date().toISOString()}`,
    '',
    `Memory roof (device-to-device copy, bytes read + written): ${stage.copyRoof ? `${stage.copyRoof.gbPerS.toFixed(0)} GB/s` : `not measured (${stage.copyRoofError ?? '?'})`}. ` +
      `fp16 matmul peak (torch_bench, same call): ${stage.fp16PeakTflops !== undefined ? `${stage.fp16PeakTflops.toFixed(1)} TFLOP/s` : (stage.peakNote ?? 'not measured')}.`,
    '',
    'Each step timed alone between cudaEvents (eager, steps one after another, median of ' + REPEATS + ' runs). Bytes = the fewest a step must move: inputs (and a residual) read once, weights read once, output written once, fp16, channels padded to 8. ' +
      'Bound: memory- or compute-bound when the step reaches >= 50% of that roof (the larger of bytes/roof and FLOPs/peak over its time); launch/latency when it reaches neither and takes < 20 us; under both roofs otherwise. ' +
      'The input/output conversion entries include the host<->device copy (PCIe), so they are host transfers.',
    '',
  ];
  for (const p of stage.profiles) {
    md.push(`## ${p.model}`, '');
    if (p.error !== undefined || p.skipped !== undefined) {
      md.push(`${p.error !== undefined ? 'error' : 'skipped'}: ${p.error ?? p.skipped}`, '');
      continue;
    }
    const imgs = (BATCH * 1000) / p.totalMs;
    md.push(
      `${p.steps.length} entries, ${p.totalMs.toFixed(2)} ms summed (${imgs.toFixed(0)} img/s), ${((p.totalFlops / (p.totalMs / 1000)) / 1e12).toFixed(1)} TFLOP/s overall; ` +
        `whole run through Program.run (graph replay, host copies included): ${p.runMs !== undefined ? `${p.runMs.toFixed(2)} ms (${((BATCH * 1000) / p.runMs).toFixed(0)} img/s)` : '-'}.`,
      '',
      '| bound | ms | % of time | steps |',
      '|---|---:|---:|---:|',
      ...p.byBound.map((b) => `| ${b.bound} | ${b.ms.toFixed(3)} | ${pct(b.ms / p.totalMs)} | ${b.steps} |`),
      '',
      '| kind (op:path) | ms | % | steps | TFLOP/s |',
      '|---|---:|---:|---:|---:|',
      ...p.byKind.map((k) => `| ${k.kind} | ${k.ms.toFixed(3)} | ${pct(k.ms / p.totalMs)} | ${k.steps} | ${k.tflops > 0 ? k.tflops.toFixed(1) : '-'} |`),
      '',
      '| # | step | op | path | ms | TFLOP/s | % of peak | MB moved | GB/s | % of roof | bound |',
      '|---:|---|---|---|---:|---:|---:|---:|---:|---:|---|',
      ...p.steps.map(
        (s, i) =>
          `| ${i} | ${s.step} | ${s.op} | ${s.path} | ${s.ms.toFixed(3)} | ${s.tflops > 0 ? s.tflops.toFixed(1) : '-'} | ${s.flops > 0 ? pct(s.fractionOfPeak) : '-'} | ${(s.bytes / 1e6).toFixed(1)} | ${s.gbPerS.toFixed(0)} | ${pct(s.fractionOfBandwidth)} | ${s.bound === 'under both roofs' ? `under both (${s.nearer} ${pct(s.roofFraction)}%)` : s.bound} |`,
      ),
      '',
    );
  }
  return md;
}

/** results.md section: the time per bound class of each profile (the full tables are in layer-profile.md). */
export function reportLayerProfile(stage: unknown): string[] {
  const s = stage as (LayerProfileStage & { skipped?: string }) | null | undefined;
  if (!s) return [];
  const md = ['## Per-layer profile, batch 256, fp16 (full tables: layer-profile.md)', ''];
  if (s.skipped) return [...md, `skipped: ${s.skipped}`, ''];
  md.push(`Memory roof ${s.copyRoof ? `${s.copyRoof.gbPerS.toFixed(0)} GB/s` : `not measured (${s.copyRoofError ?? '?'})`}; fp16 peak ${s.fp16PeakTflops !== undefined ? `${s.fp16PeakTflops.toFixed(1)} TFLOP/s` : (s.peakNote ?? '-')}.`, '');
  for (const p of s.profiles ?? []) {
    if (p.error !== undefined || p.skipped !== undefined) {
      md.push(`- ${p.model}: ${p.error ?? p.skipped}`);
      continue;
    }
    md.push(`- ${p.model}: ${p.totalMs.toFixed(2)} ms summed, run ${p.runMs?.toFixed(2) ?? '-'} ms; ` + p.byBound.map((b) => `${b.bound} ${pct(b.ms / p.totalMs)}% (${b.steps} steps)`).join(', '));
  }
  md.push('');
  return md;
}
