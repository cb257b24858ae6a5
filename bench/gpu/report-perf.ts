/**
 * The GPU performance report: joins our rows (stage bench) with PyTorch's (stage torch_bench),
 * computes the ratios, achieved TFLOP/s and the issue's goals, and renders the Markdown tables
 * and the SVG chart. Pure functions of the two stages' JSON (tested on CPU with recorded samples).
 *
 * Goals (same card, same run):
 * - fp16 batch 256, inception_v4 and inception_resnet_v2: ours >= 1.5 x PyTorch eager and
 *   >= 1.1 x PyTorch with CUDA graphs (images/s);
 * - batch 1, every model/precision: our p50 latency <= 0.8 x PyTorch's CUDA-graph p50;
 * - every model/precision, at every batch: our peak device memory <= PyTorch's. Measure: the
 *   cudaMemGetInfo used-bytes delta for both engines (ours: least free seen from createSession
 *   through the timed runs; PyTorch: free before the model minus free at the end of the mode),
 *   against the smaller of PyTorch's eager and CUDA-graph figures;
 * - fp16 inception_v4 batch 256: achieved TFLOP/s (2 x MACs x images/s) >= 35% of the measured
 *   fp16 dense matmul peak.
 * Issue 18's goals (ISSUE18_GOALS, shown first): fp16 batch 256 of inception_v4 and
 * inception_resnet_v2 >= 35% of the fp16 matmul peak and >= 2 x PyTorch with CUDA graphs, fp32
 * batch 256 >= 1.2 x; batch-1 p50 <= 0.5 x PyTorch CUDA graphs for all three networks; memory as above.
 * torch.compile (stage torch_compile) is a third PyTorch column where it was measured.
 */
import { type BarGroup, groupedBarSvg } from '../../src/bench/chart';
import { type MatmulPeak, type OursBench, type OursRow, PERF_BATCHES, PERF_GROUPS, PERF_ROWS, sameRow, type TorchBench, type TorchCompile, type TorchCompileRow, type TorchMode, type TorchRow } from './perf-rows';
import { tableCell } from './markdown';

export const GOALS = {
  throughputVsEager: 1.5,
  throughputVsGraphs: 1.1,
  latencyVsGraphs: 0.8,
  fractionOfMatmulPeak: 0.35,
} as const;
export const THROUGHPUT_GOAL_MODELS: readonly string[] = ['inception_v4', 'inception_resnet_v2'];
export const PEAK_GOAL_MODEL = 'inception_v4';
export const GOAL_BATCH = 256;

export const ISSUE18_GOALS = {
  fractionOfMatmulPeak: 0.35,
  fp16VsGraphs: 2,
  fp32VsGraphs: 1.2,
  latencyVsGraphs: 0.5,
} as const;
export const ISSUE18_LATENCY_MODELS: readonly string[] = ['inception_v4', 'inception_resnet_v2', 'inception_resnet_v1'];

export type GoalStatus = 'met' | 'missed' | 'not measured';

export interface Goal {
  readonly goal: string;
  readonly status: GoalStatus;
  readonly detail: string;
}

export interface PerfRow {
  readonly model: string;
  readonly size: number;
  readonly precision: string;
  readonly batch: number;
  readonly ours?: OursRow;
  readonly eager?: TorchMode;
  readonly graphs?: TorchMode;
  /** Why PyTorch has no numbers for this row (skipped or failed), if so. */
  readonly torchNote?: string;
  readonly oursOverEager?: number;
  readonly oursOverGraphs?: number;
  /** Batch 1: our p50 / PyTorch CUDA-graph p50. */
  readonly latencyOverGraphs?: number;
  readonly oursTflops?: number;
  /** oursTflops / the matmul peak of the row's precision. */
  readonly fractionOfPeak?: number;
  /** The smaller of PyTorch's eager and CUDA-graph deviceUsedBytes. */
  readonly torchDeviceBytes?: number;
  /** ours deviceUsedPeakBytes / torchDeviceBytes. */
  readonly memoryOverTorch?: number;
  /** torch.compile (inductor, default mode) of this row, where stage torch_compile measured it. */
  readonly compiled?: TorchCompileRow;
  readonly oursOverCompiled?: number;
}

