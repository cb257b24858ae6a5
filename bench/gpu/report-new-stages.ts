/** results.md sections for the session, algo_cache and cpu_vs_gpu stages (short tables). */
import type { CompileRecord } from './stage-algo-cache';
import type { CpuVsGpuRow } from './stage-cpu-vs-gpu';
import type { MemoryCycle, SessionCheck, SessionRow } from './stage-session';
import { mib } from './suite-common';
import { expOrDash, tableCell } from './markdown';

const cell = (text: string | undefined): string => tableCell(text, 220);

function checksTable(checks: readonly { name: string; pass: boolean; detail: string }[]): string[] {
  if (checks.length === 0) return [];
  return ['| check | pass | detail |', '|---|---|---|', ...checks.map((c) => `| ${cell(c.name)} | ${c.pass ? 'yes' : '**NO**'} | ${cell(c.detail)} |`), ''];
}

export function reportSession(stage: unknown): string[] {
  const s = stage as { skipped?: string; checks?: SessionCheck[]; rows?: SessionRow[]; cycles?: MemoryCycle[] } | null | undefined;
  if (!s) return [];
  const md = ['## Public API on cuda (createSession, checkpoint file, plain profile)', ''];
  if (s.skipped) return [...md, `skipped: ${cell(s.skipped)}`, ''];
  md.push(...checksTable(s.checks ?? []));
  if ((s.rows ?? []).length > 0) {
    md.push('| model | precision | device | case | pass | full relL2 | n=1 relL2 | concurrent | create ms | weights / arena / workspace MiB | free before / open / after MiB | note |', '|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const r of s.rows ?? []) {
      const m = r.memory;
      const mem = m ? `${mib(m.weightBytes)} / ${mib(m.arenaBytes)} / ${mib(m.workspaceBytes)}` : '-';
      const free = r.freeBefore !== undefined && r.freeOpen !== undefined && r.freeAfter !== undefined ? `${mib(r.freeBefore)} / ${mib(r.freeOpen)} / ${mib(r.freeAfter)}` : '-';
      const conc = r.concurrent ? `${r.concurrent.pass ? 'yes' : '**NO**'} (rows ${expOrDash(r.concurrent.row0.relL2)}, ${expOrDash(r.concurrent.row1.relL2)})` : '-';
      md.push(`| ${r.model} | ${r.precision} | ${r.device} | ${r.case} | ${r.pass ? 'yes' : '**NO**'} | ${expOrDash(r.full?.relL2)} | ${expOrDash(r.single?.relL2)} | ${conc} | ${r.createMs ?? '-'} | ${mem} | ${free} | ${cell(r.error ?? r.full?.why)} |`);
    }
    md.push('');
  }
  return md;
}

export function reportAlgoCache(stage: unknown): string[] {
  const s = stage as { skipped?: string; entries?: number; sampleKeys?: string[]; records?: CompileRecord[]; checks?: { name: string; pass: boolean; detail: string }[] } | null | undefined;
  if (!s) return [];
  const md = ['## cuDNN algorithm cache (inception_v4 2x299, benchmark: true)', ''];
  if (s.skipped) return [...md, `skipped: ${cell(s.skipped)}`, ''];
  md.push(...checksTable(s.checks ?? []));
  if ((s.records ?? []).length > 0) {
    md.push('| precision | compile | ms | convs from cache | relL2 vs f64 |', '|---|---|---|---|---|');
    for (const r of s.records ?? []) md.push(`| ${r.precision} | ${r.mode === 'cold' ? 'cold (fresh file)' : r.mode === 'memory' ? 'again, same process' : 'new process, file only'} | ${r.compileMs} | ${r.fromCache}/${r.convs} | ${expOrDash(r.relL2)} |`);
    md.push('');
  }
  if (s.sampleKeys?.[0]) md.push(`${s.entries ?? 0} cache entries, e.g. \`${s.sampleKeys[0]}\``, '');
  return md;
}

export function reportCpuVsGpu(stage: unknown): string[] {
  const s = stage as { seed?: number; bound?: number; cpu?: unknown; gpu?: unknown; rows?: CpuVsGpuRow[]; pass?: boolean; worstGpuVsCpu?: number | null } | null | undefined;
  if (!s) return [];
  const rows = s.rows ?? [];
  const failed = rows.filter((r) => !r.pass);
  const worst = (pick: (r: CpuVsGpuRow) => number | undefined): string => expOrDash(Math.max(...rows.map((r) => pick(r) ?? -Infinity)));
  const md = [
    `## Single ops, oneDNN CPU vs cuDNN GPU (fp32, random shapes, seed ${s.seed ?? '-'})`,
    '',
    `CPU: ${cell(JSON.stringify(s.cpu))}; GPU: ${cell(JSON.stringify(s.gpu))}`,
    '',
    `${rows.length - failed.length}/${rows.length} runs pass (rel-L2 <= ${s.bound ?? '-'}); worst rel-L2: gpu vs cpu ${worst((r) => r.gpuVsCpu)}, cpu vs f64 ${worst((r) => r.cpuVsRef)}, gpu vs f64 ${worst((r) => r.gpuVsRef)}`,
    '',
  ];
  if (failed.length > 0) {
    md.push('| case | n | gpu vs cpu | cpu vs f64 | gpu vs f64 | error |', '|---|---|---|---|---|---|');
    for (const r of failed.slice(0, 20)) md.push(`| ${cell(r.name)} | ${r.n} | ${expOrDash(r.gpuVsCpu)} | ${expOrDash(r.cpuVsRef)} | ${expOrDash(r.gpuVsRef)} | ${cell(r.error)} |`);
    md.push('');
  }
  return md;
}
