/**
 * Warm-up before listening (src/serve/warmup.ts, createServer's `warmup` option), on fake
 * sessions that record the batch sizes they ran (counts are exact; no tolerance).
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors';
import type { Session } from '../../src/runtime/session';
import { createServer } from '../../src/serve';
import { CPU_WARMUP_RUNS_PER_SIZE, WARMUP_RUNS_PER_SIZE, warmRunSizes } from '../../src/serve/warmup';
import { fakeSession, imagesFilled } from '../batcher/fake-session';
import { jsonInfer, request, startServer } from './helpers';

const repeatEach = (sizes: number[]): number[] => sizes.flatMap((n) => Array<number>(WARMUP_RUNS_PER_SIZE).fill(n));

describe('warmRunSizes', () => {
  it('runs each listed size three times (two eager runs, then the graph capture), sessions one after another', async () => {
    const a = fakeSession({ maxBatch: 4, runBatchSizes: [1, 2, 4] });
    const b = fakeSession({ maxBatch: 2, runBatchSizes: [1, 2], instance: 1 });
    const report = await warmRunSizes([a.session, b.session], 4);
    expect(a.controls.batches).toEqual(repeatEach([1, 2, 4]));
    expect(b.controls.batches).toEqual(repeatEach([1, 2]));
    expect(report).toMatchObject({ sizes: 5, runs: 5 * WARMUP_RUNS_PER_SIZE });
    expect(a.controls.maxActive).toBe(1);
  });

  it('runs a session without run sizes (the CPU, which runs every n exactly) once at every size up to the batcher maxBatch', async () => {
    const cpu = fakeSession({ maxBatch: 8 });
    const report = await warmRunSizes([cpu.session], 5);
    expect(CPU_WARMUP_RUNS_PER_SIZE).toBe(1);
    expect(cpu.controls.batches).toEqual([1, 2, 3, 4, 5]);
    expect(report).toMatchObject({ sizes: 5, runs: 5 });
  });

  it('passes a run failure on', async () => {
    const a = fakeSession({ maxBatch: 2, runBatchSizes: [1, 2] });
    a.controls.failNext = new Error('device lost');
    await expect(warmRunSizes([a.session], 2)).rejects.toThrow('device lost');
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

/**
 * A CPU-like session whose first run at each batch size pays `setupMs` (oneDNN creating that
 * size's primitives: 0.3-0.6 s for IR-v1 at 80 and 160 on the 2-core build machine) and later
 * runs `runMs`.
 */
function setupPerSize(session: Session, setupMs: number, runMs: number): Session {
  const seen = new Set<number>();
  return {
    ...session,
    async run(input, shape) {
      const first = !seen.has(shape[0]);
      seen.add(shape[0]);
      await new Promise((resolve) => setTimeout(resolve, first ? setupMs : runMs));
      return session.run(input, shape);
    },
  };
}

describe('a CPU server warms its batch sizes before it listens', () => {
  it('the first requests of each size after listen answer within a request timeout shorter than one size set-up', async () => {
    const fake = fakeSession({ maxBatch: 4 });
    fake.controls.delayMs = 1;
    // Set-up 400 ms per size, request timeout 300 ms: without the warm-up the first request of a size gets 504.
    const { server, url } = await startServer({ sessions: [setupPerSize(fake.session, 400, 1)], requestTimeoutMs: 300, warmup: true });
    try {
      expect(server.warmup).toMatchObject({ sizes: 4, runs: 4 });
      const infer = `${url}/v2/models/inception_v4/infer`;
      for (const n of [1, 2, 3, 4]) {
        const values = Array.from({ length: n }, (_, i) => i + 1);
        const reply = await request(infer, { method: 'POST', body: jsonInfer(imagesFilled(values), [n, 3, 4, 4]) });
        expect([n, reply.status]).toEqual([n, 200]);
      }
    } finally {
      await server.close();
    }
  });
});
