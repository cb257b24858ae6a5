/**
 * Program.runCopyingNow (the CUDA backend's Program::Stage + RunStaged): when nothing is queued,
 * Session.run hands the caller's array to the program, which copies it before returning, so no
 * private copy is made and the caller may reuse its array at once; when a run is pending, or the
 * native side says it is busy (null), Session.run falls back to run() on a private copy.
 *
 * The program is the real QueuedProgram (the base of both backends' programs) over a native handle
 * written here that behaves like the CUDA addon: runNow copies synchronously into its own staging
 * array and resolves when the test says so; its rows' first value is the first value of the image
 * it ran, so a test can tell which values a run used. Exact comparisons only.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors';
import { type NativeProgramHandle, QueuedProgram } from '../../src/native/queued-program';
import type { Backend, Program } from '../../src/runtime/backend';
import { createSessionWithBackend, type Session } from '../../src/runtime/session';
import type { Plan } from '../../src/plan/types';
import { fakeBackend, nativeNonFiniteError } from './fake-backend';

const SIZE = 80;
const IMAGE = 3 * SIZE * SIZE;
const OPTIONS = { model: 'inception_resnet_v1', weights: 'synthetic', maxBatch: 2, inputSize: SIZE } as const;

interface StagingHandle extends NativeProgramHandle {
  runNow(input: Float32Array, n: number): Promise<Float32Array> | null;
}

/** What the native side did, in order, and the knobs a test turns. */
interface Native {
  calls: string[];
  /** Arrays run() received (runNow's are copied, so they are not kept). */
  runInputs: Float32Array[];
  /** runNow answers null (busy) while this is true. */
  busy: boolean;
  /** Resolvers of the runs still in flight, oldest first. */
  inFlight: Array<() => void>;
}

function stagingHandle(plan: Plan, native: Native): StagingHandle {
  const out = plan.tensors[plan.output]!;
  const k = out.c * out.h * out.w;
  // One output row per image whose first value is the image's first input value.
  const rowsOf = (values: Float32Array, n: number): Float32Array => {
    const rows = new Float32Array(n * k);
    for (let i = 0; i < n; i++) rows[i * k] = values[i * IMAGE]!;
    return rows;
  };
  const later = (values: Float32Array, n: number): Promise<Float32Array> =>
    new Promise((resolve, reject) => {
      native.inFlight.push(() => {
        const error = nativeNonFiniteError(values);
        if (error === null) resolve(rowsOf(values, n));
        else reject(error);
      });
    });
  return {
    workspaceBytes: 0,
    weightBytes: plan.weights.byteLength,
    arenaBytes: plan.arenaBytes,
    dispose: () => undefined,
    run(input: Float32Array, n: number): Promise<Float32Array> {
      native.calls.push(`run ${n}`);
      native.runInputs.push(input);
      return later(input, n);
    },
    runNow(input: Float32Array, n: number): Promise<Float32Array> | null {
      if (native.busy) {
        native.calls.push(`runNow ${n}: busy`);
        return null;
      }
      native.calls.push(`runNow ${n}`);
      return later(input.slice(0, n * IMAGE), n);
    },
  };
}

class StagingProgram extends QueuedProgram<StagingHandle> {
  readonly checksInputValues = true; // as the CUDA program: the values reach the native side
  runCopyingNow(input: Float32Array, n: number): Promise<Float32Array> | undefined {
    return this.startIfIdle('run', input, n, () => this.native.runNow(input, n));
  }
}

function backendWith(native: Native): { backend: Backend; programs: StagingProgram[] } {
  const { backend } = fakeBackend();
  const programs: StagingProgram[] = [];
  return {
    programs,
    backend: {
      ...backend,
      async compile(plan): Promise<Program> {
        const program = new StagingProgram(stagingHandle(plan, native), plan);
        programs.push(program);
        return program;
      },
    },
  };
}

/** Lets the queued promise callbacks run, then finishes the oldest run in flight. */
async function finishOldest(native: Native): Promise<void> {
  for (let i = 0; i < 5 && native.inFlight.length === 0; i++) await Promise.resolve();
  const finish = native.inFlight.shift();
  if (finish === undefined) throw new Error('no run in flight');
  finish();
}

const image = (first: number, n = 1): Float32Array => {
  const values = new Float32Array(n * IMAGE).fill(0.25);
  for (let i = 0; i < n; i++) values[i * IMAGE] = first + i;
  return values;
};

