/**
 * Session logic against a fake backend (tests/runtime/fake-backend.ts): input validation,
 * queueing, error wrapping, dispose, classify/embed plumbing. The model graph, optimiser and
 * planner are the real ones; only the native Program is replaced. The real CPU backend is
 * exercised in session-cpu.test.ts.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import sharp from 'sharp';
import { createSessionWithBackend, type Session } from '../../src/runtime/session';
import { fakeBackend, type FakeControls } from './fake-backend';
import { defaultCpuThreads } from '../../src/system/cpu-threads';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceError, SafetensorsError, WeightsError, DisposedError, ImageDecodeError, InvalidArgumentError, InvalidInputError, NativeError } from '../../src/errors';

const H = 160;
const IMAGE = 3 * H * H;

function constantInput(n: number, value: number): Float32Array {
  return new Float32Array(n * IMAGE).fill(value);
}

async function expectWorks(session: Session): Promise<void> {
  const out = await session.run(constantInput(1, 0.5), [1, 3, H, H]);
  // The fake's row 0 starts with the sum of the image: 0.5 * 76800 is exact in float32.
  expect(out[0]).toBe(0.5 * IMAGE);
}

describe('Session.run validation (fake backend)', () => {
  let session: Session;
  let controls: FakeControls;
  beforeAll(async () => {
    const fake = fakeBackend();
    controls = fake.controls;
    session = await createSessionWithBackend({ model: 'inception_resnet_v1', weights: 'synthetic', maxBatch: 4, threads: 2 }, fake.backend);
  });

  it('reports info, memory and the synthetic weights notice', () => {
    expect(session.info).toEqual({
      model: 'inception_resnet_v1', device: 'cpu', precision: 'fp32', maxBatch: 4,
      inputShape: [4, 3, 160, 160], outputShape: [4, 512], output: 'embedding', runBatchSizes: null,
    });
    expect(session.weightsSource.kind).toBe('synthetic');
    expect(session.weightsSource.kind === 'synthetic' && session.weightsSource.notice).toMatch(/outputs are meaningless/);
    expect(session.memory.workspaceBytes).toBe(123);
    expect(session.memory.arenaBytes).toBeGreaterThanOrEqual(session.memory.lowerBoundBytes);
    expect(session.memory.naiveBytes).toBeGreaterThan(session.memory.arenaBytes);
    expect(controls.compiled).toEqual({ precision: 'fp32', deviceIndex: undefined, threads: 2, convolution: 'auto', benchmark: true });
  });

  const bad: [string, () => [unknown, unknown], string][] = [
    ['Float64Array', () => [new Float64Array(IMAGE), [1, 3, H, H]], 'Expected a Float32Array for input but received a Float64Array of length 76800; convert it with Float32Array.from(...)'],
    ['plain Array', () => [[1, 2, 3], [1, 3, H, H]], 'Expected a Float32Array for input but received an array of length 3; convert it with Float32Array.from(...)'],
    ['Buffer', () => [Buffer.alloc(8), [1, 3, H, H]], 'Expected a Float32Array for input but received a Buffer of length 8; convert it with Float32Array.from(...)'],
    ['shape not an array', () => [constantInput(1, 0), 'NCHW'], "Expected shape [N,3,160,160] with 1 <= N <= maxBatch=4 but received 'NCHW' of type string"],
    ['shape of rank 3', () => [constantInput(1, 0), [3, H, H]], 'Expected shape [N,3,160,160] with 1 <= N <= maxBatch=4 but received [3,160,160]'],
    ['zero batch', () => [constantInput(1, 0), [0, 3, H, H]], 'Expected shape [N,3,160,160] with 1 <= N <= maxBatch=4 (positive integers) but received [0,3,160,160]'],
    ['wrong size', () => [new Float32Array(3 * 224 * 224), [1, 3, 224, 224]], 'Expected input shape [N,3,160,160] with 1 <= N <= maxBatch=4 but received [1,3,224,224]; resize to 160x160 or create the session with inputSize: [224, 224]'],
    ['wrong channels', () => [constantInput(1, 0), [1, 1, H, H]], 'Expected input shape [N,3,160,160] with 1 <= N <= maxBatch=4 but received [1,1,160,160]'],
    ['batch over maxBatch', () => [constantInput(5, 0), [5, 3, H, H]], 'Batch of 5 exceeds maxBatch=4; split the input or create the session with maxBatch: 5'],
    ['length mismatch', () => [constantInput(1, 0), [2, 3, H, H]], 'Input has 76800 values but shape [2,3,160,160] needs 153600'],
    ['NaN', () => { const x = constantInput(1, 0); x[4321] = NaN; return [x, [1, 3, H, H]]; }, 'Input value at index 4321 is NaN; every value must be finite (check the preprocessing)'],
    ['Infinity', () => { const x = constantInput(2, 0); x[IMAGE + 7] = -Infinity; return [x, [2, 3, H, H]]; }, 'Input value at index 76807 is -Infinity; every value must be finite (check the preprocessing)'],
  ];
  for (const [what, make, message] of bad) {
    it(`rejects ${what} with InvalidInputError before reaching the backend, then still works`, async () => {
      const runsBefore = controls.runs;
      const [input, shape] = make();
      const error = await session.run(input as Float32Array, shape as [number, number, number, number]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).code).toBe('E_INVALID_INPUT');
      expect((error as Error).message).toBe(message);
      expect(controls.runs).toBe(runsBefore);
      await expectWorks(session);
    });
  }

  it('queues concurrent runs: one at a time, each caller gets its own rows', async () => {
    controls.maxActive = 0;
    const batches = [1, 2, 3, 4, 1, 2, 4, 3];
    const results = await Promise.all(batches.map((n, call) => {
      const x = new Float32Array(n * IMAGE);
      for (let i = 0; i < n; i++) x.fill(call + i / 8, i * IMAGE, (i + 1) * IMAGE);
      return session.run(x, [n, 3, H, H]);
    }));
    expect(controls.maxActive).toBe(1);
    results.forEach((out, call) => {
      const n = batches[call];
      expect(out.length).toBe(n * 512);
      // Sums of IMAGE copies of (call + i/8): exact in float32 for these small values (fake sums in float64).
      for (let i = 0; i < n; i++) expect([out[i * 512], out[i * 512 + 1], out[i * 512 + 2]]).toEqual([Math.fround((call + i / 8) * IMAGE), i, n]);
    });
  });

  it('the caller may overwrite its input while the run is queued', async () => {
    controls.delayMs = 20;
    const first = session.run(constantInput(1, 1), [1, 3, H, H]);
    const x = constantInput(1, 2);
    const second = session.run(x, [1, 3, H, H]);
    x.fill(NaN);
    expect((await first)[0]).toBe(IMAGE);
    expect((await second)[0]).toBe(2 * IMAGE);
    controls.delayMs = 5;
  });

  it('wraps a native failure as NativeError with the caller stack; the queue keeps going', async () => {
    controls.failNext = { message: 'primitive creation failed for conv2d_2b', code: 'DNNL_INVALID_ARGUMENTS', step: 'conv2d_2b.conv' };
    const failing = session.run(constantInput(1, 0), [1, 3, H, H]);
    const after = session.run(constantInput(1, 0.25), [1, 3, H, H]);
    const error = await failing.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NativeError);
    expect((error as NativeError).code).toBe('E_NATIVE');
    expect((error as NativeError).nativeCode).toBe('DNNL_INVALID_ARGUMENTS');
    expect((error as NativeError).step).toBe('conv2d_2b.conv');
    expect((error as Error).message).toBe('run failed: primitive creation failed for conv2d_2b');
    expect((error as Error).stack).toContain('session-fake.test.ts');
    expect((await after)[0]).toBe(0.25 * IMAGE);
  });

  it('keeps an already typed backend error as is, with the caller stack', async () => {
    const typed = new NativeError('cudnnConvolutionForward failed: CUDNN_STATUS_EXECUTION_FAILED', 'CUDNN_STATUS_EXECUTION_FAILED', 'mixed_5b');
    typed.stack = 'NativeError: cudnnConvolutionForward failed\n    at <native>'; // as if made on a worker thread
    controls.failNext = typed;
    const error = await session.run(constantInput(1, 0), [1, 3, H, H]).catch((e: unknown) => e);
    expect(error).toBe(typed);
    expect((error as Error).stack).toContain('session-fake.test.ts');
    expect((error as Error).stack).not.toContain('<native>');
    await expectWorks(session);
  });

  it('classify on an embedding model says to use embed', async () => {
    await expect(session.classify([Buffer.alloc(3)])).rejects.toThrow(
      new InvalidArgumentError('classify needs a logits output, but inception_resnet_v1 gives 512-d embeddings; use session.embed(images)'),
    );
    await expectWorks(session);
  });

  it('embed decodes, splits by maxBatch and returns one row per image; bad images are named', async () => {
    const png = (v: number): Promise<Buffer> => sharp({ create: { width: 200, height: 180, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer();
    const images = await Promise.all([0, 50, 100, 150, 200, 250].map(png));
    const runsBefore = controls.runs;
    const rows = await session.embed(images);
    expect(controls.runs - runsBefore).toBe(2); // 4 + 2 images with maxBatch 4
    expect(rows.length).toBe(6);
    rows.forEach((row, i) => {
      expect(row.length).toBe(512);
      // Image i is a solid grey v: every input value is (v - 127.5)/128 up to float32 rounding; sum over 76800 values (relative 1e-5 for float32 accumulation in the fake).
      const v = [0, 50, 100, 150, 200, 250][i];
      expect(row[0]).toBeCloseTo(((v - 127.5) / 128) * IMAGE, -1);
    });
    const withJunk = [...images.slice(0, 5), Buffer.from('not an image')];
    const error = await session.embed(withJunk).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageDecodeError);
    expect((error as Error).message).toMatch(/^cannot decode image 5 of 6: /);
    await expect(session.embed(images, { topK: 3 } as never)).rejects.toThrow("Unknown embed option 'topK'; the options are: maxInputPixels");
    await expectWorks(session);
  });
});

describe('Session lifecycle (fake backend)', () => {
  it('dispose waits for queued runs, then every call rejects with DisposedError', async () => {
    const { backend, controls } = fakeBackend();
    const session = await createSessionWithBackend({ model: 'inception_resnet_v1', weights: 'synthetic', maxBatch: 1 }, backend);
    controls.delayMs = 30;
    const queued = [session.run(constantInput(1, 1), [1, 3, H, H]), session.run(constantInput(1, 2), [1, 3, H, H])];
    const disposed = session.dispose();
    expect(controls.disposed).toBe(false);
    await expect(session.run(constantInput(1, 1), [1, 3, H, H])).rejects.toThrow(DisposedError);
    await expect(session.embed([Buffer.alloc(1)])).rejects.toThrow(DisposedError);
    await expect(session.classify([Buffer.alloc(1)])).rejects.toThrow('this session has been disposed; create a new one with createSession()');
    expect((await queued[0])[0]).toBe(IMAGE);
    expect((await queued[1])[0]).toBe(2 * IMAGE);
    await disposed;
    expect(controls.disposed).toBe(true);
    expect(session.dispose()).toBe(disposed); // idempotent
  });

  it('classify (inception_v4): top-k rows with labels, probabilities sorted; topK validated', async () => {
    const { backend } = fakeBackend();
    const session = await createSessionWithBackend({ model: 'inception_v4', weights: 'synthetic', maxBatch: 2, inputSize: 96 }, backend);
    // Grey 128 (PNG, lossless): every input value is 1/255, so the fake's first logit is 27648/255 ~ 108.4.
    const grey = await sharp({ create: { width: 120, height: 100, channels: 3, background: '#808080' } }).png().toBuffer();
    const result = await session.classify([grey, grey, grey], { topK: 3 });
    expect(result.length).toBe(3);
    for (const top of result) {
      expect(top.length).toBe(3);
      // The fake's row is [sum, i, n, 0...]: the sum (~108.4) wins with probability ~1.
      expect(top[0].index).toBe(0);
      expect(top[0].label).toBe('tench, Tinca tinca');
      expect(top[0].probability).toBeCloseTo(1, 12);
      expect(top[1].probability).toBeGreaterThanOrEqual(top[2].probability);
      // Next comes index 2 (value n = chunk size: 2, 2, then 1), which beats index 1 (value = row in chunk: 0, 1, 0).
      expect(top[1].index).toBe(2);
      expect(top[1].probability).toBeLessThan(1e-9);
    }
    await expect(session.classify([grey], { topK: 0 })).rejects.toThrow('Expected an integer in [1, 1000] for topK but received 0 of type number');
    await expect(session.embed([grey])).rejects.toThrow('embed needs an embedding output, but this inception_v4 session outputs logits; use session.classify(images)');
    await session.dispose();
  });

  it('a cuda session compiles with its run batch sizes and reports them in info', async () => {
    const { backend, controls } = fakeBackend('cuda', [{ index: 0, name: 'Fake GPU' }]);
    const cuda = await createSessionWithBackend({ model: 'inception_resnet_v1', weights: 'synthetic', device: 'cuda', maxBatch: 8, inputSize: 80 }, backend);
    expect(cuda.info.runBatchSizes).toEqual([1, 2, 3, 4, 6, 8]);
    expect(controls.compiled?.batchSizes).toEqual([1, 2, 3, 4, 6, 8]);
    expect(controls.compiled?.benchmark).toBe(true);
    await cuda.dispose();
  });

  it('without threads, a cpu session compiles with the default figure (affinity capped by the cgroup quota) and reports why', async () => {
    const { backend, controls } = fakeBackend();
    const session = await createSessionWithBackend({ model: 'inception_resnet_v1', weights: 'synthetic', maxBatch: 1, inputSize: 80 }, backend);
    const figure = defaultCpuThreads();
    expect(controls.compiled?.threads).toBe(figure.threads);
    expect(session.threads).toMatchObject({ threads: figure.threads, decidedBy: figure.decidedBy, reason: figure.reason });
    expect(controls.compiled).not.toHaveProperty('copyThreads');
    await session.dispose();
  });

  it('a cuda session bounds its staging copy by the same figure (at most 8) and passes no CPU threads', async () => {
    const { backend, controls } = fakeBackend('cuda', [{ index: 0, name: 'Fake GPU' }]);
    const cuda = await createSessionWithBackend({ model: 'inception_resnet_v1', weights: 'synthetic', device: 'cuda', maxBatch: 1, inputSize: 80 }, backend);
    expect(controls.compiled?.copyThreads).toBe(Math.min(8, defaultCpuThreads().threads));
    expect(controls.compiled).not.toHaveProperty('threads');
    await cuda.dispose();
  });

  it('a cpu session passes benchmark (default true) and convolution to compile, and no batch sizes', async () => {
    const { backend, controls } = fakeBackend();
    const timed = await createSessionWithBackend({ model: 'inception_resnet_v1', weights: 'synthetic', maxBatch: 2, inputSize: 80 }, backend);
    expect([controls.compiled?.benchmark, controls.compiled?.convolution, controls.compiled?.batchSizes]).toEqual([true, 'auto', undefined]);
    await timed.dispose();
    const untimed = await createSessionWithBackend({ model: 'inception_resnet_v1', weights: 'synthetic', maxBatch: 2, inputSize: 80, benchmark: false, convolution: 'direct' }, backend);
    expect([controls.compiled?.benchmark, controls.compiled?.convolution]).toEqual([false, 'direct']);
    await untimed.dispose();
  });

  it('consecutive and overlapping runs each see their own input although run() reuses its copies', async () => {
    // Output row 0 holds the sum of image 0's values (fake backend): exact for these small integers.
    const { backend } = fakeBackend();
    const session = await createSessionWithBackend({ model: 'inception_resnet_v1', weights: 'synthetic', maxBatch: 4 }, backend);
    const image = 3 * H * H;
    const filled = (value: number, n: number): Float32Array => new Float32Array(n * image).fill(value);
    expect((await session.run(filled(1, 2), [2, 3, H, H]))[0]).toBe(image);
    expect((await session.run(filled(2, 1), [1, 3, H, H]))[0]).toBe(2 * image);
    const input = filled(3, 4);
    const overlapping = [session.run(input, [4, 3, H, H]), session.run(filled(4, 4), [4, 3, H, H]), session.run(filled(5, 1), [1, 3, H, H])];
    input.fill(7); // the caller reuses its array while the runs wait
    const outs = await Promise.all(overlapping);
    expect(outs.map((o) => o[0])).toEqual([3 * image, 4 * image, 5 * image]);
    expect((await session.run(filled(6, 3), [3, 3, H, H]))[0]).toBe(6 * image);
    await session.dispose();
  });

  it('a cuda device index that does not exist is a DeviceError listing the devices', async () => {
    const { backend } = fakeBackend('cuda', [{ index: 0, name: 'Fake GPU' }]);
    await expect(createSessionWithBackend({ model: 'inception_resnet_v1', weights: 'synthetic', device: 'cuda:3' }, backend)).rejects.toThrow(
      new DeviceError("device 'cuda:3' does not exist: found cuda:0 (Fake GPU)"),
    );
  });
});

/** A minimal safetensors file: 8-byte little-endian header length, JSON header, zero data. */
function safetensors(tensors: Record<string, number[]>, truncateBy = 0): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape] of Object.entries(tensors)) {
    const bytes = 4 * shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, Buffer.alloc(offset - truncateBy)]);
}

