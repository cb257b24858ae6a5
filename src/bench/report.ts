/** The benchmark's Markdown table and file names. */
import { AUTO_CONVOLUTION_SUMMARY, type ConvolutionAlgorithm } from '../runtime/backend';
import type { CpuBenchResult } from './cpu-bench';

/** `cpu-2025-06-01-1250` (UTC): sortable, no characters that need escaping. */
export function resultBaseName(date: Date): string {
  const iso = date.toISOString();
  return `cpu-${iso.slice(0, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}`;
}

/** Results written before the option existed have no `convolution`: those ran direct everywhere. */
function convolutionText(convolution: ConvolutionAlgorithm | undefined): string {
  if (convolution === 'auto') return `'auto', ${AUTO_CONVOLUTION_SUMMARY}`;
  return "'direct'";
}

/** How each engine's turn ran (results before runsPerTurn existed ran one run per turn). */
function turnText(result: CpuBenchResult): string {
  const { warmup, iterations, settleMs } = result.settings;
  const runs = result.settings.runsPerTurn ?? 1;
  const turns = `${warmup} warm-up + ${iterations} timed turns per engine, interleaved (the order reversed every other iteration)`;
  if (runs === 1) return `${turns}, ${settleMs} ms idle before each run (so no engine's spinning threads slow the next)`;
  return `${turns}; each turn: ${settleMs} ms idle, 1 untimed run, then ${runs - 1} timed runs back to back (the sustained rate of a busy engine)`;
}

const f = (x: number, digits: number): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

export function markdownReport(result: CpuBenchResult): string {
  const m = result.machine;
  const engines = [...new Set(result.rows.flatMap((r) => r.engines.map((e) => e.engine)))];
  const lines = [
    `# CPU benchmark: inception-cudnn vs onnxruntime-node`,
    '',
    `| | |`,
    `|---|---|`,
    `| date | ${m.date} |`,
    `| CPU | ${m.cpuModel} |`,
    `| ISA (oneDNN) | ${m.isa} |`,
    `| logical cores | ${m.logicalCores} |`,
    `| threads | ours ${result.settings.threads} (${result.settings.threadPinning ?? 'pinning not recorded'}; convolutions: ${convolutionText(result.settings.convolution)}), onnxruntime intraOp ${result.settings.threads}, interOp 1, sequential, graph optimisation 'all' |`,
    ...(result.settings.precision === 'bf16' ? [`| precision | ours-bf16: 'bf16' (another computation); ours and onnxruntime: fp32 |`] : []),
    `| load average (1 min) | ${f(m.loadAverage1m, 2)} at start, ${f(result.loadAverage1mAtEnd, 2)} at end |`,
    `| commit | ${m.commit} |`,
    `| versions | ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')} |`,
    `| method | synthetic 'plain' weights; onnxruntime runs our ONNX export of the same weights; ${turnText(result)}; images/s at the median latency; paired: the median over iterations of onnxruntime's time / ours in the same iteration |`,
    '',
    `| model | input | batch | ${engines.map((e) => `${e} img/s | ${e} p50 / p90 ms`).join(' | ')} | ours / ort-folded | paired |`,
    `|---|---|---|${engines.map(() => '---:|---:').join('|')}|---:|---:|`,
  ];
  for (const row of result.rows) {
    const cells = engines.map((name) => {
      const e = row.engines.find((x) => x.engine === name);
      return e === undefined ? 'n/a | n/a' : `${f(e.imagesPerSecond, 2)} | ${f(e.p50Ms, 1)} / ${f(e.p90Ms, 1)}`;
    });
    lines.push(`| ${row.model} | ${row.inputSize} | ${row.batch} | ${cells.join(' | ')} | ${f(row.oursOverOrt, 2)} | ${row.pairedOursOverOrt === undefined ? 'n/a' : f(row.pairedOursOverOrt, 2)} |`);
  }
  lines.push('', 'ours / ort-folded > 1: ours has the higher throughput.', '');
  if (result.rows.some((r) => r.bf16OverFp32 !== undefined)) {
    lines.push(
      '**ours-bf16 is another computation**: precision `bf16` (bf16 weights and activations, fp32 accumulation; the first convolution, the global pool, the classifier and the L2 norm in fp32). Its outputs differ from fp32 by about 4e-3 relative on well-conditioned weights (see bench/cpu/README.md, bf16); ours and onnxruntime compute in fp32.',
      '',
      '| model | batch | ours-bf16 img/s | ours (fp32) img/s | ort-folded (fp32) img/s | bf16 / fp32 | paired |',
      '|---|---|---:|---:|---:|---:|---:|',
    );
    for (const row of result.rows) {
      if (row.bf16OverFp32 === undefined) continue;
      const ips = (name: string): string => f(row.engines.find((e) => e.engine === name)?.imagesPerSecond ?? NaN, 2);
      lines.push(`| ${row.model} | ${row.batch} | ${ips('ours-bf16')} | ${ips('ours')} | ${ips('ort-folded')} | ${f(row.bf16OverFp32, 2)} | ${row.pairedBf16OverFp32 === undefined ? 'n/a' : f(row.pairedBf16OverFp32, 2)} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
