/** Latency statistics of one benchmark row. */

export interface LatencyStats {
  readonly iterations: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly minMs: number;
  readonly maxMs: number;
}

/** Nearest-rank percentile (p in [0, 100]) of already sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function latencyStats(samplesMs: readonly number[]): LatencyStats {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    iterations: sorted.length,
    meanMs: sorted.length === 0 ? NaN : sum / sorted.length,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    minMs: sorted[0] ?? NaN,
    maxMs: sorted[sorted.length - 1] ?? NaN,
  };
}

/**
 * The median over iterations of theirs[i] / ours[i]: each iteration's two runs are close in time,
 * so a shared machine that turns slow or fast for a while moves both and leaves their ratio
 * (> 1: ours is faster). NaN when the lists are empty or of different lengths.
 */
export function pairedSpeedup(oursMs: readonly number[], theirsMs: readonly number[]): number {
  if (oursMs.length === 0 || oursMs.length !== theirsMs.length) return NaN;
  const ratios = oursMs.map((ms, i) => theirsMs[i]! / ms).sort((a, b) => a - b);
  const mid = ratios.length >> 1;
  return ratios.length % 2 === 1 ? ratios[mid]! : (ratios[mid - 1]! + ratios[mid]!) / 2;
}

/** Images per second at the median latency (robust to a stray slow iteration on a shared machine). */
export function imagesPerSecond(batch: number, stats: LatencyStats): number {
  return (batch * 1000) / stats.p50Ms;
}