describe('checkpoint errors at creation (fake backend)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inception-session-'));
  const create = (weights: string) => createSessionWithBackend({ model: 'inception_resnet_v1', weights }, fakeBackend().backend);

  it('a truncated safetensors file is a SafetensorsError', async () => {
    const path = join(dir, 'truncated.safetensors');
    writeFileSync(path, safetensors({ 'conv2d_1a.conv.weight': [32, 3, 3, 3] }, 100));
    const error = await create(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SafetensorsError);
    expect((error as SafetensorsError).code).toBe('E_SAFETENSORS');
    expect((error as Error).message).toContain(path);
  });

  it('random bytes are a SafetensorsError', async () => {
    const path = join(dir, 'corrupt.safetensors');
    writeFileSync(path, Buffer.from('this is not a safetensors file at all, just some text'));
    await expect(create(path)).rejects.toThrow(SafetensorsError);
  });

  it("another model's checkpoint is a WeightsError that names the model it looks like", async () => {
    const path = join(dir, 'v4.safetensors');
    writeFileSync(path, safetensors({ 'features.0.conv.weight': [32, 3, 3, 3], 'features.21.branch0.conv.weight': [4, 4, 1, 1], 'last_linear.weight': [10, 4] }));
    const error = await create(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WeightsError);
    expect((error as Error).message).toContain('It looks like an inception_v4 checkpoint');
  });

  it('a missing file is a WeightsError', async () => {
    await expect(create(join(dir, 'nope.safetensors'))).rejects.toThrow(WeightsError);
  });
});