export interface PerfReport {
  readonly rows: readonly PerfRow[];
  readonly goals: readonly Goal[];
  readonly matmulPeak: { readonly fp16?: MatmulPeak; readonly fp32?: MatmulPeak };
  readonly torchVersions: string;
  /** Issue 18's goals (the same rows, stricter ratios). */
  readonly issue18Goals: readonly Goal[];
  /** The device-to-device copy bandwidth torch_bench measured (GB/s, bytes read + written). */
  readonly copyRoofGbPerS?: number;
}

const finite = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x);
const ratio = (a: number | undefined, b: number | undefined): number | undefined => (finite(a) && finite(b) && b > 0 ? a / b : undefined);
const usable = (m: TorchMode | undefined): TorchMode | undefined => (m === undefined || m.error !== undefined ? undefined : m);

function joinRow(model: string, size: number, precision: string, batch: number, ours: OursRow | undefined, torch: TorchRow | undefined, peaks: PerfReport['matmulPeak']): PerfRow {
  const oursOk = ours !== undefined && ours.error === undefined && ours.skipped === undefined ? ours : undefined;
  const eager = usable(torch?.eager);
  const graphs = usable(torch?.graphs);
  const oursTflops = oursOk !== undefined && finite(oursOk.imagesPerSecond) ? (oursOk.flopsPerImage * oursOk.imagesPerSecond) / 1e12 : undefined;
  const peak = precision === 'fp16' ? peaks.fp16?.tflops : precision === 'fp32' ? peaks.fp32?.tflops : undefined;
  const torchDevice = [eager?.deviceUsedBytes, graphs?.deviceUsedBytes].filter(finite);
  const torchDeviceBytes = torchDevice.length === 0 ? undefined : Math.min(...torchDevice);
  const notes = [torch?.skipped, torch?.error, torch?.eager?.error && `eager: ${torch.eager.error}`, torch?.graphs?.error && `graphs: ${torch.graphs.error}`].filter((s): s is string => typeof s === 'string' && s !== '');
  return {
    model,
    size,
    precision,
    batch,
    ours,
    eager,
    graphs,
    torchNote: torch === undefined ? 'no PyTorch row' : notes.length > 0 ? notes.join('; ') : undefined,
    oursOverEager: ratio(oursOk?.imagesPerSecond, eager?.imagesPerSecond),
    oursOverGraphs: ratio(oursOk?.imagesPerSecond, graphs?.imagesPerSecond),
    latencyOverGraphs: batch === 1 ? ratio(oursOk?.p50Ms, graphs?.p50Ms) : undefined,
    oursTflops,
    fractionOfPeak: ratio(oursTflops, peak),
    torchDeviceBytes,
    memoryOverTorch: ratio(oursOk?.deviceUsedPeakBytes, torchDeviceBytes),
  };
}

/** One row per model/precision/batch that either engine reported, in the benchmark's order (PERF_ROWS). */
export function joinPerf(ours: OursBench | null | undefined, torch: TorchBench | null | undefined, compiled?: TorchCompile | null): PerfRow[] {
  const oursRows = ours?.results ?? [];
  const torchRows = torch?.results ?? [];
  const peaks = torch?.matmulPeak ?? {};
  const rows: PerfRow[] = [];
  const seen = new Set<string>();
  const add = (model: string, size: number, precision: string, batch: number): void => {
    const key = `${model}|${precision}|${batch}`;
    if (seen.has(key)) return;
    const id = { model, precision, batch };
    const o = oursRows.find((r) => sameRow(r, id));
    const t = torchRows.find((r) => sameRow(r, id));
    if (o === undefined && t === undefined) return;
    seen.add(key);
    const row = joinRow(model, o?.size ?? t?.size ?? size, precision, batch, o, t, peaks);
    const c = compiled?.results?.find((r) => sameRow(r, id));
    const oursOk = o !== undefined && o.error === undefined && o.skipped === undefined ? o : undefined;
    rows.push(c === undefined ? row : { ...row, compiled: c, oursOverCompiled: ratio(oursOk?.imagesPerSecond, usable(c.compiled)?.imagesPerSecond) });
  };
  for (const r of PERF_ROWS) add(r.model, r.size, r.precision, r.batch);
  for (const r of [...oursRows, ...torchRows]) add(r.model, r.size, r.precision, r.batch);
  return rows;
}

const fmt = (x: number | undefined, digits: number): string => (finite(x) ? x.toFixed(digits) : '-');
const MIB = 1024 * 1024;
const mib = (bytes: number | undefined): string => (finite(bytes) ? (bytes / MIB).toFixed(0) : '-');

