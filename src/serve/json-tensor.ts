/**
 * Fast reading of a JSON infer body's tensor data. JSON.parse of a body with 100,000s of numbers
 * builds an array of them first (about 15 ms per 160x160 image, then another walk to copy it
 * into a Float32Array). Here the `"data": [...]` array is found in the raw bytes, its numbers are
 * read straight into the Float32Array, and only the rest of the body (a few hundred bytes, with
 * the array replaced by a marker) goes through JSON.parse.
 *
 * Every value is exactly what JSON.parse followed by the float32 store gives. Anything this
 * reader is not sure of (a number it cannot round with certainty, a layout other than flat or
 * nested exactly as the shape, a marker not at inputs[0].data) makes it give up, and the caller
 * parses the whole body the ordinary way, which also names what is wrong with it.
 */
import { randomUUID } from 'node:crypto';

/** Replaces the data array before JSON.parse; unguessable, so it cannot come from a client. */
const MARKER = `inception-data-${randomUUID()}`;
const MARKER_JSON = JSON.stringify(MARKER);

/** Where the array value of the first `"data"` key lies in the bytes: [start, end). */
export interface DataSpan {
  readonly start: number;
  readonly end: number;
}

export interface SplitBody {
  /** The body parsed with the data array replaced by a marker string. */
  readonly request: unknown;
  readonly span: DataSpan;
}

const QUOTE = 0x22;
const COLON = 0x3a;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const COMMA = 0x2c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const BACKSLASH = 0x5c;
const DATA_KEY = Buffer.from('"data"');

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/**
 * The body parsed without its data array, or undefined when there is no `"data": [` or the body
 * with the marker in its place does not parse (the caller then parses the whole body itself).
 */
export function splitDataArray(bytes: Buffer): SplitBody | undefined {
  let from = 0;
  for (;;) {
    const key = bytes.indexOf(DATA_KEY, from);
    if (key < 0) return undefined;
    from = key + DATA_KEY.length;
    // A quote after an odd number of backslashes is inside a string.
    let slashes = 0;
    while (key - slashes - 1 >= 0 && bytes[key - slashes - 1] === BACKSLASH) slashes++;
    if (slashes % 2 === 1) continue;
    let i = from;
    while (i < bytes.length && isSpace(bytes[i])) i++;
    if (bytes[i] !== COLON) continue;
    i++;
    while (i < bytes.length && isSpace(bytes[i])) i++;
    if (bytes[i] !== OPEN) continue;
    const end = arrayEnd(bytes, i);
    if (end < 0) return undefined;
    let request: unknown;
    try {
      request = JSON.parse(bytes.toString('utf8', 0, i) + MARKER_JSON + bytes.toString('utf8', end));
    } catch {
      return undefined;
    }
    return markerAtInputData(request) ? { request, span: { start: i, end } } : undefined;
  }
}

/** Whether request.inputs[0].data is the marker (so the span was that array and no other). */
function markerAtInputData(request: unknown): boolean {
  if (typeof request !== 'object' || request === null) return false;
  const inputs = (request as { inputs?: unknown }).inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) return false;
  const first: unknown = inputs[0];
  return typeof first === 'object' && first !== null && (first as { data?: unknown }).data === MARKER;
}

/**
 * End (exclusive) of the bracketed array starting at `open`, by bracket depth only; -1 when it is
 * not closed or holds a quote (strings are not numbers: left to JSON.parse). Jumps between
 * bracket bytes with Buffer.indexOf (memchr) instead of looking at every byte in JS.
 */
function arrayEnd(bytes: Buffer, open: number): number {
  let depth = 0;
  let from = open;
  let nextOpen = open;
  for (;;) {
    const close = bytes.indexOf(CLOSE, from);
    if (close < 0) return -1;
    while (nextOpen >= 0 && nextOpen < close) {
      depth++;
      nextOpen = bytes.indexOf(OPEN, nextOpen + 1);
    }
    depth--;
    if (depth === 0) {
      const quote = bytes.indexOf(QUOTE, open);
      return quote >= 0 && quote < close ? -1 : close + 1;
    }
    from = close + 1;
  }
}

const POW10: readonly number[] = Array.from({ length: 23 }, (_, i) => 10 ** i);
const TWO_POW_53 = 2 ** 53;
const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/**
 * Reads the span's numbers into `out`: flat (exactly out.length numbers) or nested exactly as
 * `shape`. Returns false at anything else (malformed JSON included), leaving `out` partly written.
 */
