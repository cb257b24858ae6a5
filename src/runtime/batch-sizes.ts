/**
 * The batch sizes a CUDA session runs at. A run of n images executes at the smallest of these
 * that is >= n (the extra rows compute on stale but finite inputs and are dropped), so a session
 * sets up at most this many batch sizes: each setup times cuDNN's algorithms for every
 * convolution (benchmark: true) and captures a CUDA graph after two eager runs, which cost
 * hundreds of milliseconds. The H200 serve check (1-image requests, dynamic batching, maxBatch 64)
 * met a new batch size in most batches and its p99 reached 660 ms against a 223 ms bound.
 *
 * The sizes are 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (2^k and 3 * 2^(k-1)) up to maxBatch, plus
 * maxBatch itself: at most 1.5x the images of the request are computed (n = 2^k + 1 runs at
 * 3 * 2^(k-1)), and maxBatch 64 has 12 sizes, 256 has 16.
 */
export function runBatchSizes(maxBatch: number): number[] {
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, got ${maxBatch}`);
  const sizes: number[] = [];
  for (let p = 1; p < maxBatch; p *= 2) {
    sizes.push(p);
    if (p >= 2 && p + p / 2 < maxBatch) sizes.push(p + p / 2);
  }
  sizes.push(maxBatch);
  return sizes.sort((a, b) => a - b);
}

/** The size from `sizes` (ascending) that a run of n images executes at. */
export function runBatchSize(sizes: readonly number[], n: number): number {
  for (const size of sizes) if (size >= n) return size;
  throw new RangeError(`batch ${n} is larger than the largest run size ${sizes[sizes.length - 1] ?? 0}`);
}
