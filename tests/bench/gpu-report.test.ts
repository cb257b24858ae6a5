/**
 * The GPU performance report (bench/gpu/report-perf.ts) on recorded-style inputs: joining our rows
 * with PyTorch's, the ratios, TFLOP/s, each issue goal's met / missed / not measured, and the
 * Markdown and SVG it renders. Every number is exact arithmetic on the inputs (tolerance: toBeCloseTo
 * at 10 digits, only to absorb floating-point rounding of the divisions).
 */
import { describe, expect, it } from 'vitest';
import { buildPerfReport, evaluateGoals, type Goal, joinPerf, perfMarkdown, perfSvg, type PerfRow } from '../../bench/gpu/report-perf';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PERF_BATCHES, PERF_GROUPS, PERF_ROWS, type OursBench, type OursRow, type TorchBench, type TorchCompile, type TorchRow } from '../../bench/gpu/perf-rows';

const MIB = 1024 * 1024;
const IV4_FLOPS = 2 * 12_253_974_624;
const IRV2_FLOPS = 2 * 13_155_794_016;

function ours(model: OursRow['model'], precision: OursRow['precision'], batch: number, imagesPerSecond: number, deviceMib: number, p50Ms?: number): OursRow {
  return {
    engine: 'ours',
    model,
    size: 299,
    precision,
    batch,
    flopsPerImage: model === 'inception_v4' ? IV4_FLOPS : IRV2_FLOPS,
    imagesPerSecond,
    msPerBatch: (1000 * batch) / imagesPerSecond,
    iterations: 10,
    ...(p50Ms === undefined ? {} : { p50Ms, p99Ms: p50Ms * 1.1, latencyIterations: 100 }),
    heldBytes: { weightBytes: 80 * MIB, arenaBytes: 10 * MIB, workspaceBytes: 2 * MIB },
    deviceUsedPeakBytes: deviceMib * MIB,
    deviceUsedSteadyBytes: deviceMib * MIB,
  };
}

function torch(model: string, precision: string, batch: number, eager: number, graphs: number, eagerMib: number, graphsMib: number, graphsP50?: number): TorchRow {
  const mode = (imagesPerSecond: number, mib: number, p50Ms?: number) => ({
    imagesPerSecond,
    msPerBatch: (1000 * batch) / imagesPerSecond,
    iterations: 10,
    ...(p50Ms === undefined ? {} : { p50Ms, p99Ms: p50Ms * 1.2, latencyIterations: 100 }),
    maxAllocatedBytes: (mib - 20) * MIB,
    maxReservedBytes: (mib - 10) * MIB,
    deviceUsedBytes: mib * MIB,
  });
  return { model, size: 299, precision, batch, eager: mode(eager, eagerMib, graphsP50 === undefined ? undefined : graphsP50 * 2), graphs: mode(graphs, graphsMib, graphsP50) };
}