function whyMissing(row: PerfRow | undefined, need: string): string {
  if (row === undefined) return 'row not measured';
  const ours = row.ours === undefined ? 'ours: not run' : (row.ours.error ?? row.ours.skipped);
  return [ours && `ours: ${ours.replace(/^ours: /, '')}`, row.torchNote && `PyTorch: ${row.torchNote}`].filter(Boolean).join('; ') || `${need} missing`;
}

function thresholdGoal(goal: string, value: number | undefined, pass: (v: number) => boolean, detail: (v: number) => string, row: PerfRow | undefined, need: string): Goal {
  if (!finite(value)) return { goal, status: 'not measured', detail: whyMissing(row, need) };
  return { goal, status: pass(value) ? 'met' : 'missed', detail: detail(value) };
}

export function evaluateGoals(rows: readonly PerfRow[], peaks: PerfReport['matmulPeak']): Goal[] {
  const find = (model: string, precision: string, batch: number): PerfRow | undefined => rows.find((r) => sameRow(r, { model, precision, batch }));
  const goals: Goal[] = [];
  for (const model of THROUGHPUT_GOAL_MODELS) {
    const row = find(model, 'fp16', GOAL_BATCH);
    const imgs = `ours ${fmt(row?.ours?.imagesPerSecond, 1)} img/s`;
    goals.push(
      thresholdGoal(`${model} fp16 batch ${GOAL_BATCH}: ours >= ${GOALS.throughputVsEager} x PyTorch eager`, row?.oursOverEager, (v) => v >= GOALS.throughputVsEager, (v) => `${v.toFixed(2)} x (${imgs} vs ${fmt(row?.eager?.imagesPerSecond, 1)})`, row, 'images/s'),
      thresholdGoal(`${model} fp16 batch ${GOAL_BATCH}: ours >= ${GOALS.throughputVsGraphs} x PyTorch CUDA graphs`, row?.oursOverGraphs, (v) => v >= GOALS.throughputVsGraphs, (v) => `${v.toFixed(2)} x (${imgs} vs ${fmt(row?.graphs?.imagesPerSecond, 1)})`, row, 'images/s'),
    );
  }
  for (const g of PERF_GROUPS) {
    const row = find(g.model, g.precision, 1);
    goals.push(thresholdGoal(`${g.model} ${g.precision} batch 1: p50 latency <= ${GOALS.latencyVsGraphs} x PyTorch CUDA graphs`, row?.latencyOverGraphs, (v) => v <= GOALS.latencyVsGraphs, (v) => `${v.toFixed(2)} x (${fmt(row?.ours?.p50Ms, 2)} ms vs ${fmt(row?.graphs?.p50Ms, 2)} ms)`, row, 'p50'));
  }
  for (const g of PERF_GROUPS) {
    const goal = `${g.model} ${g.precision}: peak device memory <= PyTorch's at every batch`;
    const measured: string[] = [];
    const missed: string[] = [];
    const unmeasured: string[] = [];
    let anyRow: PerfRow | undefined;
    for (const b of PERF_BATCHES) {
      const row = find(g.model, g.precision, b);
      anyRow ??= row;
      if (row === undefined || !finite(row.memoryOverTorch)) {
        unmeasured.push(String(b));
        continue;
      }
      const text = `b${b} ${mib(row.ours?.deviceUsedPeakBytes)}/${mib(row.torchDeviceBytes)} MiB`;
      measured.push(text);
      if (row.memoryOverTorch > 1) missed.push(text);
    }
    const status: GoalStatus = missed.length > 0 ? 'missed' : unmeasured.length > 0 ? 'not measured' : 'met';
    const detail =
      measured.length === 0
        ? whyMissing(anyRow, 'device memory')
        : `ours/PyTorch: ${measured.join(', ')}${missed.length > 0 ? `; over: ${missed.map((m) => m.split(' ')[0]).join(', ')}` : ''}${unmeasured.length > 0 ? `; not measured: batch ${unmeasured.join(', ')}` : ''}`;
    goals.push({ goal, status, detail });
  }
  const row = find(PEAK_GOAL_MODEL, 'fp16', GOAL_BATCH);
  goals.push(
    thresholdGoal(
      `${PEAK_GOAL_MODEL} fp16 batch ${GOAL_BATCH}: >= ${GOALS.fractionOfMatmulPeak * 100}% of the fp16 matmul peak`,
      row?.fractionOfPeak,
      (v) => v >= GOALS.fractionOfMatmulPeak,
      (v) => `${(v * 100).toFixed(1)}% (${fmt(row?.oursTflops, 1)} of ${fmt(peaks.fp16?.tflops, 1)} TFLOP/s)`,
      row,
      finite(peaks.fp16?.tflops) ? 'ours images/s' : `fp16 matmul peak (${peaks.fp16?.error ?? 'not measured'})`,
    ),
  );
  return goals;
}

