/**
 * Stage `sibling_merge` (issue 18 item 1 on a GPU): the sibling-conv merge A/B of
 * src/bench/sibling-merge-ab.ts (the measurement `node lib/bench/sibling-merge.js --device cuda`
 * makes), inside the GPU check: unmerged, merged heads, merged heads + concat pieces, fp16, rows
 * in ROWS order (batch 256 of the two goal networks first, then batch 8, then Inception-ResNet-v1),
 * ITERATIONS interleaved runs each after WARMUP (the 2 eager runs, the capture, a replay). The
 * unmerged sessions re-trial the decisions the bench stage cached; merged convolutions are new
 * shapes and are searched. No new row after the stage timeout - 45 s (a batch-256 row: one session
 * re-trialed, one partly searched, about 30-40 s on an H100 by the create times of 2026-11-27).
 *
 * The CUDA backend keeps the merge off (src/native/cuda-backend.ts MERGE_SIBLING_CONVS) until this
 * shows it faster; the merged outputs' relL2 against the unmerged ones is in every row.
 *
 * Writes <work>/results/sibling_merge.json.
 */
import { measureSiblingMerge, SIBLING_MERGE_VARIANTS, siblingMergeTable, type SiblingMergeRow } from '../../src/bench/sibling-merge-ab';
import type { ModelName } from '../../src/models/types';
import { type Args, errorText, log, saveStage } from './suite-common';

const ROWS: readonly { model: ModelName; size: number; batch: number }[] = [
  { model: 'inception_v4', size: 299, batch: 256 },
  { model: 'inception_resnet_v2', size: 299, batch: 256 },
  { model: 'inception_v4', size: 299, batch: 8 },
  { model: 'inception_resnet_v2', size: 299, batch: 8 },
  { model: 'inception_resnet_v1', size: 160, batch: 256 },
];
const ITERATIONS = 12;
const WARMUP = 4;

interface StageRow {
  readonly model: ModelName;
  readonly batch: number;
  readonly row?: SiblingMergeRow;
  readonly error?: string;
  readonly skipped?: string;
}

export async function stageSiblingMerge(args: Args): Promise<void> {
  const started = Date.now();
  const timeout = Number(process.env.INCEPTION_STAGE_TIMEOUT_S);
  const budgetMs = Number.isFinite(timeout) && timeout > 0 ? Math.max(10, timeout - 45) * 1000 : 150_000;
  const rows: StageRow[] = [];
  const save = (): void => saveStage(args, 'sibling_merge', { precision: 'fp16', iterations: ITERATIONS, warmup: WARMUP, budgetMs, rows });
  for (const { model, size, batch } of ROWS) {
    if (Date.now() - started > budgetMs) {
      rows.push({ model, batch, skipped: `stage budget of ${budgetMs / 1000} s spent` });
      continue;
    }
    try {
      const row = await measureSiblingMerge({ model, size, batch, device: 'cuda', precision: 'fp16', iterations: ITERATIONS, warmup: WARMUP, settleMs: 0, variants: SIBLING_MERGE_VARIANTS.slice(0, 2) });
      rows.push({ model, batch, row });
      log(`${model} b${batch}: ` + row.variants.map((v) => `${v.name} ${v.imagesPerSecond.toFixed(1)} img/s (paired x${v.pairedVsUnmerged.toFixed(3)}, relL2 ${v.relL2VsUnmerged.toExponential(1)})`).join('; '));
    } catch (error) {
      rows.push({ model, batch, error: errorText(error) });
      log(`${model} b${batch}: ERROR ${errorText(error)}`);
    }
    save();
  }
  save();
  if (rows.some((r) => r.error !== undefined)) process.exitCode = 1;
}

/** results.md section. */
export function reportSiblingMerge(stage: unknown): string[] {
  const s = stage as { rows?: StageRow[]; iterations?: number } | null | undefined;
  if (!s?.rows) return [];
  const md = [
    `## Sibling-conv merge on the GPU (fp16, ${s.iterations ?? '?'} interleaved runs per variant; paired = median of unmerged ms / variant ms, > 1: faster)`,
    '',
    ...siblingMergeTable(s.rows.flatMap((r) => (r.row === undefined ? [] : [r.row]))),
    '',
  ];
  for (const r of s.rows) if (r.row === undefined) md.push(`- ${r.model} b${r.batch}: ${r.error ?? r.skipped}`);
  md.push('');
  return md;
}
