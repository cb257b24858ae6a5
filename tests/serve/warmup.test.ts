/**
 * Warm-up before listening (src/serve/warmup.ts, createServer's `warmup` option), on fake
 * sessions that record the batch sizes they ran (counts are exact; no tolerance).
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors';
import { createServer } from '../../src/serve';
import { WARMUP_RUNS_PER_SIZE, warmRunSizes } from '../../src/serve/warmup';
import { fakeSession } from '../batcher/fake-session';

const repeatEach = (sizes: number[]): number[] => sizes.flatMap((n) => Array<number>(WARMUP_RUNS_PER_SIZE).fill(n));

describe('warmRunSizes', () => {
  it('runs each listed size three times (two eager runs, then the graph capture), sessions one after another', async () => {
    const a = fakeSession({ maxBatch: 4, runBatchSizes: [1, 2, 4] });
    const b = fakeSession({ maxBatch: 2, runBatchSizes: [1, 2], instance: 1 });
    const report = await warmRunSizes([a.session, b.session]);
    expect(a.controls.batches).toEqual(repeatEach([1, 2, 4]));
    expect(b.controls.batches).toEqual(repeatEach([1, 2]));
    expect(report).toMatchObject({ sizes: 5, runs: 5 * WARMUP_RUNS_PER_SIZE });
    expect(a.controls.maxActive).toBe(1);
  });

  it('skips sessions without run sizes (the CPU runs every n exactly)', async () => {
    const cpu = fakeSession({ maxBatch: 4 });
    const report = await warmRunSizes([cpu.session]);
    expect(cpu.controls.batches).toEqual([]);
    expect(report).toMatchObject({ sizes: 0, runs: 0 });
  });

  it('passes a run failure on', async () => {
    const a = fakeSession({ maxBatch: 2, runBatchSizes: [1, 2] });
    a.controls.failNext = new Error('device lost');
    await expect(warmRunSizes([a.session])).rejects.toThrow('device lost');
  });
});

describe('createServer warmup option', () => {
  it('warms before it returns by default, and not with warmup: false', async () => {
    const warm = fakeSession({ maxBatch: 4, runBatchSizes: [1, 2, 4] });
    const server = await createServer({ sessions: [warm.session], port: 0, log: () => undefined });
    expect(server.warmup).toMatchObject({ sizes: 3, runs: 3 * WARMUP_RUNS_PER_SIZE });
    expect(warm.controls.batches).toEqual(repeatEach([1, 2, 4]));
    await server.close();

    const cold = fakeSession({ maxBatch: 4, runBatchSizes: [1, 2, 4] });
    const off = await createServer({ sessions: [cold.session], port: 0, log: () => undefined, warmup: false });
    expect(off.warmup).toMatchObject({ sizes: 0, runs: 0 });
    expect(cold.controls.batches).toEqual([]);
    await off.close();
  });

  it('rejects a non-boolean warmup, and a failed warm-up fails createServer', async () => {
    const fake = fakeSession({ maxBatch: 2, runBatchSizes: [1, 2] });
    await expect(createServer({ sessions: [fake.session], warmup: 'yes' as never })).rejects.toThrow(InvalidArgumentError);
    fake.controls.failNext = new Error('out of memory');
    await expect(createServer({ sessions: [fake.session], port: 0, log: () => undefined })).rejects.toThrow('out of memory');
  });
});
