/**
 * The cudaGraphs compile option and its INCEPTION_CUDA_GRAPHS switch, checked on the TypeScript
 * side before native code sees them (no GPU needed). Exact values only: no numeric tolerances.
 */
import { describe, expect, it } from 'vitest';
import { DeviceError, InvalidArgumentError } from '../../src/errors';
import { cudaGraphsEnabled, cudaNativeOptions, cudaOverlapEnabled } from '../../src/native/cuda-backend';

describe('cudaGraphsEnabled', () => {
  it('defaults to true and follows the option when the environment does not say 0', () => {
    expect(cudaGraphsEnabled(undefined, undefined)).toBe(true);
    expect(cudaGraphsEnabled(true, undefined)).toBe(true);
    expect(cudaGraphsEnabled(false, undefined)).toBe(false);
    expect(cudaGraphsEnabled(undefined, '')).toBe(true);
    expect(cudaGraphsEnabled(undefined, '1')).toBe(true);
    // '1' does not override an explicit false: the variable only ever turns graphs off.
    expect(cudaGraphsEnabled(false, '1')).toBe(false);
  });
  it('INCEPTION_CUDA_GRAPHS=0 turns graphs off even when the option asks for them', () => {
    expect(cudaGraphsEnabled(undefined, '0')).toBe(false);
    expect(cudaGraphsEnabled(true, '0')).toBe(false);
  });
  it('rejects a non-boolean option and an unknown environment value instead of guessing', () => {
    expect(() => cudaGraphsEnabled('yes' as never, undefined)).toThrow(InvalidArgumentError);
    expect(() => cudaGraphsEnabled('yes' as never, undefined)).toThrow("Expected a boolean for cudaGraphs but received 'yes' of type string");
    expect(() => cudaGraphsEnabled(undefined, 'false')).toThrow(InvalidArgumentError);
    expect(() => cudaGraphsEnabled(undefined, 'false')).toThrow("received 'false': set INCEPTION_CUDA_GRAPHS=0 to turn CUDA graphs off");
  });
});

describe('cudaNativeOptions', () => {
  it('passes graphs: true by default and the other options unchanged', () => {
    expect(cudaNativeOptions({ precision: 'fp16' }, 1, 8, {})).toEqual({ precision: 'fp16', deviceIndex: 0, benchmark: false, graphs: true });
    expect(cudaNativeOptions({ precision: 'fp32', deviceIndex: 1, benchmark: true, cudaGraphs: false }, 2, 8, {})).toEqual({
      precision: 'fp32',
      deviceIndex: 1,
      benchmark: true,
      graphs: false,
    });
  });
  it('reads INCEPTION_CUDA_GRAPHS from the environment it is given', () => {
    expect(cudaNativeOptions({ precision: 'tf32', cudaGraphs: true }, 1, 8, { INCEPTION_CUDA_GRAPHS: '0' }).graphs).toBe(false);
    expect(() => cudaNativeOptions({ precision: 'tf32' }, 1, 8, { INCEPTION_CUDA_GRAPHS: 'off' })).toThrow(InvalidArgumentError);
  });
  it('still checks precision, device and benchmark', () => {
    expect(() => cudaNativeOptions({ precision: 'int8' as never }, 1, 8, {})).toThrow(InvalidArgumentError);
    expect(() => cudaNativeOptions({ precision: 'fp32', deviceIndex: 1 }, 1, 8, {})).toThrow(DeviceError);
    expect(() => cudaNativeOptions({ precision: 'fp32', benchmark: 1 as never }, 1, 8, {})).toThrow('Expected a boolean for benchmark');
  });
  it('passes copyThreads (the staging copy\'s thread cap, 1..8) through, and rejects anything else', () => {
    expect(cudaNativeOptions({ precision: 'fp16', copyThreads: 1 }, 1, 8, {}).copyThreads).toBe(1);
    expect(cudaNativeOptions({ precision: 'fp16' }, 1, 8, {})).not.toHaveProperty('copyThreads');
    for (const bad of [0, 9, 1.5]) expect(() => cudaNativeOptions({ precision: 'fp16', copyThreads: bad }, 1, 8, {})).toThrow('Expected an integer in [1, 8] for copyThreads');
  });
  it('passes batchSizes through when they ascend within 1..maxBatch and end at it, and rejects anything else', () => {
    expect(cudaNativeOptions({ precision: 'fp16', batchSizes: [1, 2, 3, 4, 6, 8] }, 1, 8, {}).batchSizes).toEqual([1, 2, 3, 4, 6, 8]);
    expect(cudaNativeOptions({ precision: 'fp16', batchSizes: [8] }, 1, 8, {}).batchSizes).toEqual([8]);
    expect('batchSizes' in cudaNativeOptions({ precision: 'fp16' }, 1, 8, {})).toBe(false);
    for (const bad of [[], [1, 2, 4], [2, 1, 8], [1, 1, 8], [0, 8], [1, 2.5, 8], [1, 9], 'all']) {
      expect(() => cudaNativeOptions({ precision: 'fp16', batchSizes: bad as never }, 1, 8, {})).toThrow(/batchSizes/);
    }
  });
});

describe('overlapTransfers and INCEPTION_CUDA_OVERLAP', () => {
  it('is off by default and leaves the native options as before; the option or the variable turns it on', () => {
    expect(cudaOverlapEnabled(undefined, undefined)).toBe(false);
    expect(cudaNativeOptions({ precision: 'fp16' }, 1, 8, {})).not.toHaveProperty('overlapTransfers');
    expect(cudaNativeOptions({ precision: 'fp16', overlapTransfers: true }, 1, 8, {}).overlapTransfers).toBe(true);
    expect(cudaNativeOptions({ precision: 'fp16' }, 1, 8, { INCEPTION_CUDA_OVERLAP: '1' }).overlapTransfers).toBe(true);
  });
  it('the variable wins both ways (an A/B switch); empty means unset', () => {
    expect(cudaOverlapEnabled(true, '0')).toBe(false);
    expect(cudaOverlapEnabled(false, '1')).toBe(true);
    expect(cudaOverlapEnabled(true, '')).toBe(true);
  });
  it('rejects a non-boolean option and an unknown value instead of guessing', () => {
    expect(() => cudaOverlapEnabled('yes' as never, undefined)).toThrow("Expected a boolean for overlapTransfers but received 'yes' of type string");
    expect(() => cudaNativeOptions({ precision: 'fp16' }, 1, 8, { INCEPTION_CUDA_OVERLAP: 'on' })).toThrow(InvalidArgumentError);
    expect(() => cudaNativeOptions({ precision: 'fp16' }, 1, 8, { INCEPTION_CUDA_OVERLAP: 'on' })).toThrow("received 'on': set INCEPTION_CUDA_OVERLAP=1");
  });
});