describe('Session.run over a program with runCopyingNow', () => {
  let native: Native;
  let session: Session;
  let programs: StagingProgram[];

  beforeEach(async () => {
    native = { calls: [], runInputs: [], busy: false, inFlight: [] };
    const made = backendWith(native);
    programs = made.programs;
    session = await createSessionWithBackend(OPTIONS, made.backend);
    native.calls.length = 0;
  });
  afterEach(async () => {
    while (native.inFlight.length > 0) native.inFlight.shift()!();
    await session.dispose();
  });

  it('copies an idle run before run() returns: the caller may overwrite its array at once, and no private copy reaches run()', async () => {
    const input = image(7, 2);
    const result = session.run(input, [2, 3, SIZE, SIZE]);
    expect(native.calls).toEqual(['runNow 2']); // synchronously, inside session.run
    input.fill(-1); // the caller reuses its array while the run is in flight
    await finishOldest(native);
    const rows = await result;
    const k = rows.length / 2;
    expect([rows[0], rows[k]]).toEqual([7, 8]);
    expect(native.runInputs).toEqual([]);
  });

  it('falls back to run() on a private copy while a run is pending, in call order', async () => {
    const first = session.run(image(1), [1, 3, SIZE, SIZE]);
    const secondInput = image(2);
    const second = session.run(secondInput, [1, 3, SIZE, SIZE]);
    secondInput.fill(-1); // the private copy keeps the values run() was called with
    expect(native.calls).toEqual(['runNow 1']);
    await finishOldest(native);
    expect((await first)[0]).toBe(1);
    await finishOldest(native);
    expect((await second)[0]).toBe(2);
    expect(native.calls).toEqual(['runNow 1', 'run 1']);
    expect(native.runInputs[0]).not.toBe(secondInput);
  });

  it('falls back to run() when the native side is busy (runNow answers null)', async () => {
    native.busy = true;
    const input = image(3);
    const result = session.run(input, [1, 3, SIZE, SIZE]);
    input.fill(-1);
    await finishOldest(native);
    expect((await result)[0]).toBe(3);
    expect(native.calls).toEqual(['runNow 1: busy', 'run 1']);
  });

  it("types the program's rejection of a NaN as InvalidInputError naming the index, and the next run is unaffected", async () => {
    const bad = image(4);
    bad[IMAGE - 1] = Number.NaN;
    const rejected = session.run(bad, [1, 3, SIZE, SIZE]);
    await finishOldest(native);
    const error = await rejected.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toBe(`Input value at index ${IMAGE - 1} is NaN; every value must be finite (check the preprocessing)`);
    const next = session.run(image(5), [1, 3, SIZE, SIZE]);
    await finishOldest(native);
    expect((await next)[0]).toBe(5);
    expect(native.calls).toEqual(['runNow 1', 'runNow 1']);
  });
});

describe('QueuedProgram.startIfIdle', () => {
  it('starts only when nothing of the program is pending, and a later run() waits for the started call', async () => {
    const native: Native = { calls: [], runInputs: [], busy: false, inFlight: [] };
    const { backend, programs } = backendWith(native);
    const session = await createSessionWithBackend(OPTIONS, backend);
    native.calls.length = 0;
    const program = programs[0]!;
    const started = program.runCopyingNow(image(1), 1);
    expect(started).toBeInstanceOf(Promise);
    expect(program.runCopyingNow(image(9), 1)).toBeUndefined(); // pending: not started, nothing called
    const queued = program.run(image(2), 1);
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(native.calls).toEqual(['runNow 1']); // run() waits for the started call to settle
    await finishOldest(native);
    expect((await started!)[0]).toBe(1);
    await finishOldest(native);
    expect((await queued)[0]).toBe(2);
    expect(native.calls).toEqual(['runNow 1', 'run 1']);
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(program.runCopyingNow(image(3), 1)).toBeInstanceOf(Promise); // idle again
    await finishOldest(native);
    await session.dispose();
  });

  it('rejects a wrong batch before calling the native side', async () => {
    const native: Native = { calls: [], runInputs: [], busy: false, inFlight: [] };
    const { backend, programs } = backendWith(native);
    const session = await createSessionWithBackend(OPTIONS, backend);
    native.calls.length = 0;
    await expect(programs[0]!.runCopyingNow(new Float32Array(5), 1)!).rejects.toBeInstanceOf(InvalidInputError);
    expect(native.calls).toEqual([]);
    await session.dispose();
  });
});
