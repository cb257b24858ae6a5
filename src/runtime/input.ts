/** Checks a run() input before anything reaches native code. */
import { InvalidInputError, describe } from '../errors';

export interface InputExpectation {
  readonly height: number;
  readonly width: number;
  readonly maxBatch: number;
}

function shapeText(shape: readonly unknown[]): string {
  return `[${shape.map((d) => (typeof d === 'number' ? String(d) : describe(d))).join(',')}]`;
}

/** Returns the batch size n of a valid input; throws InvalidInputError naming the problem otherwise. */
export function checkRunInput(input: unknown, shape: unknown, expect: InputExpectation): number {
  const wanted = `[N,3,${expect.height},${expect.width}] with 1 <= N <= maxBatch=${expect.maxBatch}`;
  if (!(input instanceof Float32Array)) {
    const hint = ArrayBuffer.isView(input) || Array.isArray(input) ? '; convert it with Float32Array.from(...)' : '';
    throw new InvalidInputError(`Expected a Float32Array for input but received ${describe(input)}${hint}`);
  }
  if (!Array.isArray(shape) || shape.length !== 4) {
    throw new InvalidInputError(`Expected shape ${wanted} but received ${Array.isArray(shape) ? shapeText(shape) : describe(shape)}`);
  }
  if (!shape.every((d: unknown) => typeof d === 'number' && Number.isInteger(d) && d >= 1)) {
    throw new InvalidInputError(`Expected shape ${wanted} (positive integers) but received ${shapeText(shape)}`);
  }
  const [n, c, h, w] = shape as number[];
  if (c !== 3 || h !== expect.height || w !== expect.width) {
    throw new InvalidInputError(
      `Expected input shape ${wanted} but received [${n},${c},${h},${w}]` +
        (c === 3 ? `; resize to ${expect.height}x${expect.width} or create the session with inputSize: [${h}, ${w}]` : ''),
    );
  }
  if (n > expect.maxBatch) {
    throw new InvalidInputError(`Batch of ${n} exceeds maxBatch=${expect.maxBatch}; split the input or create the session with maxBatch: ${n}`);
  }
  const length = n * c * h * w;
  if (input.length !== length) {
    throw new InvalidInputError(`Input has ${input.length} values but shape [${n},${c},${h},${w}] needs ${length}`);
  }
  for (let i = 0; i < length; i++) {
    const v = input[i];
    if (!Number.isFinite(v)) {
      throw new InvalidInputError(`Input value at index ${i} is ${v}; every value must be finite (check the preprocessing)`);
    }
  }
  return n;
}