export function readDataSpan(bytes: Buffer, span: DataSpan, shape: readonly number[], out: Float32Array): boolean {
  const reader = new SpanReader(bytes, span.start, span.end);
  reader.skipSpace();
  if (!reader.take(OPEN)) return false;
  reader.skipSpace();
  const nested = reader.peek() === OPEN;
  reader.pos = span.start;
  const dims = nested ? shape : [out.length];
  let n = 0;
  const array = (depth: number): boolean => {
    reader.skipSpace();
    if (!reader.take(OPEN)) return false;
    for (let i = 0; i < dims[depth]; i++) {
      if (i > 0 && !reader.take(COMMA)) return false;
      if (depth < dims.length - 1) {
        if (!array(depth + 1)) return false;
      } else {
        reader.skipSpace();
        const value = reader.number();
        if (value === undefined) return false;
        out[n++] = value;
      }
      reader.skipSpace();
    }
    return reader.take(CLOSE);
  };
  if (!array(0)) return false;
  reader.skipSpace();
  return reader.pos === span.end && n === out.length;
}

class SpanReader {
  constructor(
    private readonly bytes: Buffer,
    public pos: number,
    private readonly end: number,
  ) {}

  peek(): number {
    return this.pos < this.end ? this.bytes[this.pos] : -1;
  }

  take(b: number): boolean {
    if (this.peek() !== b) return false;
    this.pos++;
    return true;
  }

  skipSpace(): void {
    while (this.pos < this.end && isSpace(this.bytes[this.pos])) this.pos++;
  }

  /**
   * One JSON number (strict grammar) as the double JSON.parse gives, or a value whose float32
   * rounding is provably the same; undefined when the text is not a JSON number.
   */
  number(): number | undefined {
    const bytes = this.bytes;
    const start = this.pos;
    let i = start;
    const negative = bytes[i] === MINUS;
    if (negative) i++;
    let mantissa = 0;
    let digits = 0; // significant digits taken into the mantissa
    let exponent10 = 0;
    const first = i;
    if (bytes[i] === ZERO) {
      i++;
    } else {
      while (i < this.end && bytes[i] >= ZERO && bytes[i] <= NINE) {
        mantissa = mantissa * 10 + (bytes[i] - ZERO);
        if (mantissa !== 0) digits++;
        i++;
      }
    }
    if (i === first) return undefined;
    if (bytes[i] === DOT) {
      i++;
      const fraction = i;
      while (i < this.end && bytes[i] >= ZERO && bytes[i] <= NINE) {
        mantissa = mantissa * 10 + (bytes[i] - ZERO);
        if (mantissa !== 0) digits++;
        exponent10--;
        i++;
      }
      if (i === fraction) return undefined;
    }
    if (bytes[i] === 0x65 || bytes[i] === 0x45) {
      i++;
      let sign = 1;
      if (bytes[i] === MINUS || bytes[i] === PLUS) {
        if (bytes[i] === MINUS) sign = -1;
        i++;
      }
      const expStart = i;
      let exp = 0;
      while (i < this.end && bytes[i] >= ZERO && bytes[i] <= NINE) {
        if (exp < 100_000) exp = exp * 10 + (bytes[i] - ZERO);
        i++;
      }
      if (i === expStart) return undefined;
      exponent10 += sign * exp;
    }
    this.pos = i;
    if (mantissa === 0) return negative ? -0 : 0;
    let value: number | undefined;
    if (exponent10 >= -22 && exponent10 <= 22) {
      const magnitude = exponent10 >= 0 ? mantissa * POW10[exponent10] : mantissa / POW10[-exponent10];
      // Up to 15 digits the mantissa is exact and one multiply or divide by an exact power of ten
      // rounds correctly (Clinger's fast path): the very double JSON.parse gives.
      if (digits <= 15 && mantissa < TWO_POW_53) value = magnitude;
      else if (digits <= 19 && sameFloat32(magnitude)) value = magnitude;
    }
    if (value === undefined) value = Number(bytes.toString('latin1', negative ? start + 1 : start, i));
    return negative ? -value : value;
  }
}

/**
 * Whether `approx` (a mantissa of up to 19 digits built in doubles, times or divided by an exact
 * power of ten: within 8 double ulps of the correctly rounded double d) surely rounds to the same
 * float32 as d: it is farther than that from every float32 rounding boundary.
 */
function sameFloat32(approx: number): boolean {
  if (!(approx > 1e-37 && approx < 1e37)) return false;
  const f = Math.fround(approx);
  scratch[0] = f;
  const bits = scratchBits[0];
  scratchBits[0] = bits + 1;
  const above = scratch[0] - f;
  scratchBits[0] = bits - 1;
  const below = f - scratch[0];
  const halfGap = Math.min(above, below) / 2;
  return Math.abs(approx - f) + approx * 2 ** -49 < halfGap;
}
