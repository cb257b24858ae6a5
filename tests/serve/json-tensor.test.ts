/**
 * The fast JSON tensor reader (json-tensor.ts) against the ordinary way (JSON.parse, then the
 * float32 store): every value must be bit-for-bit the same float32 (compared with Object.is, so
 * -0 and 0 differ), for the number spellings clients send (17-digit doubles of float32 values,
 * short decimals, exponents, integers), and anything unusual must make it give up (the caller
 * then parses the whole body, which names the problem) rather than read something else.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readDataSpan, splitDataArray } from '../../src/serve/json-tensor';
import { HttpError } from '../../src/serve/http';
import { parseInferRequest, type ModelSignature } from '../../src/serve/v2-tensors';

function viaJsonParse(text: string): Float32Array {
  return Float32Array.from((JSON.parse(text) as number[]).flat(3));
}

/** The fast reader on `[...]` alone, flat: its float32 values, or undefined when it gives up. */
function fastRead(arrayText: string, count: number): Float32Array | undefined {
  const bytes = Buffer.from(`{"inputs":[{"data":${arrayText}}]}`);
  const split = splitDataArray(bytes);
  if (split === undefined) return undefined;
  const out = new Float32Array(count);
  return readDataSpan(bytes, split.span, [count], out) ? out : undefined;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

const float32 = fc.float({ noDefaultInfinity: true, noNaN: true });

describe('readDataSpan', () => {
  it('matches JSON.parse + float32 for doubles of float32 values (17 significant digits, as Array.from(Float32Array) serialises)', () => {
    fc.assert(
      fc.property(fc.array(float32, { minLength: 1, maxLength: 50 }), (values) => {
        const text = JSON.stringify(Array.from(Float32Array.from(values)));
        const fast = fastRead(text, values.length);
        expect(fast).toBeDefined();
        expect(sameBits(fast as Float32Array, viaJsonParse(text))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('matches for any double (random bit patterns: values between float32 neighbours, near rounding boundaries, tiny, huge)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 50 }), (values) => {
        const text = JSON.stringify(values);
        const fast = fastRead(text, values.length);
        expect(fast).toBeDefined();
        expect(sameBits(fast as Float32Array, viaJsonParse(text))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('matches for decimal spellings: 1 to 21 digits, fractions, exponents of either case and sign, leading zeros in the fraction', () => {
    const spelling = fc
      .tuple(fc.boolean(), fc.stringMatching(/^(0|[1-9][0-9]{0,20})$/), fc.option(fc.stringMatching(/^[0-9]{1,20}$/)), fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 60 }))))
      .map(([neg, int, frac, exp]) => `${neg ? '-' : ''}${int}${frac === null ? '' : `.${frac}`}${exp === null ? '' : `${exp[0]}${exp[1]}${exp[2]}`}`);
    fc.assert(
      fc.property(fc.array(spelling, { minLength: 1, maxLength: 30 }), (numbers) => {
        const text = `[${numbers.join(',')}]`;
        const fast = fastRead(text, numbers.length);
        expect(fast).toBeDefined();
        expect(sameBits(fast as Float32Array, viaJsonParse(text))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('matches for doubles within a few ulps of a float32 rounding boundary (where an inexact double would round the other way)', () => {
    const f = new Float32Array(1);
    const bits = new Uint32Array(f.buffer);
    const d = new Float64Array(1);
    const dbits = new BigInt64Array(d.buffer);
    fc.assert(
      fc.property(fc.integer({ min: 0x00800000, max: 0x7f7ffffe }), fc.integer({ min: -4, max: 4 }), fc.boolean(), fc.integer({ min: 15, max: 19 }), (pattern, ulps, negative, digits) => {
        bits[0] = pattern;
        const a = f[0];
        bits[0] = pattern + 1;
        d[0] = (a + f[0]) / 2; // exact: the boundary between two float32 neighbours
        dbits[0] += BigInt(ulps);
        const text = `[${(negative ? -d[0] : d[0]).toPrecision(digits)},${negative ? -d[0] : d[0]}]`;
        const fast = fastRead(text, 2);
        expect(fast).toBeDefined();
        expect(sameBits(fast as Float32Array, viaJsonParse(text))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('reads -0 as -0, whitespace anywhere JSON allows it, and out-of-range values as JSON.parse does (1e400 = Infinity)', () => {
    const text = '[ -0 ,\n0,\t-0.0e5\r, 1e400, -1E+400, 1e-400 ]';
    const fast = fastRead(text, 6);
    expect(fast).toBeDefined();
    expect(sameBits(fast as Float32Array, viaJsonParse(text))).toBe(true);
  });

  it('gives up on anything that is not a JSON array of exactly that many numbers', () => {
    for (const text of ['[01]', '[1.]', '[.5]', '[+1]', '[-]', '[1e]', '[1e+]', '[- 1]', '[1,]', '[,1]', '[1 2]', '[true]', '[null]', '[1,2,3]', '[1]', '[[1,2]]', '[]', '["1",2]', '[0x1,2]', '[NaN,2]', '[Infinity,1]', '[1,2]x']) {
      expect(fastRead(text, 2), text).toBeUndefined();
    }
  });

  it('nested data must match the shape exactly at every depth', () => {
    const bytes = (data: string): Buffer => Buffer.from(`{"inputs":[{"data":${data}}]}`);
    const read = (data: string, shape: number[]): boolean => {
      const b = bytes(data);
      const split = splitDataArray(b);
      return split !== undefined && readDataSpan(b, split.span, shape, new Float32Array(shape.reduce((x, y) => x * y, 1)));
    };
    expect(read('[[1,2],[3,4],[5,6]]', [3, 2])).toBe(true);
    expect(read('[[1,2],[3,4]]', [3, 2])).toBe(false);
    expect(read('[[1,2],[3,4],[5]]', [3, 2])).toBe(false);
    expect(read('[[1,2],[3,4],[5,6,7]]', [3, 2])).toBe(false);
    expect(read('[[1,2],3,[5,6]]', [3, 2])).toBe(false);
    expect(read('[[1,[2]],[3,4],[5,6]]', [3, 2])).toBe(false);
  });
});

describe('splitDataArray', () => {
  it('only takes the array that JSON.parse puts at inputs[0].data', () => {
    // Another "data" key first, and inputs[0].data not an array: never read parameters.data as the tensor.
    expect(splitDataArray(Buffer.from('{"parameters":{"data":[1,2]},"inputs":[{"data":0}]}'))).toBeUndefined();
    expect(splitDataArray(Buffer.from('{"inputs":[{"parameters":{"data":[1,2]},"data":0}]}'))).toBeUndefined();
    // A duplicate key: JSON.parse keeps the last one, so the first array is not the tensor.
    expect(splitDataArray(Buffer.from('{"inputs":[{"data":[1,2],"data":[3,4]}]}'))).toBeUndefined();
    // Inside a string.
    const quoted = '{"id":"\\"data\\":[1,2]","inputs":[{"data":[3]}]}';
    expect(splitDataArray(Buffer.from(quoted))?.span).toEqual({ start: quoted.indexOf('[3]'), end: quoted.indexOf('[3]') + 3 });
    expect(splitDataArray(Buffer.from('{"inputs":[{"data":[1,2]}'))).toBeUndefined();
    expect(splitDataArray(Buffer.from('{"inputs":[{"data":[1,2]}]}'))?.span).toEqual({ start: 19, end: 24 });
  });
});

const MODEL: ModelSignature = { inputName: 'input', outputName: 'logits', height: 32, width: 32, outputSize: 4, maxBatch: 2 };

function parsed(body: string): { value?: ReturnType<typeof parseInferRequest>; error?: HttpError } {
  try {
    return { value: parseInferRequest(Buffer.from(body), undefined, MODEL) };
  } catch (error) {
    return { error: error as HttpError };
  }
}

describe('parseInferRequest on large JSON bodies (the fast reader)', () => {
  const count = 2 * 3 * 32 * 32;
  const values = Array.from({ length: count }, (_, i) => Math.fround(Math.sin(i) * 2.5));
  const request = (data: unknown, extra: Record<string, unknown> = {}): string =>
    JSON.stringify({ id: 'r1', inputs: [{ name: 'input', shape: [2, 3, 32, 32], datatype: 'FP32', data, ...extra }], ...extra });

  it('gives the same request as the ordinary parse, flat and nested', () => {
    const flat = parsed(request(values));
    expect(flat.value?.input).toEqual(Float32Array.from(values));
    expect(flat.value?.id).toBe('r1');
    const nested = Array.from({ length: 2 }, (_, n) => Array.from({ length: 3 }, (_, c) => Array.from({ length: 32 }, (_, h) => values.slice(((n * 3 + c) * 32 + h) * 32, ((n * 3 + c) * 32 + h + 1) * 32))));
    expect(parsed(request(nested)).value?.input).toEqual(Float32Array.from(values));
  });

  it('refuses what the ordinary parse refuses, with the same message (the fast reader gives up, the slow walk names it)', () => {
    const ragged = [...values.slice(0, count - 1)];
    expect(parsed(request(ragged)).error?.message).toBe(`input 'input' data has ${count - 1} numbers but its shape needs ${count}`);
    const withNull: unknown[] = [...values];
    withNull[100] = null;
    expect(parsed(request(withNull)).error?.message).toBe("input 'input' data holds a null at element 100; only numbers are accepted");
    expect(parsed(request(values).replace('"data":[', '"data":[,')).error?.message).toMatch(/^the request body is not valid JSON/);
    expect(parsed(request(values, { outputs: [{ name: 'nope' }] })).error?.message).toBe("unknown output 'nope'; this model's output is 'logits'");
  });
});
