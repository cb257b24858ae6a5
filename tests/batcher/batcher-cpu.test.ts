/**
 * The batcher on the real oneDNN CPU backend (skipped, with the reason in the title, when the
 * module is not built): inception_resnet_v1 (synthetic weights) at 80x80, maxBatch 4, two
 * instances. Concurrent requests of random sizes must get their own rows, compared with a
 * separate per-request session.run. Tolerance 1e-5 absolute: a row computed inside a batch of
 * another size may use a different oneDNN kernel blocking and so round differently, while the
 * outputs are unit-norm 512-d embeddings (entries around 0.04), so 1e-5 is still far below
 * anything a wrong or shifted row would give (rows of different random images differ by ~1e-2).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import { createBatcher } from '../../src/batcher';
import { createSession, type Session } from '../../src/runtime/session';
import { cpuBackendInfo } from '../../src/native/cpu-backend';

const cpu = cpuBackendInfo();
const skipReason = cpu.available ? '' : ` [SKIPPED: CPU backend not built: ${cpu.reason?.split('\n')[0]}; run npm run build]`;
const SIZE = 80;
const IMAGE = 3 * SIZE * SIZE;

describe.skipIf(!cpu.available)(`createBatcher on the CPU backend${skipReason}`, () => {
  let instances: Session[];
  let reference: Session;
  beforeAll(async () => {
    const options = { model: 'inception_resnet_v1', weights: 'synthetic', maxBatch: 4, inputSize: SIZE, threads: 1 } as const;
    instances = [await createSession(options), await createSession(options)];
    reference = await createSession(options);
  });
  afterAll(async () => {
    await Promise.all([...(instances ?? []), reference].filter(Boolean).map((s) => s.dispose()));
  });

  it('N concurrent requests of random sizes each get exactly their own rows (vs per-request session.run)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 1e6 })), { minLength: 2, maxLength: 8 }), async (requests) => {
        const batcher = createBatcher(instances, { maxQueueDelayMicroseconds: 3000 });
        const inputs = requests.map(([k, seed]) => {
          const x = new Float32Array(k * IMAGE);
          let s = seed;
          for (let i = 0; i < x.length; i++) {
            s = (s * 1103515245 + 12345) % 2147483648;
            x[i] = s / 2147483648 - 0.5;
          }
          return x;
        });
        const served = await Promise.all(inputs.map((x) => batcher.infer(x)));
        for (let r = 0; r < inputs.length; r++) {
          const k = requests[r][0];
          const expected = await reference.run(inputs[r], [k, 3, SIZE, SIZE]);
          expect(served[r].length).toBe(k * 512);
          let max = 0;
          for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(served[r][i] - expected[i]));
          expect(max).toBeLessThan(1e-5);
        }
        expect(batcher.stats.batches).toBeLessThanOrEqual(requests.length);
        await batcher.close();
      }),
      { numRuns: 6 },
    );
  });
});
