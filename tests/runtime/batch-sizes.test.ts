/** runBatchSizes / runBatchSize (src/runtime/batch-sizes.ts): exact integer sets, no tolerance. */
import { describe, expect, it } from 'vitest';
import { runBatchSize, runBatchSizes } from '../../src/runtime/batch-sizes';

describe('runBatchSizes', () => {
  it('lists 2^k and 3 * 2^(k-1) below maxBatch, then maxBatch', () => {
    expect(runBatchSizes(1)).toEqual([1]);
    expect(runBatchSizes(2)).toEqual([1, 2]);
    expect(runBatchSizes(3)).toEqual([1, 2, 3]);
    expect(runBatchSizes(8)).toEqual([1, 2, 3, 4, 6, 8]);
    expect(runBatchSizes(64)).toEqual([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]);
    expect(runBatchSizes(100)).toEqual([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 100]);
    expect(runBatchSizes(256)).toHaveLength(16);
  });

  it('never computes more than 1.5x the images asked for, beyond the smallest sizes', () => {
    for (const maxBatch of [1, 7, 8, 64, 100, 256, 1024]) {
      const sizes = runBatchSizes(maxBatch);
      for (let n = 1; n <= maxBatch; n++) {
        const size = runBatchSize(sizes, n);
        expect(size).toBeGreaterThanOrEqual(n);
        expect(size).toBeLessThanOrEqual(Math.max(n + 1, Math.ceil(1.5 * n)));
      }
    }
  });

  it('rejects a bad maxBatch and a batch beyond the largest size', () => {
    expect(() => runBatchSizes(0)).toThrow(RangeError);
    expect(() => runBatchSizes(2.5)).toThrow(RangeError);
    expect(() => runBatchSize([1, 2, 4], 5)).toThrow(/larger than the largest run size 4/);
  });
});
