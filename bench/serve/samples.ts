/** What the serve benchmarks share: their input values and their percentile rule. */

/** Index-floor percentile (p in [0, 100]) of already sorted values: the rule of every serve result so far. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** `values` deterministic pseudo-random floats in [-0.5, 0.5) (a linear congruential sequence), the same every run. */
export function randomInput(values: number): Float32Array {
  const x = new Float32Array(values);
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    x[i] = s / 2147483648 - 0.5;
  }
  return x;
}
