/**
 * The sibling-conv merge A/B (issue 18 item 1), one network and batch: sessions without the merge,
 * with it (branch heads), and with it including concat pieces, in this one process, runs
 * interleaved (the order rotated every iteration) after a warm-up of each, `settleMs` idle before
 * every timed run. Images/s at the median latency, and the paired ratio: the median over
 * iterations of unmerged ms / variant ms in the same iteration (> 1: the variant is faster).
 * Used by bench/cpu/sibling-merge.ts (CPU, or --device cuda with Node on the GPU machine) and by
 * the GPU check's sibling_merge stage (bench/gpu/stage-sibling-merge.ts).
 *
 * The variants are chosen through INCEPTION_MERGE_SIBLING_CONVS (src/optimize/sibling-merge-switch.ts),
 * read when each session is created; the variable is restored afterwards.
 */
import type { ModelName } from '../models/types';
import type { DeviceName } from '../runtime/options';
import type { Precision } from '../runtime/backend';
import { createSession, type Session } from '../runtime/session';
import { generateInput } from '../weights/synthetic';
import { imagesPerSecond, latencyStats, pairedSpeedup } from './stats';

export const SIBLING_MERGE_VARIANTS = [
  { name: 'unmerged', env: '0' },
  { name: 'merged heads', env: '1' },
  { name: 'merged heads + concat pieces', env: 'pieces' },
] as const;

export interface SiblingMergeVariantResult {
  name: string;
  imagesPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  pairedVsUnmerged: number;
  relL2VsUnmerged: number;
  arenaBytes: number;
}

export interface SiblingMergeRow {
  model: string;
  size: number;
  batch: number;
  variants: SiblingMergeVariantResult[];
}

export interface SiblingMergeOptions {
  readonly model: ModelName;
  readonly size: number;
  readonly batch: number;
  readonly device: DeviceName;
  readonly precision: Precision;
  readonly iterations: number;
  readonly warmup: number;
  /** Idle milliseconds before every timed run (CPU: 50, so no session's spinning threads slow the next). */
  readonly settleMs: number;
  /** Which variants (default all three, unmerged first: it is the reference). */
  readonly variants?: readonly (typeof SIBLING_MERGE_VARIANTS)[number][];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function relativeL2(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d / n);
}

async function openVariant(options: SiblingMergeOptions, env: string): Promise<Session> {
  const previous = process.env.INCEPTION_MERGE_SIBLING_CONVS;
  process.env.INCEPTION_MERGE_SIBLING_CONVS = env;
  try {
    return await createSession({ model: options.model, weights: { synthetic: 'plain' }, device: options.device, precision: options.precision, maxBatch: options.batch, inputSize: options.size });
  } finally {
    if (previous === undefined) delete process.env.INCEPTION_MERGE_SIBLING_CONVS;
    else process.env.INCEPTION_MERGE_SIBLING_CONVS = previous;
  }
}

/** One network and batch, every variant, interleaved; sessions disposed before it returns. */
export async function measureSiblingMerge(options: SiblingMergeOptions): Promise<SiblingMergeRow> {
  const variants = options.variants ?? SIBLING_MERGE_VARIANTS;
  if (variants[0]?.env !== '0') throw new Error('the first sibling-merge variant must be the unmerged reference');
  const sessions: Session[] = [];
  try {
    for (const v of variants) sessions.push(await openVariant(options, v.env));
    const { batch, size } = options;
    const input = generateInput(batch, size, size);
    const shape = [batch, 3, size, size] as const;
    const outputs: Float32Array[] = [];
    for (const s of sessions) {
      outputs.push(await s.run(input, shape));
      for (let i = 1; i < options.warmup; i++) await s.run(input, shape);
    }
    const times: number[][] = sessions.map(() => []);
    for (let it = 0; it < options.iterations; it++) {
      for (let k = 0; k < sessions.length; k++) {
        const j = (k + it) % sessions.length;
        if (options.settleMs > 0) await sleep(options.settleMs);
        const t0 = process.hrtime.bigint();
        await sessions[j]!.run(input, shape);
        times[j]!.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }
    return {
      model: options.model,
      size,
      batch,
      variants: variants.map((v, j) => {
        const stats = latencyStats(times[j]!);
        return {
          name: v.name,
          imagesPerSecond: imagesPerSecond(batch, stats),
          p50Ms: stats.p50Ms,
          p90Ms: stats.p90Ms,
          pairedVsUnmerged: pairedSpeedup(times[j]!, times[0]!),
          relL2VsUnmerged: relativeL2(outputs[j]!, outputs[0]!),
          arenaBytes: sessions[j]!.memory.arenaBytes,
        };
      }),
    };
  } finally {
    for (const s of sessions) await s.dispose();
  }
}

/** The result table's header and rows (Markdown). */
export function siblingMergeTable(rows: readonly SiblingMergeRow[]): string[] {
  return [
    '| model | input | batch | variant | img/s | p50 / p90 ms | paired vs unmerged | relL2 vs unmerged | arena MiB |',
    '|---|---|---|---|---:|---:|---:|---:|---:|',
    ...rows.flatMap((r) =>
      r.variants.map((v) => `| ${r.model} | ${r.size} | ${r.batch} | ${v.name} | ${v.imagesPerSecond.toFixed(2)} | ${v.p50Ms.toFixed(1)} / ${v.p90Ms.toFixed(1)} | ${v.pairedVsUnmerged.toFixed(3)} | ${v.relL2VsUnmerged.toExponential(1)} | ${(v.arenaBytes / 2 ** 20).toFixed(1)} |`),
    ),
  ];
}
