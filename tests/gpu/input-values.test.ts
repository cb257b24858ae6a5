/**
 * The CUDA backend checks input values itself (native/cuda/program.cc CopyFiniteInput, fused with
 * the parallel copy into pinned memory), so a CUDA session does not scan on the JS thread
 * (Program.checksInputValues). Checked here on inception_resnet_v1 plain 160x160 fp32:
 * - a NaN / Infinity / -Infinity input rejects with InvalidInputError and exactly the text of the
 *   JS scan (src/runtime/input.ts checkFiniteValues), naming the index in the whole batch;
 * - nothing is left half-done: the next run succeeds and equals the same run before the failure
 *   bitwise (same program, same batch size, same eager kernels, so no tolerance is needed), also
 *   when the bad value sat in the row a smaller batch later computes as padding (run size 6 for
 *   n = 5: the rejected run's staging values from the bad one on are zeroed, so the padding stays
 *   finite) and all returned values are finite.
 * Also: an idle session.run copies its input before returning (Program.runCopyingNow, native
 * Program::Stage), so the caller may overwrite its array at once.
 * Needs no fixtures (synthetic weights, generated input); skips without a CUDA device.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors';
import { getModel } from '../../src/models/registry';
import { cudaBackendInfo, loadCudaBackend } from '../../src/native/cuda-backend';
import { optimize } from '../../src/optimize/index';
import { lowerToPlan } from '../../src/plan/lower';
import { createSession, type Session } from '../../src/runtime/session';
import { generateInput, syntheticWeights } from '../../src/weights/synthetic';

const info = cudaBackendInfo();
const skip = !info.available;
const reason = skip ? ` (skipped: no CUDA device: ${(info.reason ?? '').replace(/\n/g, ' ')})` : '';
if (skip) console.warn(`[skip] tests/gpu/input-values${reason}`);

const MODEL = 'inception_resnet_v1' as const;
const SIZE = 160;
const IMAGE = 3 * SIZE * SIZE;
const MAX_BATCH = 6; // run sizes 1, 2, 3, 4, 6: a batch of 5 runs at 6

function message(index: number, value: string): string {
  return `Input value at index ${index} is ${value}; every value must be finite (check the preprocessing)`;
}

function withValue(input: Float32Array, index: number, value: number): Float32Array {
  const copy = input.slice();
  copy[index] = value;
  return copy;
}

async function expectRejected(result: Promise<unknown>, text: string): Promise<void> {
  await expect(result).rejects.toBeInstanceOf(InvalidInputError);
  await expect(result).rejects.toThrow(text);
}

describe.skipIf(skip)(`CUDA input value check${reason}`, () => {
  let session: Session;
  beforeAll(async () => {
    session = await createSession({ model: MODEL, weights: 'synthetic', device: 'cuda:0', precision: 'fp32', maxBatch: MAX_BATCH, inputSize: SIZE });
  }, 120_000);
  afterAll(() => session?.dispose());

  it('NaN in the padding row of a later batch: rejected naming the index, then the batch of 5 runs bitwise as before', async () => {
    const six = generateInput(MAX_BATCH, SIZE, SIZE);
    const five = six.slice(0, 5 * IMAGE);
    const before = await session.run(five, [5, 3, SIZE, SIZE]);
    const bad = 5 * IMAGE + 11;
    await expectRejected(session.run(withValue(six, bad, NaN), [MAX_BATCH, 3, SIZE, SIZE]), message(bad, 'NaN'));
    const after = await session.run(five, [5, 3, SIZE, SIZE]);
    expect(after.every(Number.isFinite)).toBe(true);
    expect(after).toEqual(before);
  });

  it('Infinity at index 0 and -Infinity at the last index of a batch of 2, then a run succeeds', async () => {
    const two = generateInput(2, SIZE, SIZE);
    await expectRejected(session.run(withValue(two, 0, Infinity), [2, 3, SIZE, SIZE]), message(0, 'Infinity'));
    await expectRejected(session.run(withValue(two, 2 * IMAGE - 1, -Infinity), [2, 3, SIZE, SIZE]), message(2 * IMAGE - 1, '-Infinity'));
    const out = await session.run(two, [2, 3, SIZE, SIZE]);
    expect(out.length).toBe(2 * session.info.outputShape[1]);
    expect(out.every(Number.isFinite)).toBe(true);
  });

  it('an idle run copies its input before run() returns (Program::Stage): overwriting the array at once changes nothing, and the queued (private-copy) path gives the same rows', async () => {
    // Same program, batch size and kernels in every run: bitwise equality, no tolerance.
    const three = generateInput(3, SIZE, SIZE);
    const reference = await session.run(three.slice(), [3, 3, SIZE, SIZE]);
    const reused = three.slice();
    const staged = session.run(reused, [3, 3, SIZE, SIZE]); // the queue is idle: staged now
    reused.fill(Number.NaN); // would be rejected, or change the rows, if it were read later
    expect(await staged).toEqual(reference);
    // Two at once: the first is staged, the second waits with a private copy and runs through run().
    const a = session.run(three, [3, 3, SIZE, SIZE]);
    const second = three.slice();
    const b = session.run(second, [3, 3, SIZE, SIZE]);
    second.fill(Number.NaN);
    expect(await a).toEqual(reference);
    expect(await b).toEqual(reference);
  });

  it('the compiled program says it checks values, and its own run() rejects a NaN with InvalidInputError', async () => {
    const backend = loadCudaBackend();
    const optimised = optimize(getModel(MODEL).build({ batch: 1, height: SIZE, width: SIZE }), syntheticWeights(getModel(MODEL), 'plain'));
    const { plan } = lowerToPlan(optimised.graph, optimised.weights, backend.layoutPolicy('fp32'));
    const program = await backend.compile(plan, { precision: 'fp32' });
    try {
      expect(program.checksInputValues).toBe(true);
      const input = generateInput(1, SIZE, SIZE);
      await expectRejected(program.run(withValue(input, 1234, NaN), 1), message(1234, 'NaN'));
      await expect(program.run(input, 1)).resolves.toBeInstanceOf(Float32Array);
    } finally {
      program.dispose();
    }
  });
});