// inception_v4 fp16: b256 passes both throughput goals (4500 / 2800 = 1.607, 4500 / 4000 = 1.125)
// and the peak goal (4500 x 24.5 GFLOP = 110.3 TFLOP/s = 36.8% of 300); b1 latency 5 / 8 = 0.625.
// inception_resnet_v2 fp16: b256 misses vs graphs (2600 / 2500 = 1.04); b1 latency 9 / 10 = 0.9 misses.
const oursBench: OursBench = {
  results: [
    ours('inception_v4', 'fp16', 256, 4500, 900),
    ours('inception_v4', 'fp16', 1, 200, 150, 5),
    ours('inception_v4', 'fp16', 8, 1200, 160),
    ours('inception_v4', 'fp16', 64, 3500, 400),
    ours('inception_resnet_v2', 'fp16', 256, 2600, 1300),
    ours('inception_resnet_v2', 'fp16', 1, 110, 170, 9),
    { engine: 'ours', model: 'inception_resnet_v2', size: 299, precision: 'fp16', batch: 8, flopsPerImage: IRV2_FLOPS, error: 'DeviceError: out of memory' },
  ],
};
const torchBench: TorchBench = {
  device: 'NVIDIA H100 80GB HBM3',
  torch: '2.9.0',
  cuda: '13.0',
  cudnn: 91900,
  timm: '1.0.20',
  matmulPeak: { fp16: { n: 8192, tflops: 300, bestMs: 3.665 }, fp32: { n: 8192, tflops: 50, bestMs: 22 } },
  results: [
    torch('inception_v4', 'fp16', 256, 2800, 4000, 1000, 1100),
    torch('inception_v4', 'fp16', 1, 60, 120, 200, 180, 8),
    torch('inception_v4', 'fp16', 8, 400, 1000, 170, 150),
    torch('inception_v4', 'fp16', 64, 2500, 3300, 500, 520),
    torch('inception_resnet_v2', 'fp16', 256, 1500, 2500, 1200, 1250),
    torch('inception_resnet_v2', 'fp16', 1, 40, 100, 300, 250, 10),
    { model: 'inception_resnet_v1', size: 160, precision: 'fp16', batch: 1, skipped: 'no PyTorch reference: timm has no inception_resnet_v1 and facenet_pytorch does not import' },
  ],
};

const goalOf = (rows: readonly Goal[], prefix: string): Goal => {
  const g = rows.find((x) => x.goal.startsWith(prefix));
  if (g === undefined) throw new Error(`no goal starting '${prefix}'`);
  return g;
};