/** Issue 18's goals on the joined rows (memory: see evaluateGoals, the same measure). */
export function evaluateIssue18Goals(rows: readonly PerfRow[], peaks: PerfReport['matmulPeak']): Goal[] {
  const find = (model: string, precision: string, batch: number): PerfRow | undefined => rows.find((r) => sameRow(r, { model, precision, batch }));
  const goals: Goal[] = [];
  for (const model of THROUGHPUT_GOAL_MODELS) {
    const row = find(model, 'fp16', GOAL_BATCH);
    goals.push(
      thresholdGoal(
        `${model} fp16 batch ${GOAL_BATCH}: >= ${ISSUE18_GOALS.fractionOfMatmulPeak * 100}% of the fp16 matmul peak`,
        row?.fractionOfPeak,
        (v) => v >= ISSUE18_GOALS.fractionOfMatmulPeak,
        (v) => `${(v * 100).toFixed(1)}% (${fmt(row?.oursTflops, 1)} of ${fmt(peaks.fp16?.tflops, 1)} TFLOP/s; ${fmt(row?.ours?.imagesPerSecond, 1)} img/s)`,
        row,
        finite(peaks.fp16?.tflops) ? 'ours images/s' : `fp16 matmul peak (${peaks.fp16?.error ?? 'not measured'})`,
      ),
    );
    for (const [precision, goal] of [['fp16', ISSUE18_GOALS.fp16VsGraphs], ['fp32', ISSUE18_GOALS.fp32VsGraphs]] as const) {
      const r = find(model, precision, GOAL_BATCH);
      goals.push(
        thresholdGoal(`${model} ${precision} batch ${GOAL_BATCH}: ours >= ${goal} x PyTorch CUDA graphs`, r?.oursOverGraphs, (v) => v >= goal, (v) => `${v.toFixed(2)} x (ours ${fmt(r?.ours?.imagesPerSecond, 1)} img/s vs ${fmt(r?.graphs?.imagesPerSecond, 1)})`, r, 'images/s'),
      );
    }
  }
  for (const precision of ['fp16', 'fp32']) {
    for (const model of ISSUE18_LATENCY_MODELS) {
      const row = find(model, precision, 1);
      goals.push(
        thresholdGoal(`${model} ${precision} batch 1: p50 latency <= ${ISSUE18_GOALS.latencyVsGraphs} x PyTorch CUDA graphs`, row?.latencyOverGraphs, (v) => v <= ISSUE18_GOALS.latencyVsGraphs, (v) => `${v.toFixed(2)} x (${fmt(row?.ours?.p50Ms, 2)} ms vs ${fmt(row?.graphs?.p50Ms, 2)} ms)`, row, 'p50'),
      );
    }
  }
  return goals;
}

export function buildPerfReport(ours: OursBench | null | undefined, torch: TorchBench | null | undefined, compiled?: TorchCompile | null): PerfReport {
  const rows = joinPerf(ours, torch, compiled);
  const matmulPeak = torch?.matmulPeak ?? {};
  const versions = torch == null ? 'PyTorch stage did not run' : `${torch.device ?? '?'}; torch ${torch.torch ?? '?'} (CUDA ${torch.cuda ?? '?'}, cuDNN ${torch.cudnn ?? '?'}), timm ${torch.timm ?? '?'}`;
  return {
    rows,
    goals: evaluateGoals(rows, matmulPeak),
    issue18Goals: evaluateIssue18Goals(rows, matmulPeak),
    matmulPeak,
    torchVersions: versions,
    ...(finite(torch?.copyRoof?.gbPerS) ? { copyRoofGbPerS: torch.copyRoof.gbPerS } : {}),
  };
}

