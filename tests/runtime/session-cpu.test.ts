/**
 * The public session on the real oneDNN CPU backend (skipped, with the reason in the title,
 * when inception_cpu.node is not built). inception_resnet_v1 at 160 is the smallest network.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cudaBackendInfo } from '../../src/native/cuda-backend';
import { createSession, type Session } from '../../src/runtime/session';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import { generateInput } from '../../src/weights/synthetic';
import { readNpySync } from '../../src/io/npy';
import { DisposedError, InvalidInputError, BackendUnavailableError, DeviceError } from '../../src/errors';
import { fixturesDir } from '../helpers/fixtures';
import { imagesToTensor } from '../../src/preprocess/image';
import { getModel } from '../../src/models/registry';
import { imagenetLabels } from '../../src/models/labels';
import { topK } from '../../src/runtime/scores';
import { testImage } from '../preprocess/pil-references';

const cpu = cpuBackendInfo();
const skipReason = cpu.available ? '' : ` [SKIPPED: CPU backend not built: ${cpu.reason?.split('\n')[0]}; run npm run build]`;
const IMAGE = 3 * 160 * 160;

/** The float64 reference output of ../shared/fixtures, or null (the test says so in its title). */
const REFERENCE = ((): string | null => {
  const dir = fixturesDir();
  const path = dir === null ? null : join(dir, 'dcfree', 'inception_resnet_v1_2x160_out_f64.npy');
  return path !== null && existsSync(path) ? path : null;
})();
const referenceSkip = REFERENCE === null ? ' [SKIPPED: dcfree/inception_resnet_v1_2x160_out_f64.npy not in the fixtures folder (../shared/fixtures, or set INCEPTION_FIXTURES)]' : '';

function relL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i] - expected[i]) ** 2;
    den += expected[i] ** 2;
  }
  return Math.sqrt(num / den);
}

describe.skipIf(!cpu.available)(`Session on the CPU backend${skipReason}`, () => {
  let session: Session;
  beforeAll(async () => {
    session = await createSession({ model: 'inception_resnet_v1', weights: 'synthetic', maxBatch: 2 });
  });
  afterAll(async () => {
    await session?.dispose();
  });

  it('run gives unit-norm embeddings', async () => {
    const out = await session.run(generateInput(2, 160, 160), [2, 3, 160, 160]);
    expect(out.length).toBe(2 * 512);
    for (const row of [out.subarray(0, 512), out.subarray(512)]) {
      // L2-normalised embeddings: unit norm up to float32 accumulation (1e-4).
      expect(Math.hypot(...row)).toBeCloseTo(1, 4);
    }
  });

  it.skipIf(REFERENCE === null)(`matches the float64 reference on the dcfree fixture input${referenceSkip}`, async () => {
    const out = await session.run(generateInput(2, 160, 160), [2, 3, 160, 160]);
    // Bound from ../shared/fixtures/tolerances.json (dcfree, inception_resnet_v1: rel_l2 1e-3).
    expect(relL2(out, readNpySync(REFERENCE as string).data)).toBeLessThan(1e-3);
  });

  it('rejected calls leave the session usable', async () => {
    const good = generateInput(1, 160, 160);
    const expected = await session.run(good, [1, 3, 160, 160]);
    const nan = good.slice();
    nan[10] = NaN;
    await expect(session.run(nan, [1, 3, 160, 160])).rejects.toThrow(new InvalidInputError('Input value at index 10 is NaN; every value must be finite (check the preprocessing)'));
    await expect(session.run(new Float32Array(3 * IMAGE), [3, 3, 160, 160])).rejects.toThrow('Batch of 3 exceeds maxBatch=2');
    await expect(session.run(Float64Array.from(good) as never, [1, 3, 160, 160])).rejects.toThrow(InvalidInputError);
    await expect(session.run(good, [1, 3, 161, 160])).rejects.toThrow(InvalidInputError);
    // Same input, same batch size, same primitives: bitwise identical.
    expect(await session.run(good, [1, 3, 160, 160])).toEqual(expected);
  });

  it('concurrent runs queue and each resolves with its own rows', async () => {
    const inputs = [0, 1, 2].map((k) => generateInput(1, 160, 160).map((v) => v * (1 + k / 4)));
    const alone: Float32Array[] = [];
    for (const x of inputs) alone.push(await session.run(x, [1, 3, 160, 160]));
    const together = await Promise.all(inputs.map((x) => session.run(x, [1, 3, 160, 160])));
    together.forEach((out, k) => expect(out).toEqual(alone[k]));
    expect(alone[0]).not.toEqual(alone[2]);
  });

  it('the caller may overwrite its input as soon as run() returns (the native module reads the session copy in place)', async () => {
    const x = generateInput(2, 160, 160);
    const expected = await session.run(x.slice(), [2, 3, 160, 160]);
    // Queued behind another run, so the native run starts well after the caller has scribbled on x.
    const first = session.run(x.slice(), [2, 3, 160, 160]);
    const second = session.run(x, [2, 3, 160, 160]);
    x.fill(Number.NaN);
    await first;
    // Bitwise: same input, batch size and primitives.
    expect(await second).toEqual(expected);
  });

  it('a running batch does not stall event-loop timers', async () => {
    const input = generateInput(2, 160, 160);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    // Four queued batches of 2 keep the backend busy for a while (~2.8 GFLOP each).
    const outputs = await Promise.all([0, 1, 2, 3].map(() => session.run(input, [2, 3, 160, 160])));
    const ticksBeforeDone = ticks;
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(outputs.length).toBe(4);
    // If runs blocked the JS thread, no 5 ms tick could fire until they all resolved (0 ticks).
    // Timers are coarse under load, so require only a third of the ideal count, and at least 2.
    expect(ticksBeforeDone).toBeGreaterThanOrEqual(Math.max(2, Math.floor(elapsed / 5 / 3)));
  });

  it('embed on image bytes is session.run on the preprocessed tensor', async () => {
    // Two images with structure (tests/fixtures/preprocess): one reduced, one enlarged to 160.
    const images = [testImage('landscape'), testImage('small')];
    const [a, b] = await session.embed(images);
    const tensor = await imagesToTensor(images, { height: 160, width: 160, preprocessing: getModel('inception_resnet_v1').preprocessing });
    const expected = await session.run(tensor, [2, 3, 160, 160]);
    // Same input, batch size (2) and primitives: bitwise identical.
    expect(a).toEqual(expected.subarray(0, 512));
    expect(b).toEqual(expected.subarray(512));
    expect(a).not.toEqual(b);
  });
});

