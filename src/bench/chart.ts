/**
 * Hand-written SVG bar charts. groupedBarSvg draws one group per row with one bar per series,
 * each group on its own scale (the longest bar fills the width) and every bar labelled with its
 * value, so small and large networks are both readable. benchmarkSvg is the CPU benchmark's chart
 * (one group per model and batch, one bar per engine, images/s).
 */
import type { CpuBenchResult } from './cpu-bench';

const COLOURS: Readonly<Record<string, string>> = { ours: '#1f77b4', 'ours-bf16': '#2ca02c', 'ort-folded': '#ff7f0e', 'ort-unfolded': '#bbbbbb' };

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface BarGroup {
  /** Bold first line of the group's label. */
  readonly label: string;
  /** Second line (grey). */
  readonly detail: string;
  /** One value per series name; a missing or non-finite value draws no bar. */
  readonly values: Readonly<Record<string, number | undefined>>;
}

export interface GroupedBarChart {
  readonly title: string;
  readonly subtitle: string;
  readonly footer: string;
  /** Series in legend and bar order. */
  readonly series: readonly string[];
  readonly colours: Readonly<Record<string, string>>;
  readonly groups: readonly BarGroup[];
  /** Bar value labels (default: 2 decimals). */
  readonly format?: (value: number) => string;
}

export function groupedBarSvg(chart: GroupedBarChart): string {
  const width = 900;
  const labelWidth = 220;
  const barArea = width - labelWidth - 120;
  const barHeight = 18;
  const groupGap = 14;
  const top = 78;
  const format = chart.format ?? ((v: number) => v.toFixed(2));
  const groupHeight = Math.max(chart.series.length * (barHeight + 3), 2 * barHeight + 6) + groupGap;
  const height = top + chart.groups.length * groupHeight + 40;
  const colour = (name: string): string => chart.colours[name] ?? '#888';
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="16" y="26" font-size="17" font-weight="bold">${escapeXml(chart.title)}</text>`,
    `<text x="16" y="46" fill="#444">${escapeXml(chart.subtitle)}</text>`,
  ];
  chart.series.forEach((name, i) => {
    const x = 16 + i * 160;
    parts.push(`<rect x="${x}" y="56" width="12" height="12" fill="${colour(name)}"/>`);
    parts.push(`<text x="${x + 18}" y="67">${escapeXml(name)}</text>`);
  });
  chart.groups.forEach((group, g) => {
    const y0 = top + g * groupHeight;
    const finite = chart.series.map((s) => group.values[s]).filter((v): v is number => v !== undefined && Number.isFinite(v));
    const max = finite.length === 0 ? 0 : Math.max(...finite);
    parts.push(`<text x="16" y="${y0 + barHeight}" font-weight="bold">${escapeXml(group.label)}</text>`);
    parts.push(`<text x="16" y="${y0 + barHeight * 2}" fill="#444">${escapeXml(group.detail)}</text>`);
    chart.series.forEach((name, s) => {
      const value = group.values[name];
      if (value === undefined || !Number.isFinite(value)) return;
      const y = y0 + s * (barHeight + 3);
      const w = max > 0 ? Math.max(1, (value / max) * barArea) : 1;
      parts.push(`<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${colour(name)}"/>`);
      parts.push(`<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + barHeight - 4}">${escapeXml(format(value))}</text>`);
    });
  });
  parts.push(`<text x="16" y="${height - 14}" fill="#666" font-size="11">${escapeXml(chart.footer)}</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export function benchmarkSvg(result: CpuBenchResult): string {
  const m = result.machine;
  return groupedBarSvg({
    title: 'CPU throughput, images/s (higher is better)',
    subtitle: `${m.cpuModel}, ${m.isa}, ${result.settings.threads} threads, load ${m.loadAverage1m.toFixed(2)}, ${m.date.slice(0, 10)}, commit ${m.commit}`,
    footer: 'Each group has its own scale; bars: images/s at the median latency of interleaved runs. ort = onnxruntime-node on our ONNX export.',
    series: [...new Set(result.rows.flatMap((r) => r.engines.map((e) => e.engine)))],
    colours: COLOURS,
    groups: result.rows.map((row) => ({
      label: `${row.model} ${row.inputSize}`,
      detail: `batch ${row.batch}, ours/ort ${row.oursOverOrt.toFixed(2)}`,
      values: Object.fromEntries(row.engines.map((e) => [e.engine, e.imagesPerSecond])),
    })),
  });
}