const cell = (text: string | undefined): string => tableCell(text, 160);
const latency = (m: { p50Ms?: number; p99Ms?: number } | undefined): string => (m !== undefined && finite(m.p50Ms) ? `${fmt(m.p50Ms, 2)} / ${fmt(m.p99Ms, 2)}` : '-');
const imgs = (m: { imagesPerSecond?: number; error?: string; skipped?: string } | undefined): string =>
  m === undefined ? '-' : finite(m.imagesPerSecond) ? m.imagesPerSecond.toFixed(1) : m.error !== undefined ? 'error' : m.skipped !== undefined ? 'skipped' : '-';
const peakText = (p: MatmulPeak | undefined): string => (p === undefined ? 'not measured' : finite(p.tflops) ? `${p.tflops.toFixed(1)} TFLOP/s (n=${p.n}, ${fmt(p.bestMs, 3)} ms)` : `error: ${p.error ?? '?'}`);

export function perfMarkdown(report: PerfReport): string[] {
  if (report.rows.length === 0) return [];
  const md: string[] = [
    '## Performance vs PyTorch (same GPU, same run)',
    '',
    `PyTorch: ${report.torchVersions}. Dense matmul peak (torch.matmul n x n x n, best trial): fp16 ${peakText(report.matmulPeak.fp16)}; fp32, TF32 off, ${peakText(report.matmulPeak.fp32)}. Device-to-device copy: ${finite(report.copyRoofGbPerS) ? `${report.copyRoofGbPerS.toFixed(0)} GB/s (bytes read + written)` : 'not measured'}.`,
    '',
    '### Goals of issue 18',
    '',
    '| goal | status | detail |',
    '|---|---|---|',
  ];
  for (const g of report.issue18Goals) md.push(`| ${g.goal} | ${g.status === 'missed' ? '**missed**' : g.status} | ${cell(g.detail)} |`);
  md.push('', '### Goals of the first GPU issue (and memory)', '', '| goal | status | detail |', '|---|---|---|');
  for (const g of report.goals) md.push(`| ${g.goal} | ${g.status === 'missed' ? '**missed**' : g.status} | ${cell(g.detail)} |`);
  md.push(
    '',
    '### Throughput and batch-1 latency',
    '',
    '| model | size | precision | batch | ours img/s | PyTorch eager img/s | PyTorch graphs img/s | ours / eager | ours / graphs | ours p50 / p99 ms | eager p50 / p99 ms | graphs p50 / p99 ms | ours / graphs p50 | ours TFLOP/s | % of matmul peak | note |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  );
  for (const r of report.rows) {
    const note = [r.ours?.error && `ours: ${r.ours.error}`, r.ours?.skipped && `ours: ${r.ours.skipped}`, r.ours?.memoryError && `ours: ${r.ours.memoryError}`, r.torchNote && `PyTorch: ${r.torchNote}`].filter(Boolean).join('; ');
    md.push(
      `| ${r.model} | ${r.size} | ${r.precision} | ${r.batch} | ${imgs(r.ours)} | ${imgs(r.eager)} | ${imgs(r.graphs)} | ${fmt(r.oursOverEager, 2)} | ${fmt(r.oursOverGraphs, 2)} | ${latency(r.ours)} | ${latency(r.eager)} | ${latency(r.graphs)} | ${fmt(r.latencyOverGraphs, 2)} | ${fmt(r.oursTflops, 1)} | ${finite(r.fractionOfPeak) ? (r.fractionOfPeak * 100).toFixed(1) : '-'} | ${cell(note)} |`,
    );
  }
  md.push(
    '',
    'Ours: the public createSession (synthetic weights, maxBatch = the batch, CUDA graphs on by default), each session.run awaited (host->device input and device->host output copies included), images/s = runs x batch / elapsed. PyTorch: eval, channels_last, cudnn.benchmark on, TF32 off for fp32, input already on the device; eager = model(x), graphs = torch.cuda.CUDAGraph replay captured after warm-up on a side stream; images/s from CUDA events over queued iterations. p50/p99: batch 1, each iteration timed on its own (nearest rank). TFLOP/s = 2 x MACs (convolutions + linear) x images/s; % of the matmul peak of the same precision.',
    '',
    ...compileMarkdown(report),
    '### Device memory (MiB)',
    '',
    '| model | precision | batch | ours device peak | ours device steady | ours held (weights + arena + workspace) | PyTorch eager device | PyTorch graphs device | eager max allocated / reserved | graphs max allocated / reserved | ours / PyTorch (device) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of report.rows) {
    const h = r.ours?.heldBytes;
    const held = h === undefined ? undefined : h.weightBytes + h.arenaBytes + h.workspaceBytes;
    const alloc = (m: TorchMode | undefined): string => (m === undefined ? '-' : `${mib(m.maxAllocatedBytes)} / ${mib(m.maxReservedBytes)}`);
    md.push(
      `| ${r.model} | ${r.precision} | ${r.batch} | ${mib(r.ours?.deviceUsedPeakBytes)} | ${mib(r.ours?.deviceUsedSteadyBytes)} | ${mib(held)} | ${mib(r.eager?.deviceUsedBytes)} | ${mib(r.graphs?.deviceUsedBytes)} | ${alloc(r.eager)} | ${alloc(r.graphs)} | ${fmt(r.memoryOverTorch, 2)} |`,
    );
  }
  md.push(
    '',
    "The memory goal uses the device columns, the same driver measure for both engines (cudaMemGetInfo used-bytes delta in each engine's own process): ours = free before createSession minus the least free seen (sampled every ~1 ms while the session is created and warmed up, so the algorithm-search buffers count, and after the timed runs); PyTorch = free before the model was created minus free at the end of the mode (the caching allocator keeps its peak segments, so that is its peak; after empty_cache between modes). It is compared with the smaller of PyTorch's eager and graphs figures. Both include the engine's weights, activations, workspaces and library handles; ours also opens a cuDNN handle per session. Held and max allocated/reserved are the engines' own accounts, for reference.",
    '',
  );
  return md;
}

/** The torch.compile rows (a third PyTorch column), with their compile time. */
function compileMarkdown(report: PerfReport): string[] {
  const rows = report.rows.filter((r) => r.compiled !== undefined);
  if (rows.length === 0) return [];
  const md = [
    '### torch.compile (inductor, default mode)',
    '',
    '| model | precision | batch | ours img/s | PyTorch graphs img/s | torch.compile img/s | ours / compile | compile s | compile device MiB | note |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const c = r.compiled!;
    const note = [c.skipped, c.error, c.status === 'compiling' ? 'killed while compiling (stage timeout)' : undefined].filter(Boolean).join('; ');
    md.push(`| ${r.model} | ${r.precision} | ${r.batch} | ${imgs(r.ours)} | ${imgs(r.graphs)} | ${imgs(c.compiled)} | ${fmt(r.oursOverCompiled, 2)} | ${fmt(c.compileS, 1)} | ${mib(c.compiled?.deviceUsedBytes)} | ${cell(note)} |`);
  }
  md.push('', 'torch.compile: the timm model compiled in a process of its own (stage torch_compile, after torch_bench); compile s = wall time of the first, compiling call; images/s from CUDA events over queued calls, as the other PyTorch columns.', '');
  return md;
}

const SERIES = ['ours', 'PyTorch eager', 'PyTorch graphs'] as const;
const SERIES_COLOURS: Readonly<Record<string, string>> = { ours: '#1f77b4', 'PyTorch eager': '#ff7f0e', 'PyTorch graphs': '#2ca02c' };

/** Images/s per row, one bar per engine/mode (each group on its own scale). */
export function perfSvg(report: PerfReport, date: string): string {
  const groups: BarGroup[] = report.rows.map((r) => ({
    label: `${r.model} ${r.precision} b${r.batch}`,
    detail: `ours/eager ${fmt(r.oursOverEager, 2)}, ours/graphs ${fmt(r.oursOverGraphs, 2)}`,
    values: { ours: r.ours?.imagesPerSecond, 'PyTorch eager': r.eager?.imagesPerSecond, 'PyTorch graphs': r.graphs?.imagesPerSecond },
  }));
  const met = report.goals.filter((g) => g.status === 'met').length;
  return groupedBarSvg({
    title: 'GPU throughput vs PyTorch, images/s (higher is better)',
    subtitle: `${report.torchVersions}; ${date.slice(0, 10)}; goals met ${met}/${report.goals.length}`,
    footer: 'Each group has its own scale. Ours: public session API, host copies included; PyTorch: device-resident input, channels_last, cudnn.benchmark.',
    series: SERIES,
    colours: SERIES_COLOURS,
    groups,
    format: (v) => v.toFixed(1),
  });
}
