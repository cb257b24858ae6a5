/**
 * Program.checksInputValues: a session over a program that checks the values itself (the CUDA
 * backend, which scans while copying into pinned memory) must not scan on the JS thread, and the
 * program's own rejection must still reach the caller as InvalidInputError with the index; a
 * session over a program without the flag keeps the JS scan (nothing reaches the program).
 *
 * The flagged program is the real QueuedProgram (the base of the CPU and CUDA programs, which
 * types native errors) over a native handle written here that rejects like the CUDA addon does:
 * a plain Error with code 'E_INVALID_INPUT' and checkFiniteValues' text. Exact comparisons only
 * (messages, indices, call counts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors';
import { type NativeProgramHandle, QueuedProgram } from '../../src/native/queued-program';
import type { Backend, Program } from '../../src/runtime/backend';
import { createSessionWithBackend, runOwnedInput, type Session } from '../../src/runtime/session';
import type { Plan } from '../../src/plan/types';
import { fakeBackend, nativeNonFiniteError } from './fake-backend';

const SIZE = 80;
const IMAGE = 3 * SIZE * SIZE;
const OPTIONS = { model: 'inception_resnet_v1', weights: 'synthetic', maxBatch: 2, inputSize: SIZE } as const;

/** What the native side saw: every array a run received. */
interface Seen {
  runs: Float32Array[];
}

/** A native handle that checks the values like native/cuda/program.cc CopyFiniteInput, else returns zeros. */
function checkingHandle(plan: Plan, seen: Seen): NativeProgramHandle {
  const out = plan.tensors[plan.output]!;
  const k = out.c * out.h * out.w;
  return {
    workspaceBytes: 0,
    weightBytes: plan.weights.byteLength,
    arenaBytes: plan.arenaBytes,
    dispose: () => undefined,
    run(input: Float32Array, n: number): Promise<Float32Array> {
      seen.runs.push(input);
      const error = nativeNonFiniteError(input);
      return error === null ? Promise.resolve(new Float32Array(n * k)) : Promise.reject(error);
    },
  };
}

class CheckingProgram extends QueuedProgram<NativeProgramHandle> {
  readonly checksInputValues = true;
}

/** fakeBackend's planning with programs whose values check is `flagged` native-side. */
function backendWith(flagged: boolean, seen: Seen): Backend {
  const { backend } = fakeBackend();
  return {
    ...backend,
    async compile(plan): Promise<Program> {
      const handle = checkingHandle(plan, seen);
      return flagged ? new CheckingProgram(handle, plan) : new (class extends QueuedProgram<NativeProgramHandle> {})(handle, plan);
    },
  };
}

function inputWith(n: number, index: number, value: number): Float32Array {
  const input = new Float32Array(n * IMAGE).fill(0.5);
  input[index] = value;
  return input;
}

describe('a program that checks input values itself (checksInputValues: true)', () => {
  const seen: Seen = { runs: [] };
  let session: Session;
  beforeAll(async () => {
    session = await createSessionWithBackend(OPTIONS, backendWith(true, seen));
  });
  afterAll(() => session.dispose());

  it('run() hands a NaN input to the program (no JS scan) and rejects with its InvalidInputError naming the index', async () => {
    seen.runs.length = 0;
    const input = inputWith(2, IMAGE + 7, NaN);
    const result = session.run(input, [2, 3, SIZE, SIZE]);
    await expect(result).rejects.toBeInstanceOf(InvalidInputError);
    await expect(result).rejects.toThrow(`Input value at index ${IMAGE + 7} is NaN; every value must be finite (check the preprocessing)`);
    // The program got the session's private copy, NaN included: the JS thread did not scan it.
    expect(seen.runs.length).toBe(1);
    expect(seen.runs[0]).not.toBe(input);
    expect(Number.isNaN(seen.runs[0]![IMAGE + 7])).toBe(true);
  });

  it('names -Infinity and Infinity like the JS scan, and the next run succeeds', async () => {
    await expect(session.run(inputWith(1, 0, -Infinity), [1, 3, SIZE, SIZE])).rejects.toThrow('Input value at index 0 is -Infinity;');
    await expect(session.run(inputWith(1, IMAGE - 1, Infinity), [1, 3, SIZE, SIZE])).rejects.toThrow(`Input value at index ${IMAGE - 1} is Infinity;`);
    await expect(session.run(inputWith(1, 0, 1), [1, 3, SIZE, SIZE])).resolves.toBeInstanceOf(Float32Array);
  });

  it('runOwnedInput still gives the caller array to the program, which still checks it', async () => {
    seen.runs.length = 0;
    const input = inputWith(1, 3, NaN);
    await expect(runOwnedInput(session, input, [1, 3, SIZE, SIZE])).rejects.toThrow(InvalidInputError);
    expect(seen.runs).toEqual([input]);
    expect(seen.runs[0]).toBe(input);
  });

  it('shape errors are still thrown on the JS thread, before the program sees anything', async () => {
    seen.runs.length = 0;
    await expect(session.run(new Float32Array(IMAGE), [2, 3, SIZE, SIZE])).rejects.toThrow(`Input has ${IMAGE} values but shape [2,3,${SIZE},${SIZE}] needs ${2 * IMAGE}`);
    expect(seen.runs.length).toBe(0);
  });
});

describe('a program without the flag', () => {
  const seen: Seen = { runs: [] };
  let session: Session;
  beforeAll(async () => {
    session = await createSessionWithBackend(OPTIONS, backendWith(false, seen));
  });
  afterAll(() => session.dispose());

  it('run() scans on the JS thread: InvalidInputError naming the index, and the program never runs', async () => {
    seen.runs.length = 0;
    const result = session.run(inputWith(2, IMAGE + 7, NaN), [2, 3, SIZE, SIZE]);
    await expect(result).rejects.toBeInstanceOf(InvalidInputError);
    await expect(result).rejects.toThrow(`Input value at index ${IMAGE + 7} is NaN; every value must be finite (check the preprocessing)`);
    expect(seen.runs.length).toBe(0);
    await expect(session.run(inputWith(1, 0, 1), [1, 3, SIZE, SIZE])).resolves.toBeInstanceOf(Float32Array);
    expect(seen.runs.length).toBe(1);
  });
});

describe('the flag is read once, when the session is made', () => {
  it('reads checksInputValues exactly once over several runs', async () => {
    const seen: Seen = { runs: [] };
    let reads = 0;
    const { backend } = fakeBackend();
    const counting: Backend = {
      ...backend,
      async compile(plan): Promise<Program> {
        const program = new CheckingProgram(checkingHandle(plan, seen), plan);
        return {
          run: (input, n) => program.run(input, n),
          dispose: () => program.dispose(),
          workspaceBytes: program.workspaceBytes,
          weightBytes: program.weightBytes,
          arenaBytes: program.arenaBytes,
          get checksInputValues() {
            reads++;
            return true;
          },
        };
      },
    };
    const session = await createSessionWithBackend(OPTIONS, counting);
    try {
      for (let i = 0; i < 3; i++) await session.run(inputWith(1, 0, 1), [1, 3, SIZE, SIZE]);
      await expect(session.run(inputWith(1, 5, NaN), [1, 3, SIZE, SIZE])).rejects.toThrow('Input value at index 5 is NaN');
      expect(reads).toBe(1);
    } finally {
      await session.dispose();
    }
  });
});
