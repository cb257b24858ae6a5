/**
 * parseInferRequest's JSON `data` forms (pure, no server): flat row-major, or nested exactly as
 * the shape; ragged or partly nested arrays are refused rather than flattened into shifted values.
 * Values are small integers, exact in float32, so equality is exact.
 */
import { describe, it, expect } from 'vitest';
import { HttpError } from '../../src/serve/http';
import { parseInferRequest, type ModelSignature } from '../../src/serve/v2-tensors';

const MODEL: ModelSignature = { inputName: 'input', outputName: 'logits', height: 2, width: 2, outputSize: 4, maxBatch: 2 };

function body(data: unknown, shape = [1, 3, 2, 2]): Buffer {
  return Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape, datatype: 'FP32', data }] }));
}

/** [n][3][2][2] with value = running index. */
function nestedOf(n: number): number[][][][] {
  let v = 0;
  return Array.from({ length: n }, () => Array.from({ length: 3 }, () => Array.from({ length: 2 }, () => [v++, v++])));
}

function parseError(data: unknown, shape?: number[]): HttpError {
  try {
    parseInferRequest(body(data, shape), undefined, MODEL);
  } catch (error) {
    return error as HttpError;
  }
  throw new Error('expected parseInferRequest to throw');
}

describe('parseInferRequest JSON data', () => {
  it('flat and fully nested data give the same row-major values', () => {
    const flat = Array.from({ length: 24 }, (_, i) => i);
    const a = parseInferRequest(body(flat, [2, 3, 2, 2]), undefined, MODEL);
    const b = parseInferRequest(body(nestedOf(2), [2, 3, 2, 2]), undefined, MODEL);
    expect(Array.from(a.input)).toEqual(flat);
    expect(Array.from(b.input)).toEqual(flat);
    expect(b.images).toBe(2);
  });

  it('refuses ragged nesting whose total count matches (it would shift values between rows)', () => {
    const ragged = nestedOf(1);
    ragged[0][0][0].push(99); // 3 values in row [0][0][0] ...
    ragged[0][0][1].pop(); // ... and 1 in the next: still 12 numbers in all
    const error = parseError(ragged);
    expect(error).toBeInstanceOf(HttpError);
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/data\[0\]\[0\]\[0\] has 3 entries but shape \[1,3,2,2\] needs 2 there/);
  });

  it('refuses partial nesting (images as flat rows) and a nested array inside flat data', () => {
    const rows = [Array.from({ length: 12 }, (_, i) => i)];
    expect(parseError(rows).message).toMatch(/data\[0\] has 12 entries but shape \[1,3,2,2\] needs 3 there/);
    const mixed: unknown[] = Array.from({ length: 12 }, (_, i) => i);
    mixed[5] = [5];
    expect(parseError(mixed).message).toMatch(/holds a nested array at element 5/);
  });

  it('a flat array of the wrong length names both counts', () => {
    expect(parseError(Array.from({ length: 11 }, () => 0)).message).toMatch(/has 11 numbers but its shape needs 12/);
  });
});
