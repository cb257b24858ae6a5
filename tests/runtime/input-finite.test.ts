/**
 * The input checks shared by session.run and the batcher: firstNonFinite (the branch-free scan
 * must find exactly what Number.isFinite finds, at every position, tail included), the
 * shape-only mode of checkRunInput, and runOwnedInput (the session runs the caller's array
 * itself, with no private copy and no value scan). Exact comparisons: indices and identities.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import { InvalidInputError } from '../../src/errors';
import { checkFiniteValues, checkRunInput, firstNonFinite } from '../../src/runtime/input';
import type { Backend, Program } from '../../src/runtime/backend';
import { createSessionWithBackend, runOwnedInput, type Session } from '../../src/runtime/session';
import { fakeBackend } from './fake-backend';

function naive(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

describe('firstNonFinite', () => {
  it('finds NaN, Infinity and -Infinity at every position of short and long arrays (the 4-wide loop and its tail)', () => {
    for (const length of [1, 2, 3, 4, 5, 7, 8, 9, 1023]) {
      for (let at = 0; at < length; at++) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          const values = new Float32Array(length).fill(0.5);
          values[at] = bad;
          expect(firstNonFinite(values)).toBe(at);
        }
      }
    }
  });

  it('is -1 for finite values, the largest float32 and subnormals included (x * 0 stays 0)', () => {
    expect(firstNonFinite(new Float32Array(0))).toBe(-1);
    expect(firstNonFinite(Float32Array.of(3.4028234663852886e38, -3.4028234663852886e38, 1.4e-45, -0, 0))).toBe(-1);
  });

  it('agrees with Number.isFinite on random float32 bit patterns (NaN payloads included)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 64 }), (bits) => {
        const values = new Float32Array(Uint32Array.from(bits).buffer);
        expect(firstNonFinite(values)).toBe(naive(values));
      }),
      { numRuns: 500 },
    );
  });

  it('a view at an offset is scanned from its own start', () => {
    const whole = new Float32Array(12).fill(1);
    whole[2] = NaN;
    expect(firstNonFinite(whole.subarray(4))).toBe(-1);
    whole[9] = Infinity;
    expect(firstNonFinite(whole.subarray(4))).toBe(5);
  });

  it('checkFiniteValues throws the same InvalidInputError text run() always gave', () => {
    const values = new Float32Array(6);
    values[5] = -Infinity;
    expect(() => checkFiniteValues(values)).toThrow(InvalidInputError);
    expect(() => checkFiniteValues(values)).toThrow('Input value at index 5 is -Infinity; every value must be finite (check the preprocessing)');
  });
});

describe('checkRunInput', () => {
  const expect2 = { height: 2, width: 2, maxBatch: 2 };
  it('scans the values by default and not with values: false (shape still checked)', () => {
    const input = new Float32Array(12);
    input[7] = NaN;
    expect(() => checkRunInput(input, [1, 3, 2, 2], expect2)).toThrow('Input value at index 7 is NaN');
    expect(checkRunInput(input, [1, 3, 2, 2], expect2, false)).toBe(1);
    expect(() => checkRunInput(input, [2, 3, 2, 2], expect2, false)).toThrow('Input has 12 values but shape [2,3,2,2] needs 24');
  });
});

describe('runOwnedInput', () => {
  let session: Session;
  const seen: Float32Array[] = [];
  beforeAll(async () => {
    const { backend } = fakeBackend();
    // Records the array each run receives (the fake computes row sums from it).
    const recording: Backend = {
      ...backend,
      async compile(plan, options): Promise<Program> {
        const program = await backend.compile(plan, options);
        return {
          ...program,
          dispose: () => program.dispose(),
          run: (data: Float32Array, n: number) => {
            seen.push(data);
            return program.run(data, n);
          },
          workspaceBytes: program.workspaceBytes,
          weightBytes: program.weightBytes,
          arenaBytes: program.arenaBytes,
        };
      },
    };
    session = await createSessionWithBackend({ model: 'inception_resnet_v1', weights: 'synthetic', maxBatch: 2, inputSize: 80 }, recording);
  });
  afterAll(() => session.dispose());
  const image = 3 * 80 * 80;

  it('hands the caller array itself to the program, while run() hands it a private copy', async () => {
    const input = new Float32Array(image).fill(0.25);
    seen.length = 0;
    const owned = await runOwnedInput(session, input, [1, 3, 80, 80]);
    expect(seen[0]).toBe(input);
    const copied = await session.run(input, [1, 3, 80, 80]);
    expect(seen[1]).not.toBe(input);
    expect(Array.from(seen[1])).toEqual(Array.from(input));
    // Same rows either way (row sum = 0.25 * image, exact in float32 and double).
    expect(owned[0]).toBe(0.25 * image);
    expect(copied[0]).toBe(owned[0]);
  });

  it('skips the value scan (its caller checked) but still checks the shape', async () => {
    const input = new Float32Array(image);
    input[3] = NaN;
    await expect(session.run(input, [1, 3, 80, 80])).rejects.toThrow('Input value at index 3 is NaN');
    await expect(runOwnedInput(session, input, [1, 3, 80, 80])).resolves.toBeInstanceOf(Float32Array);
    await expect(runOwnedInput(session, input, [2, 3, 80, 80])).rejects.toThrow(`Input has ${image} values but shape [2,3,80,80] needs ${2 * image}`);
  });

  it('falls back to run() for a Session that is not one of ours', async () => {
    const calls: Float32Array[] = [];
    const other = { ...session, run: (x: Float32Array) => (calls.push(x), Promise.resolve(new Float32Array(1))) } as unknown as Session;
    const input = new Float32Array(image);
    await runOwnedInput(other, input, [1, 3, 80, 80]);
    expect(calls[0]).toBe(input);
  });
});
