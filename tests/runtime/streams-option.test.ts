/** The session option `streams` (src/runtime/options.ts, src/plan/schedule.ts sessionStreams). */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors';
import { resolveOptions } from '../../src/runtime/options';

const base = { model: 'inception_resnet_v1', weights: 'synthetic' } as const;

describe('streams option', () => {
  const saved = process.env.INCEPTION_CUDA_STREAMS;
  afterEach(() => {
    if (saved === undefined) delete process.env.INCEPTION_CUDA_STREAMS;
    else process.env.INCEPTION_CUDA_STREAMS = saved;
  });

  it('defaults to 4 streams up to maxBatch 16 and 1 above (measured: streams pay at small batch only), and accepts 1..4 on cuda', () => {
    delete process.env.INCEPTION_CUDA_STREAMS;
    expect(resolveOptions({ ...base, device: 'cuda', maxBatch: 1 }).streams).toBe(4);
    expect(resolveOptions({ ...base, device: 'cuda', maxBatch: 16 }).streams).toBe(4);
    expect(resolveOptions({ ...base, device: 'cuda', maxBatch: 17 }).streams).toBe(1);
    expect(resolveOptions({ ...base, device: 'cuda', maxBatch: 256 }).streams).toBe(1);
    expect(resolveOptions({ ...base, device: 'cuda', maxBatch: 1, streams: 1 }).streams).toBe(1);
    for (const streams of [1, 2, 3, 4]) expect(resolveOptions({ ...base, device: 'cuda', streams }).streams).toBe(streams);
  });

  it('rejects anything else with InvalidArgumentError', () => {
    delete process.env.INCEPTION_CUDA_STREAMS;
    for (const streams of [0, 5, 2.5, '2', null, -1]) {
      expect(() => resolveOptions({ ...base, device: 'cuda', streams })).toThrow(InvalidArgumentError);
    }
    expect(() => resolveOptions({ ...base, device: 'cuda', streams: 9 })).toThrow(/between 1 and 4 for streams but received 9/);
  });

  it('is CUDA only: 1 is accepted on the CPU, more is an error, the environment is ignored there', () => {
    process.env.INCEPTION_CUDA_STREAMS = '4';
    expect(resolveOptions({ ...base }).streams).toBe(1);
    expect(resolveOptions({ ...base, streams: 1 }).streams).toBe(1);
    expect(() => resolveOptions({ ...base, streams: 2 })).toThrow(/streams applies to device 'cuda' only/);
    expect(() => resolveOptions({ ...base, streams: 7 })).toThrow(InvalidArgumentError);
  });

  it('INCEPTION_CUDA_STREAMS overrides the option on cuda; a bad value is an error, not a guess', () => {
    process.env.INCEPTION_CUDA_STREAMS = '3';
    expect(resolveOptions({ ...base, device: 'cuda', streams: 1 }).streams).toBe(3);
    process.env.INCEPTION_CUDA_STREAMS = '';
    expect(resolveOptions({ ...base, device: 'cuda', streams: 2 }).streams).toBe(2);
    process.env.INCEPTION_CUDA_STREAMS = 'four';
    expect(() => resolveOptions({ ...base, device: 'cuda' })).toThrow(/INCEPTION_CUDA_STREAMS/);
  });
});
