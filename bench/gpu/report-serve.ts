/** results.md section of the serve stage (imports types only: the report stage does not load the server). */
import type { PhaseRow, ServeCheck, ServeRow } from './stage-serve';
import { mib } from './suite-common';
import { tableCell } from './markdown';

const cell = (text: string | undefined): string => tableCell(text, 260);
const fixed = (v: number | undefined, digits = 1): string => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));

function phaseLine(precision: string, mode: string, r: PhaseRow | undefined): string {
  if (r === undefined) return `| ${precision} | ${mode} | - | - | - | - | - | - | - |`;
  return `| ${precision} | ${mode} | ${r.ok}/${r.requests} | ${fixed(r.imagesPerSecond)} | ${fixed(r.ratioToInProcess, 2)} | ${fixed(r.p50Ms)} | ${fixed(r.p99Ms)} | ${fixed(r.averageBatch)} (${fixed(r.fullBatchShare * 100, 0)}% full) | ${r.errors} |`;
}

export function reportServe(stage: unknown): string[] {
  const s = stage as { config?: { device: string; model: string; size: number; maxBatch: number; queueDelayMicroseconds: number }; rows?: ServeRow[]; checks?: ServeCheck[]; seconds?: number } | null | undefined;
  if (!s?.config) return [];
  const c = s.config;
  const md = [
    `## serve: HTTP server on ${c.device} (${c.model} ${c.size}x${c.size}, maxBatch ${c.maxBatch}, queue delay ${c.queueDelayMicroseconds} µs, binary tensors over loopback, ${fixed(s.seconds, 0)} s)`,
    '',
  ];
  const checks = s.checks ?? [];
  if (checks.length > 0) md.push('| check | pass | detail |', '|---|---|---|', ...checks.map((k) => `| ${cell(k.name)} | ${k.pass ? 'yes' : '**NO**'} | ${cell(k.detail)} |`), '');
  const rows = s.rows ?? [];
  if (rows.length > 0) {
    md.push('| precision | mode | ok/requests | images/s | / in-process | p50 ms | p99 ms | avg batch | errors |', '|---|---|---|---|---|---|---|---|---|');
    for (const r of rows) {
      const a = r.inProcess;
      md.push(`| ${r.precision} | in-process session.run, batch ${a?.batch ?? '-'} | ${a?.runs ?? '-'} runs | ${fixed(a?.imagesPerSecond)} | 1.00 | ${fixed(a?.msPerBatchP50)} | ${fixed(a?.msPerBatchP99)} | - | - |`);
      md.push(phaseLine(r.precision, 'serve, 8-image requests, 16 connections', r.batch8));
      md.push(phaseLine(r.precision, 'serve, 1-image requests, 64 connections', r.single));
    }
    md.push('', 'p50/p99 of serve rows: per request, client side. ' + rows.map((r) => `${r.precision}: create ${r.createMs ?? '-'} ms, RSS ${mib(r.rssAfterWarmupBytes ?? 0)} -> ${mib(r.rssAfterLoadBytes ?? 0)} MiB, close ${r.closeMs ?? '-'} ms${r.error ? `, ERROR ${cell(r.error)}` : ''}`).join('; ') + '.', '');
  }
  return md;
}
