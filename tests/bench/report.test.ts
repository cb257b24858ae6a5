/** Pure parts of the benchmark: percentiles, file names, the Markdown table, the SVG, /proc/cpuinfo parsing. */
import { describe, expect, it } from 'vitest';
import { imagesPerSecond, latencyStats, pairedSpeedup, percentile } from '../../src/bench/stats';
import { markdownReport, resultBaseName } from '../../src/bench/report';
import { benchmarkSvg } from '../../src/bench/chart';
import { cpuModelName } from '../../src/bench/machine';
import type { CpuBenchResult } from '../../src/bench/cpu-bench';
import { isReferenceImpl } from '../../src/bench/profile';

const result: CpuBenchResult = {
  kind: 'cpu-benchmark',
  machine: { date: '2026-01-02T03:04:05.000Z', cpuModel: 'Test <CPU> & co', isa: 'avx2', logicalCores: 2, loadAverage1m: 0.5, commit: 'abc', versions: { node: '20' } },
  settings: { iterations: 3, warmup: 1, threads: 2, convolution: 'auto', settleMs: 50, interleaved: true, ortOptions: {}, threadPinning: '2 threads pinned to CPUs 0,1' },
  rows: [
    {
      model: 'inception_v4',
      inputSize: 299,
      batch: 8,
      engines: [
        { engine: 'ours', iterations: 3, meanMs: 100, p50Ms: 100, p90Ms: 120, minMs: 90, maxMs: 120, imagesPerSecond: 80 },
        { engine: 'ort-folded', iterations: 3, meanMs: 200, p50Ms: 200, p90Ms: 210, minMs: 190, maxMs: 210, imagesPerSecond: 40 },
      ],
      oursOverOrt: 2,
      pairedOursOverOrt: 1.9,
    },
  ],
  loadAverage1mAtEnd: 0.6,
};

describe('benchmark statistics and reports', () => {
  it('nearest-rank percentiles and images/s at the median', () => {
    // Exact values: nearest rank of 10 sorted samples is the 5th (p50) and 9th (p90).
    const samples = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5];
    const s = latencyStats(samples);
    expect([s.p50Ms, s.p90Ms, s.minMs, s.maxMs, s.meanMs]).toEqual([5, 9, 1, 10, 5.5]);
    expect(percentile([4], 90)).toBe(4);
    expect(imagesPerSecond(8, s)).toBe(1600);
  });

  it('the paired speedup is the median of per-iteration ratios, unmoved by a slow phase that hits both engines', () => {
    // Iterations 3-4 ran on a machine twice as slow: both engines doubled, their ratio stayed 1.5.
    const ours = [10, 10, 20, 20, 10];
    const theirs = [15, 15, 30, 30, 15];
    expect(pairedSpeedup(ours, theirs)).toBe(1.5);
    expect(pairedSpeedup([10, 20], [10, 60])).toBe(2); // even count: mean of the middle two (1 and 3)
    expect(pairedSpeedup([], [])).toBeNaN();
    expect(pairedSpeedup([1], [1, 2])).toBeNaN();
  });

  it('file names sort by time and carry no characters that need escaping', () => {
    expect(resultBaseName(new Date('2026-01-02T03:04:05Z'))).toBe('cpu-2026-01-02-0304');
  });

  it('the Markdown table has the machine, one row per model and batch, and the ratio', () => {
    const md = markdownReport(result);
    expect(md).toContain('| CPU | Test <CPU> & co |');
    expect(md).toContain('| inception_v4 | 299 | 8 | 80.00 | 100.0 / 120.0 | 40.00 | 200.0 / 210.0 | 2.00 | 1.90 |');
    expect(md).toContain('0.50 at start, 0.60 at end');
    expect(md).toContain('1 warm-up + 3 timed turns per engine, interleaved (the order reversed every other iteration), 50 ms idle before each run');
    expect(md).toContain("| threads | ours 2 (2 threads pinned to CPUs 0,1; convolutions: 'auto', Winograd for 3x3 where oneDNN has a kernel, F(4,7) for 1x7/7x1 and a weight stream on maps of at most 12 pixels), ");
    // Results written before these settings existed ran direct everywhere, pinning unrecorded, and say so.
    const old = { ...result, settings: { ...result.settings, convolution: undefined, threadPinning: undefined } } as unknown as CpuBenchResult;
    expect(markdownReport(old)).toContain("| threads | ours 2 (pinning not recorded; convolutions: 'direct'), ");
  });

  it('the SVG escapes text and draws one bar per engine, the longest filling the width', () => {
    const svg = benchmarkSvg(result);
    expect(svg).toContain('Test &lt;CPU&gt; &amp; co');
    expect(svg).not.toContain('<CPU>');
    const bars = [...svg.matchAll(/<rect x="220" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(bars).toEqual([560, 280]);
  });

  it('reads the CPU model from /proc/cpuinfo text', () => {
    expect(cpuModelName('processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t: avx\n')).toBe('AMD EPYC 9R14');
  });

  it("flags oneDNN reference kernels ('ref:any', 'ref_int8'), not JIT ones", () => {
    expect(isReferenceImpl('ref:any')).toBe(true);
    expect(isReferenceImpl('ref:any (per image)')).toBe(true);
    expect(isReferenceImpl('jit:avx512_core')).toBe(false);
    expect(isReferenceImpl('brg:avx512_core')).toBe(false);
    expect(isReferenceImpl('loop')).toBe(false);
  });
});

describe('the bf16 benchmark report', () => {
  const bf16Result: CpuBenchResult = {
    ...result,
    settings: { ...result.settings, precision: 'bf16' },
    rows: [
      {
        ...result.rows[0]!,
        engines: [{ engine: 'ours-bf16', iterations: 3, meanMs: 60, p50Ms: 50, p90Ms: 70, minMs: 45, maxMs: 70, imagesPerSecond: 160 }, ...result.rows[0]!.engines],
        bf16OverFp32: 2,
        pairedBf16OverFp32: 1.95,
      },
    ],
  };

  it('labels ours-bf16 as another computation and puts it next to ours and onnxruntime in fp32', () => {
    const md = markdownReport(bf16Result);
    expect(md).toContain("| precision | ours-bf16: 'bf16' (another computation); ours and onnxruntime: fp32 |");
    expect(md).toContain('**ours-bf16 is another computation**');
    expect(md).toContain('| model | batch | ours-bf16 img/s | ours (fp32) img/s | ort-folded (fp32) img/s | bf16 / fp32 | paired |');
    expect(md).toContain('| inception_v4 | 8 | 160.00 | 80.00 | 40.00 | 2.00 | 1.95 |');
    expect(benchmarkSvg(bf16Result)).toContain('ours-bf16');
  });

  it('an fp32 report has no bf16 table', () => {
    const md = markdownReport(result);
    expect(md).not.toContain('ours-bf16');
    expect(md).not.toContain('| precision |');
  });
});
