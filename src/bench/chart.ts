/**
 * A hand-written SVG bar chart of a CPU benchmark: one group per (model, batch), one bar per
 * engine, images/s; each group has its own scale (the longest bar fills the width) and every
 * bar carries its value, so small and large networks are both readable.
 */
import type { CpuBenchResult } from './cpu-bench';

const COLOURS: Readonly<Record<string, string>> = { ours: '#1f77b4', 'ort-folded': '#ff7f0e', 'ort-unfolded': '#bbbbbb' };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function benchmarkSvg(result: CpuBenchResult): string {
  const width = 900;
  const labelWidth = 220;
  const barArea = width - labelWidth - 120;
  const barHeight = 18;
  const groupGap = 14;
  const top = 78;
  const engines = [...new Set(result.rows.flatMap((r) => r.engines.map((e) => e.engine)))];
  const groupHeight = engines.length * (barHeight + 3) + groupGap;
  const height = top + result.rows.length * groupHeight + 40;
  const m = result.machine;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="16" y="26" font-size="17" font-weight="bold">CPU throughput, images/s (higher is better)</text>`,
    `<text x="16" y="46" fill="#444">${escapeXml(`${m.cpuModel}, ${m.isa}, ${result.settings.threads} threads, load ${m.loadAverage1m.toFixed(2)}, ${m.date.slice(0, 10)}, commit ${m.commit}`)}</text>`,
  ];
  engines.forEach((engine, i) => {
    const x = 16 + i * 160;
    parts.push(`<rect x="${x}" y="56" width="12" height="12" fill="${COLOURS[engine] ?? '#888'}"/>`);
    parts.push(`<text x="${x + 18}" y="67">${escapeXml(engine)}</text>`);
  });
  result.rows.forEach((row, r) => {
    const y0 = top + r * groupHeight;
    const max = Math.max(...row.engines.map((e) => e.imagesPerSecond));
    parts.push(`<text x="16" y="${y0 + barHeight}" font-weight="bold">${escapeXml(`${row.model} ${row.inputSize}`)}</text>`);
    parts.push(`<text x="16" y="${y0 + barHeight * 2}" fill="#444">${escapeXml(`batch ${row.batch}, ours/ort ${row.oursOverOrt.toFixed(2)}`)}</text>`);
    engines.forEach((engine, e) => {
      const result = row.engines.find((x) => x.engine === engine);
      if (result === undefined) return;
      const y = y0 + e * (barHeight + 3);
      const w = max > 0 ? Math.max(1, (result.imagesPerSecond / max) * barArea) : 1;
      parts.push(`<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${COLOURS[engine] ?? '#888'}"/>`);
      parts.push(`<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + barHeight - 4}">${result.imagesPerSecond.toFixed(2)}</text>`);
    });
  });
  parts.push(`<text x="16" y="${height - 14}" fill="#666" font-size="11">Each group has its own scale; bars: images/s at the median latency of interleaved runs. ort = onnxruntime-node on our ONNX export.</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
