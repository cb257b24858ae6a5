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

/**
 * Index of the first value that is NaN or ±Infinity, or -1 when every value is finite.
 * x * 0 is 0 for finite x and NaN otherwise, so four running sums of x * 0 stay 0 exactly
 * when all values are finite: about twice as fast as Number.isFinite per value (the sums have
 * no branch per value); the slow scan runs only to name the index of a bad value.
 */
export function firstNonFinite(values: Float32Array): number {
  const length = values.length;
  const whole = length - (length % 4);
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  let i = 0;
  for (; i < whole; i += 4) {
    a += values[i] * 0;
    b += values[i + 1] * 0;
    c += values[i + 2] * 0;
    d += values[i + 3] * 0;
  }
  for (; i < length; i++) a += values[i] * 0;
  if (a + b + c + d === 0) return -1;
  for (let j = 0; j < length; j++) if (!Number.isFinite(values[j])) return j;
  return -1;
}

/** Throws the InvalidInputError every entry point gives for a NaN or infinite input value. */
export function checkFiniteValues(values: Float32Array): void {
  const index = firstNonFinite(values);
  if (index >= 0) {
    throw new InvalidInputError(`Input value at index ${index} is ${values[index]}; every value must be finite (check the preprocessing)`);
  }
}

/**
 * Returns the batch size n of a valid input; throws InvalidInputError naming the problem otherwise.
 * `values: false` checks the type and shape only, for a caller that has checked every value already
 * or whose backend checks them (Program.checksInputValues).
 */
export function checkRunInput(input: unknown, shape: unknown, expect: InputExpectation, values = true): number {
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
  if (values) checkFiniteValues(input);
  return n;
}