describe.skipIf(!cpu.available)(`Session creation and disposal on the CPU backend${skipReason}`, () => {
  it('after dispose every call rejects with DisposedError', async () => {
    const s = await createSession({ model: 'inception_resnet_v1', weights: { synthetic: 'plain' }, maxBatch: 1, inputSize: 96 });
    expect(s.info.inputShape).toEqual([1, 3, 96, 96]);
    const x = generateInput(1, 96, 96);
    await s.run(x, [1, 3, 96, 96]);
    await s.dispose();
    await expect(s.run(x, [1, 3, 96, 96])).rejects.toThrow(DisposedError);
    await expect(s.embed([Buffer.alloc(4)])).rejects.toBeInstanceOf(DisposedError);
  });

  it('inception_v4 classify is the top-k of session.run on the preprocessed tensor (synthetic weights, small input)', async () => {
    const s = await createSession({ model: 'inception_v4', weights: 'synthetic', maxBatch: 1, inputSize: 107 });
    try {
      const image = testImage('portrait');
      const [top] = await s.classify([image], { topK: 3 });
      const tensor = await imagesToTensor([image], { height: 107, width: 107, preprocessing: getModel('inception_v4').preprocessing });
      const logits = await s.run(tensor, [1, 3, 107, 107]);
      // Same input, batch size and primitives, so the same logits bit for bit; probabilities and
      // order follow from them exactly (topK has its own tests in queue-scores.test.ts).
      const labels = imagenetLabels();
      expect(top).toEqual(topK(logits, 3, (i) => labels[i]));
      expect(top[0].label).toBe(labels[top[0].index]);
      expect(s.memory.arenaBytes).toBeGreaterThan(0);
      expect(s.memory.arenaBytes).toBeLessThan(s.memory.naiveBytes);
    } finally {
      await s.dispose();
    }
  });
});

describe('Session creation errors without a working device', () => {
  it('cuda without a driver or GPU is BackendUnavailableError or DeviceError, never a crash', async () => {
    const error = await createSession({ model: 'inception_resnet_v1', weights: 'synthetic', device: 'cuda:0' }).catch((e: unknown) => e);
    if (error instanceof Error) {
      expect([BackendUnavailableError, DeviceError].some((c) => error instanceof c)).toBe(true);
      if (!cudaBackendInfo().available) {
        // No GPU here (CI): the message says exactly what is missing and how to get it.
        expect(error).toBeInstanceOf(BackendUnavailableError);
        expect(error.message).toContain('The CUDA backend is unavailable');
        expect(error.message).toMatch(/NVIDIA driver|GPU|cuDNN 9/);
        expect(error.message).toMatch(/install|pip install nvidia-cudnn-cu13|INCEPTION_CUDNN_PATH/);
      }
    } else {
      // A machine with a GPU creates the session: dispose it.
      await (error as Session).dispose();
    }
  });
});
