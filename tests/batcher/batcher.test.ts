/**
 * The batcher's queueing logic on a fake session (see fake-session.ts: row r = [sum of image r,
 * batch size, instance, ...]). Sums of at most 3*4*4*4 small integers are exact in float32,
 * so rows are compared exactly.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { createBatcher } from '../../src/batcher';
import { DisposedError, InvalidArgumentError, InvalidInputError, PlanError, QueueFullError, RequestAbortedError, RequestTimeoutError } from '../../src/errors';
import { fakeSession, imagesFilled } from './fake-session';

const IMAGE = 3 * 4 * 4;
const K = 8;

function sums(rows: Float32Array): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows.length / K; r++) out.push(rows[r * K]);
  return out;
}

describe('createBatcher (fake session)', () => {
  it('N concurrent requests of random sizes each get exactly their own rows, batches never exceed maxBatch', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 25 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 2000 }),
        async (requests, instances, delayUs) => {
          const fakes = Array.from({ length: instances }, (_, i) => fakeSession({ instance: i }));
          fakes.forEach((f) => (f.controls.delayMs = 1));
          const batcher = createBatcher(
            fakes.map((f) => f.session),
            { maxBatch: 4, maxQueueDelayMicroseconds: delayUs },
          );
          const results = await Promise.all(requests.map((values) => batcher.infer(imagesFilled(values))));
          results.forEach((rows, i) => {
            expect(rows.length).toBe(requests[i].length * K);
            expect(sums(rows)).toEqual(requests[i].map((v) => v * IMAGE));
          });
          for (const f of fakes) {
            expect(f.controls.maxActive).toBeLessThanOrEqual(1);
            for (const n of f.controls.batches) expect(n).toBeLessThanOrEqual(4);
          }
          const images = requests.reduce((s, r) => s + r.length, 0);
          expect(batcher.stats).toMatchObject({ accepted: requests.length, succeeded: requests.length, failed: 0, images, queuedRequests: 0 });
          await batcher.close();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('gathers requests until maxBatch or the delay', async () => {
    // A full batch must run without waiting for the queue delay. The delay is made far longer than
    // any scheduling hiccup of a loaded machine (60 s), so "ran before the delay" is a race the
    // batch wins by a minute, not a wall-clock bound of a few milliseconds.
    const fake = fakeSession();
    const batcher = createBatcher(fake.session, { maxQueueDelayMicroseconds: 60_000_000 });
    const full = Promise.all([1, 2, 3, 4].map((v) => batcher.infer(imagesFilled([v]))));
    expect(await Promise.race([full.then(() => 'ran'), new Promise((r) => setTimeout(() => r('waited'), 10_000))])).toBe('ran');
    expect(fake.controls.batches).toEqual([4]);
    await batcher.close();
    // A partial batch waits for the delay (50 ms here; timer granularity: allow 5 ms early). Load
    // only lengthens the wait, so the lower bound holds on any machine.
    const partial = fakeSession();
    const waiting = createBatcher(partial.session, { maxQueueDelayMicroseconds: 50_000 });
    const t = Date.now();
    await Promise.all([waiting.infer(imagesFilled([1])), waiting.infer(imagesFilled([2]))]);
    expect(partial.controls.batches).toEqual([2]);
    expect(Date.now() - t).toBeGreaterThanOrEqual(45);
    await waiting.close();
  });

  it('runs a preferred batch size at once', async () => {
    // Same race as above: the delay is a minute, the preferred batch must not wait for it.
    const fake = fakeSession({ maxBatch: 8 });
    const batcher = createBatcher(fake.session, { maxQueueDelayMicroseconds: 60_000_000, preferredBatchSizes: [2] });
    const pair = Promise.all([batcher.infer(imagesFilled([1])), batcher.infer(imagesFilled([2]))]);
    expect(await Promise.race([pair.then(() => 'ran'), new Promise((r) => setTimeout(() => r('waited'), 10_000))])).toBe('ran');
    expect(fake.controls.batches).toEqual([2]);
    await batcher.close();
  });

  it('rejects with QueueFullError beyond maxQueueSize and answers every accepted request', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    fake.controls.hold = true;
    const batcher = createBatcher(fake.session, { maxQueueSize: 3 });
    const first = batcher.infer(imagesFilled([1])); // runs (held)
    await new Promise((r) => setTimeout(r, 5));
    const queued = [2, 3, 4].map((v) => batcher.infer(imagesFilled([v])));
    await expect(batcher.infer(imagesFilled([5]))).rejects.toBeInstanceOf(QueueFullError);
    expect(batcher.stats).toMatchObject({ queuedRequests: 3, runningBatches: 1, rejectedQueueFull: 1 });
    fake.controls.hold = false;
    fake.releaseAll();
    const rows = await Promise.all([first, ...queued]);
    expect(rows.map((r) => r[0])).toEqual([1, 2, 3, 4].map((v) => v * IMAGE));
  });

  it('times out queued and running requests without disturbing the others', async () => {
    const fake = fakeSession({ maxBatch: 2 });
    fake.controls.delayMs = 60;
    const batcher = createBatcher(fake.session, { maxBatch: 1 });
    const running = batcher.infer(imagesFilled([1]), { timeoutMs: 20 }).catch((e: unknown) => e);
    const queued = batcher.infer(imagesFilled([2]), { timeoutMs: 20 });
    const patient = batcher.infer(imagesFilled([3]));
    await expect(queued).rejects.toBeInstanceOf(RequestTimeoutError);
    expect(batcher.stats.queuedRequests).toBe(1); // the timed-out one left the queue
    const runningError = await running;
    expect(runningError).toBeInstanceOf(RequestTimeoutError);
    expect((runningError as Error).message).toMatch(/batch was still running/);
    expect((await patient)[0]).toBe(3 * IMAGE);
    expect(fake.controls.batches).toEqual([1, 1]); // the timed-out queued request never ran
    expect(batcher.stats).toMatchObject({ timedOut: 2, succeeded: 1 });
  });

  it('aborts: a queued request leaves the queue, a running one is rejected and its rows discarded', async () => {
    const fake = fakeSession({ maxBatch: 1 });
    fake.controls.delayMs = 30;
    const batcher = createBatcher(fake.session);
    const a = new AbortController();
    const b = new AbortController();
    const running = batcher.infer(imagesFilled([1]), { signal: a.signal });
    const queued = batcher.infer(imagesFilled([2]), { signal: b.signal });
    const other = batcher.infer(imagesFilled([3]));
    await new Promise((r) => setTimeout(r, 5));
    b.abort();
    a.abort();
    await expect(queued).rejects.toBeInstanceOf(RequestAbortedError);
    await expect(running).rejects.toThrow(/while its batch ran/);
    expect((await other)[0]).toBe(3 * IMAGE);
    expect(fake.controls.batches).toEqual([1, 1]);
    const pre = new AbortController();
    pre.abort();
    await expect(batcher.infer(imagesFilled([1]), { signal: pre.signal })).rejects.toBeInstanceOf(RequestAbortedError);
  });

  it('aborting the middle of three requests in one running batch: the other two get exactly their own rows', async () => {
    // Requests of 2, 1 and 2 images share one batch; the middle one is aborted while the batch
    // runs. Its row must still be skipped in the output, so the third request gets rows 3-4,
    // not rows 2-3 (which would start with the aborted request's row).
    const fake = fakeSession({ maxBatch: 6 });
    fake.controls.hold = true;
    const batcher = createBatcher(fake.session, { maxQueueDelayMicroseconds: 20_000 });
    const middle = new AbortController();
    const first = batcher.infer(imagesFilled([1, 2]));
    const aborted = batcher.infer(imagesFilled([5]), { signal: middle.signal });
    const third = batcher.infer(imagesFilled([3, 4]));
    while (fake.controls.held.length === 0) await new Promise((r) => setTimeout(r, 1));
    expect(fake.controls.batches).toEqual([5]);
    middle.abort();
    await expect(aborted).rejects.toThrow(/while its batch ran/);
    fake.releaseAll();
    // Exact: sums of 48 small integers are exact in float32.
    expect(sums(await first)).toEqual([1 * IMAGE, 2 * IMAGE]);
    expect(sums(await third)).toEqual([3 * IMAGE, 4 * IMAGE]);
    expect(batcher.stats).toMatchObject({ aborted: 1, succeeded: 2 });
  });

  it('a failing batch rejects its own requests only', async () => {
    const fake = fakeSession({ maxBatch: 2 });
    const batcher = createBatcher(fake.session, { maxQueueDelayMicroseconds: 20_000 });
    fake.controls.failNext = new Error('boom');
    const firstBatch = [batcher.infer(imagesFilled([1])), batcher.infer(imagesFilled([2]))];
    const later = batcher.infer(imagesFilled([3]));
    await expect(firstBatch[0]).rejects.toThrow('boom');
    await expect(firstBatch[1]).rejects.toThrow('boom');
    expect((await later)[0]).toBe(3 * IMAGE);
  });

  it('a session output of the wrong size fails its batch (PlanError) instead of handing out misaligned rows', async () => {
    const fake = fakeSession({ maxBatch: 2 });
    const run = fake.session.run.bind(fake.session);
    let mode: 'short' | 'none' | 'ok' = 'short';
    const session = {
      ...fake.session,
      run: async (input: Float32Array, shape: readonly [number, number, number, number]) => {
        const out = await run(input, shape);
        if (mode === 'short') return out.subarray(0, out.length - 1);
        if (mode === 'none') return undefined as unknown as Float32Array;
        return out;
      },
    };
    const batcher = createBatcher(session, { maxQueueDelayMicroseconds: 20_000 });
    const pair = [batcher.infer(imagesFilled([1])), batcher.infer(imagesFilled([2]))];
    await expect(pair[0]).rejects.toBeInstanceOf(PlanError);
    await expect(pair[1]).rejects.toThrow(/expected 16 float32 values/);
    mode = 'none';
    await expect(batcher.infer(imagesFilled([3]))).rejects.toThrow(/returned undefined/);
    mode = 'ok';
    expect((await batcher.infer(imagesFilled([4])))[0]).toBe(4 * IMAGE);
    expect(batcher.stats).toMatchObject({ failed: 3, succeeded: 1, runningBatches: 0 });
    await batcher.close();
  });

  it('checks each request alone: a NaN, a wrong length, or more images than maxBatch', async () => {
    const fake = fakeSession();
    const batcher = createBatcher(fake.session, { maxBatch: 2, maxQueueDelayMicroseconds: 10_000 });
    const bad = imagesFilled([1]);
    bad[7] = NaN;
    const good = batcher.infer(imagesFilled([5]));
    await expect(batcher.infer(bad)).rejects.toThrow(/index 7 is NaN/);
    await expect(batcher.infer(new Float32Array(IMAGE + 1))).rejects.toBeInstanceOf(InvalidInputError);
    await expect(batcher.infer(imagesFilled([1, 2, 3]))).rejects.toThrow(/split it into requests of at most 2/);
    await expect(batcher.infer([1, 2] as unknown as Float32Array)).rejects.toBeInstanceOf(InvalidInputError);
    expect((await good)[0]).toBe(5 * IMAGE);
    expect(() => createBatcher(fake.session, { maxBatch: 5 })).toThrow(InvalidArgumentError);
    expect(() => createBatcher(fake.session, { maxBatchSize: 2 } as never)).toThrow(/Unknown batcher option 'maxBatchSize'/);
    expect(() => createBatcher([fake.session, fakeSession({ size: 5 }).session])).toThrow(/same model at the same input size/);
  });

  it('close() stops accepting and drains the queue without waiting for the delay', async () => {
    const fake = fakeSession({ maxBatch: 2 });
    const batcher = createBatcher(fake.session, { maxQueueDelayMicroseconds: 10_000_000 });
    const pending = [1, 2, 3].map((v) => batcher.infer(imagesFilled([v])));
    const closing = batcher.close();
    await expect(batcher.infer(imagesFilled([1]))).rejects.toBeInstanceOf(DisposedError);
    await closing;
    expect((await Promise.all(pending)).map((r) => r[0])).toEqual([1, 2, 3].map((v) => v * IMAGE));
    expect(batcher.stats).toMatchObject({ queuedRequests: 0, runningBatches: 0, succeeded: 3 });
  });

  it('reports batches and requests to the observer', async () => {
    const fake = fakeSession();
    const batchSizes: number[] = [];
    const outcomes: string[] = [];
    const batcher = createBatcher(fake.session, {
      observer: {
        batch: (e) => batchSizes.push(e.images),
        request: (e) => {
          outcomes.push(e.outcome);
          expect(e.totalMicroseconds).toBeGreaterThanOrEqual(e.queueMicroseconds);
        },
      },
    });
    await batcher.infer(imagesFilled([1, 2]));
    expect(batchSizes).toEqual([2]);
    expect(outcomes).toEqual(['ok']);
  });
  it('transfer: true reads the caller array once, at dispatch: changing it afterwards (even after a timeout) does not touch the batch', async () => {
    const fake = fakeSession({ maxBatch: 4 });
    fake.controls.hold = true;
    const batcher = createBatcher(fake.session, { maxBatch: 4, maxQueueDelayMicroseconds: 0 });
    const a = imagesFilled([3]);
    const b = imagesFilled([1, 2]);
    const first = batcher.infer(a, { transfer: true });
    await new Promise((r) => setTimeout(r, 5)); // a's batch (alone) is running and held
    const second = batcher.infer(b, { transfer: true, timeoutMs: 5 }).catch((e: unknown) => e);
    const third = batcher.infer(imagesFilled([4]));
    a.fill(100); // a was copied into the batch buffer when its batch formed
    fake.releaseAll();
    expect((await first)[0]).toBe(3 * IMAGE);
    await new Promise((r) => setTimeout(r, 10)); // b, c run as one batch; b times out while it is held
    expect(await second).toBeInstanceOf(RequestTimeoutError);
    b.fill(-100); // the caller may reuse b once its promise settled
    fake.releaseAll();
    expect((await third)[0]).toBe(4 * IMAGE);
    expect(fake.controls.batches).toEqual([1, 3]);
    await batcher.close();
  });

  it('transfer: true gives the same rows and the same per-request NaN error as a copied request; transfer must be a boolean', async () => {
    const fake = fakeSession();
    fake.controls.delayMs = 1;
    const batcher = createBatcher(fake.session, { maxBatch: 4, maxQueueDelayMicroseconds: 2000 });
    const bad = imagesFilled([1, 1]);
    bad[IMAGE + 2] = Infinity;
    const [x, y, z] = await Promise.all([
      batcher.infer(imagesFilled([1, 2]), { transfer: true }),
      batcher.infer(imagesFilled([3]), { transfer: false }),
      batcher.infer(bad, { transfer: true }).catch((e: unknown) => e),
    ]);
    expect(sums(x)).toEqual([IMAGE, 2 * IMAGE]);
    expect(sums(y)).toEqual([3 * IMAGE]);
    expect(z).toBeInstanceOf(InvalidInputError);
    expect((z as Error).message).toBe(`Input value at index ${IMAGE + 2} is Infinity; every value must be finite (check the preprocessing)`);
    await expect(batcher.infer(imagesFilled([1]), { transfer: 'yes' } as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(batcher.infer(imagesFilled([1]), { copy: false } as never)).rejects.toThrow("Unknown infer option 'copy'; the options are: signal, timeoutMs, transfer");
    await batcher.close();
  });

  it('batches assembled one after another in the reused batch buffer each carry only their own requests', async () => {
    const fake = fakeSession({ maxBatch: 4 });
    fake.controls.delayMs = 1;
    const batcher = createBatcher(fake.session, { maxBatch: 4, maxQueueDelayMicroseconds: 1000 });
    for (const round of [[1, 2, 3, 4], [5, 6], [7], [8, 9, 10]]) {
      const rows = await Promise.all(round.map((v) => batcher.infer(imagesFilled([v]), { transfer: true })));
      expect(rows.map((r) => r[0])).toEqual(round.map((v) => v * IMAGE));
      expect(rows.map((r) => r[1])).toEqual(round.map(() => round.length));
    }
    await batcher.close();
  });
});