describe('GPU performance report', () => {
  it('the perf rows are the issue rows: three models, fp16 and fp32, batches 1, 8, 64, 256, goal rows first', () => {
    expect(PERF_GROUPS.map((g) => `${g.model}@${g.size}/${g.precision}`)).toEqual([
      'inception_v4@299/fp16',
      'inception_resnet_v2@299/fp16',
      'inception_v4@299/fp32',
      'inception_resnet_v2@299/fp32',
      'inception_resnet_v1@160/fp16',
      'inception_resnet_v1@160/fp32',
    ]);
    expect([...PERF_BATCHES].sort((a, b) => a - b)).toEqual([1, 8, 64, 256]);
    expect(PERF_BATCHES[0]).toBe(256);
  });

  it('PERF_ROWS is every group at every batch once, throughput goal rows first, then the batch-1 rows of all three networks', () => {
    const keys = PERF_ROWS.map((r) => `${r.model}@${r.size}/${r.precision}/${r.batch}`);
    const expected = PERF_GROUPS.flatMap((g) => PERF_BATCHES.map((b) => `${g.model}@${g.size}/${g.precision}/${b}`));
    expect([...keys].sort()).toEqual([...expected].sort());
    expect(keys.slice(0, 5)).toEqual([
      'inception_v4@299/fp16/256',
      'inception_resnet_v2@299/fp16/256',
      'inception_v4@299/fp16/1',
      'inception_resnet_v2@299/fp16/1',
      'inception_resnet_v1@160/fp16/1',
    ]);
  });

  it("torch_bench.py's PERF_ROWS lists the same rows in the same order", () => {
    const source = readFileSync(join(__dirname, '../../bench/gpu/torch_bench.py'), 'utf8');
    const block = source.slice(source.indexOf('PERF_ROWS = ['), source.indexOf(']]', source.indexOf('PERF_ROWS = [')));
    const rows = [...block.matchAll(/\("(\w+)", "(fp16|fp32)", (\d+)\)/g)].map((m) => `${m[1]}/${m[2]}/${m[3]}`);
    expect(rows).toEqual(PERF_ROWS.map((r) => `${r.model}/${r.precision}/${r.batch}`));
  });

  it('joins the engines per model/precision/batch in benchmark order (PERF_ROWS: goal rows first), with ratios and TFLOP/s', () => {
    const rows = joinPerf(oursBench, torchBench);
    expect(rows.map((r) => `${r.model}/${r.precision}/${r.batch}`)).toEqual([
      'inception_v4/fp16/256',
      'inception_resnet_v2/fp16/256',
      'inception_v4/fp16/1',
      'inception_resnet_v2/fp16/1',
      'inception_resnet_v1/fp16/1',
      'inception_v4/fp16/8',
      'inception_v4/fp16/64',
      'inception_resnet_v2/fp16/8',
    ]);
    const byKey = (key: string): PerfRow => rows.find((r) => `${r.model}/${r.precision}/${r.batch}` === key)!;
    const b256 = rows[0]!;
    expect(b256.oursOverEager).toBeCloseTo(4500 / 2800, 10);
    expect(b256.oursOverGraphs).toBeCloseTo(4500 / 4000, 10);
    expect(b256.oursTflops).toBeCloseTo((4500 * IV4_FLOPS) / 1e12, 10);
    expect(b256.fractionOfPeak).toBeCloseTo((4500 * IV4_FLOPS) / 1e12 / 300, 10);
    expect(b256.torchDeviceBytes).toBe(1000 * MIB); // the smaller of eager (1000) and graphs (1100)
    expect(b256.memoryOverTorch).toBeCloseTo(0.9, 10);
    expect(byKey('inception_v4/fp16/1').latencyOverGraphs).toBeCloseTo(5 / 8, 10);
    expect(b256.latencyOverGraphs).toBeUndefined(); // latency is a batch-1 measure only
    const failed = byKey('inception_resnet_v2/fp16/8');
    expect(failed.oursOverEager).toBeUndefined();
    expect(failed.torchNote).toBe('no PyTorch row');
    expect(byKey('inception_resnet_v1/fp16/1').torchNote).toContain('facenet_pytorch does not import');
  });

  it('marks each goal met, missed or not measured, saying why', () => {
    const goals = buildPerfReport(oursBench, torchBench).goals;
    expect(goalOf(goals, 'inception_v4 fp16 batch 256: ours >= 1.5').status).toBe('met');
    expect(goalOf(goals, 'inception_v4 fp16 batch 256: ours >= 1.1').status).toBe('met');
    expect(goalOf(goals, 'inception_resnet_v2 fp16 batch 256: ours >= 1.5').status).toBe('met');
    const irv2Graphs = goalOf(goals, 'inception_resnet_v2 fp16 batch 256: ours >= 1.1');
    expect(irv2Graphs.status).toBe('missed');
    expect(irv2Graphs.detail).toContain('1.04 x');
    expect(goalOf(goals, 'inception_v4 fp16 batch 1: p50').status).toBe('met');
    expect(goalOf(goals, 'inception_resnet_v2 fp16 batch 1: p50').status).toBe('missed');
    const noRef = goalOf(goals, 'inception_resnet_v1 fp16 batch 1: p50');
    expect(noRef.status).toBe('not measured');
    expect(noRef.detail).toContain('facenet_pytorch');
    expect(goalOf(goals, 'inception_v4 fp32 batch 1: p50').detail).toBe('row not measured');
    // Memory: 900/1000, 150/180, 160/150 (over), 400/500 MiB -> missed at batch 8 only.
    const mem = goalOf(goals, 'inception_v4 fp16: peak device memory');
    expect(mem.status).toBe('missed');
    expect(mem.detail).toContain('over: b8');
    // inception_resnet_v2 fp16: 1300/1200 at 256 is over; batches 8 and 64 unmeasured.
    const memIrv2 = goalOf(goals, 'inception_resnet_v2 fp16: peak device memory');
    expect(memIrv2.status).toBe('missed');
    expect(memIrv2.detail).toContain('not measured: batch 8, 64');
    const peak = goalOf(goals, 'inception_v4 fp16 batch 256: >= 35%');
    expect(peak.status).toBe('met');
    expect(peak.detail).toContain('36.8%');
  });

  it('memory at every batch: met only when all four batches are measured and none is over', () => {
    const rows: PerfRow[] = PERF_BATCHES.map((batch) => ({ model: 'inception_v4', size: 299, precision: 'fp32', batch, memoryOverTorch: 1, ours: undefined, torchDeviceBytes: MIB }));
    expect(goalOf(evaluateGoals(rows, {}), 'inception_v4 fp32: peak device memory').status).toBe('met');
    expect(goalOf(evaluateGoals(rows.slice(1), {}), 'inception_v4 fp32: peak device memory').status).toBe('not measured');
  });

  it("marks issue 18's goals: 35% of the peak and 2 x CUDA graphs at fp16 batch 256, batch-1 p50 <= 0.5 x", () => {
    const goals = buildPerfReport(oursBench, torchBench).issue18Goals;
    expect(goalOf(goals, 'inception_v4 fp16 batch 256: >= 35%').status).toBe('met'); // 36.8%
    const v4Graphs = goalOf(goals, 'inception_v4 fp16 batch 256: ours >= 2 x');
    expect(v4Graphs.status).toBe('missed'); // 4500 / 4000 = 1.125
    expect(v4Graphs.detail).toContain('1.13 x');
    expect(goalOf(goals, 'inception_resnet_v2 fp16 batch 256: >= 35%').status).toBe('missed'); // 2600 x 26.3 GFLOP = 68.4 TFLOP/s = 22.8%
    expect(goalOf(goals, 'inception_v4 fp32 batch 256: ours >= 1.2 x').status).toBe('not measured');
    expect(goalOf(goals, 'inception_v4 fp16 batch 1: p50 latency <= 0.5 x').status).toBe('missed'); // 5 / 8 = 0.625
    expect(goalOf(goals, 'inception_resnet_v1 fp32 batch 1: p50 latency <= 0.5 x').status).toBe('not measured');
    expect(goals.filter((g) => g.goal.includes('batch 1: p50'))).toHaveLength(6); // three networks, fp16 and fp32
  });

  it('adds torch.compile as a third PyTorch column with its compile time, and the copy roof', () => {
    const compiled: TorchCompile = {
      results: [
        { model: 'inception_v4', size: 299, precision: 'fp16', batch: 256, mode: 'inductor, default', compileS: 61.5, status: 'done', compiled: { imagesPerSecond: 5000, msPerBatch: 51.2, iterations: 10, deviceUsedBytes: 1200 * MIB } },
      ],
    };
    const report = buildPerfReport(oursBench, { ...torchBench, copyRoof: { gbPerS: 3012.4, bestMs: 0.71, bytesPerCopy: 2 * 2 ** 30 } }, compiled);
    const row = report.rows.find((r) => r.model === 'inception_v4' && r.precision === 'fp16' && r.batch === 256)!;
    expect(row.oursOverCompiled).toBeCloseTo(4500 / 5000, 10);
    expect(report.copyRoofGbPerS).toBeCloseTo(3012.4, 10);
    const md = perfMarkdown(report).join('\n');
    expect(md).toContain('### torch.compile (inductor, default mode)');
    expect(md).toContain('| inception_v4 | fp16 | 256 | 4500.0 | 4000.0 | 5000.0 | 0.90 | 61.5 | 1200 |');
    expect(md).toContain('Device-to-device copy: 3012 GB/s');
    expect(perfMarkdown(buildPerfReport(oursBench, torchBench)).join('\n')).not.toContain('torch.compile');
  });

  it('the fraction-of-peak goal is not measured without a matmul peak, and says so', () => {
    const goals = buildPerfReport(oursBench, { ...torchBench, matmulPeak: { fp16: { error: 'RuntimeError: CUBLAS_STATUS_NOT_SUPPORTED' } } }).goals;
    const peak = goalOf(goals, 'inception_v4 fp16 batch 256: >= 35%');
    expect(peak.status).toBe('not measured');
    expect(goalOf(goals, 'inception_v4 fp16 batch 256: ours >= 1.5').status).toBe('met');
  });

  it('without the PyTorch stage every comparison is not measured and ours still shows', () => {
    const report = buildPerfReport(oursBench, null);
    expect(report.rows).toHaveLength(7);
    expect(report.goals.every((g) => g.status === 'not measured')).toBe(true);
    expect(report.torchVersions).toBe('PyTorch stage did not run');
    // A stage that wrote no file at all reaches the report as undefined, not null.
    expect(buildPerfReport(oursBench, undefined).torchVersions).toBe('PyTorch stage did not run');
    expect(buildPerfReport(undefined, undefined).rows).toEqual([]);
    expect(buildPerfReport(null, null).rows).toEqual([]);
    expect(perfMarkdown(buildPerfReport(null, null))).toEqual([]);
  });

  it('the Markdown has the goals, one throughput and one memory row per model/precision/batch, and names the memory measure', () => {
    const md = perfMarkdown(buildPerfReport(oursBench, torchBench)).join('\n');
    expect(md).toContain('| inception_resnet_v2 fp16 batch 256: ours >= 1.1 x PyTorch CUDA graphs | **missed** | 1.04 x (ours 2600.0 img/s vs 2500.0) |');
    expect(md).toContain('| inception_v4 | 299 | fp16 | 256 | 4500.0 | 2800.0 | 4000.0 | 1.61 | 1.13 | - | - | - | - | 110.3 | 36.8 |  |');
    expect(md).toContain('| inception_v4 | 299 | fp16 | 1 | 200.0 | 60.0 | 120.0 | 3.33 | 1.67 | 5.00 / 5.50 | 16.00 / 19.20 | 8.00 / 9.60 | 0.63 |');
    expect(md).toContain('| inception_v4 | fp16 | 256 | 900 | 900 | 92 | 1000 | 1100 | 980 / 990 | 1080 / 1090 | 0.90 |');
    expect(md).toContain('| inception_resnet_v2 | 299 | fp16 | 8 | error | - | - |');
    expect(md).toContain('cudaMemGetInfo used-bytes delta');
    expect(md).toContain('fp16 300.0 TFLOP/s (n=8192, 3.665 ms)');
  });

  it('the SVG draws one bar per engine and mode, the fastest filling the width, and escapes text', () => {
    const svg = perfSvg(buildPerfReport(oursBench, { ...torchBench, device: 'GPU <test> & co' }), '2026-11-27T00:00:00Z');
    expect(svg).toContain('GPU &lt;test&gt; &amp; co');
    const bars = [...svg.matchAll(/<rect x="220" y="(\d+)" width="([\d.]+)"/g)].map((m) => Number(m[2]));
    // First group (inception_v4 fp16 b256): 4500, 2800, 4000 img/s on a 560-px scale.
    expect(bars.slice(0, 3)).toEqual([560, Number(((2800 / 4500) * 560).toFixed(1)), Number(((4000 / 4500) * 560).toFixed(1))]);
    expect(svg).toContain('goals met 5/');
  });
});

describe('selectedPerfGroups (INCEPTION_PERF_PRECISIONS)', () => {
  it('keeps every group when unset or empty, the listed precisions otherwise, and rejects others', async () => {
    const { selectedPerfGroups } = await import('../../bench/gpu/perf-rows');
    expect(selectedPerfGroups(undefined)).toEqual(PERF_GROUPS);
    expect(selectedPerfGroups('')).toEqual(PERF_GROUPS);
    const fp16 = selectedPerfGroups('fp16');
    expect(fp16.length).toBeGreaterThan(0);
    expect(fp16.every((g) => g.precision === 'fp16')).toBe(true);
    expect(fp16.length + selectedPerfGroups('fp32').length).toBe(PERF_GROUPS.length);
    expect(selectedPerfGroups('fp16,fp32')).toEqual(PERF_GROUPS);
    expect(() => selectedPerfGroups('bf16')).toThrow(/INCEPTION_PERF_PRECISIONS/);
  });
});
