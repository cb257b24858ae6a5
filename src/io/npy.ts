/**
 * NumPy .npy files (format versions 1.0, 2.0, 3.0): little-endian float32 / float64 arrays
 * in C order. Anything else is refused with an NpyError that says what was found.
 *
 * Layout: "\x93NUMPY", major, minor, header length (u16 LE for v1, u32 LE for v2/v3), a
 * Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 1000), }
 * padded with spaces and a newline, then the raw data.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { NpyError } from '../errors';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** numpy pads the header so the data starts on a multiple of 64 bytes. */
const ALIGNMENT = 64;
const ACCEPTED = "little-endian float32 '<f4' or float64 '<f8' in C order";

export interface NpyArray {
  shape: number[];
  data: Float32Array | Float64Array;
}

/**
 * Reads an .npy file (by path) or its bytes. Like node:fs, each reader and writer comes as a
 * pair: readNpy / writeNpy return Promises, readNpySync / writeNpySync block.
 */
export async function readNpy(source: string | Uint8Array): Promise<NpyArray> {
  if (typeof source !== 'string') return decodeNpy(source, '.npy data');
  let bytes: Uint8Array;
  try {
    bytes = await readFile(source);
  } catch (cause) {
    throw new NpyError(`cannot read ${source}: ${(cause as Error).message}`, { cause });
  }
  return decodeNpy(bytes, source);
}

/** readNpy, blocking. */
export function readNpySync(source: string | Uint8Array): NpyArray {
  if (typeof source !== 'string') return decodeNpy(source, '.npy data');
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(source);
  } catch (cause) {
    throw new NpyError(`cannot read ${source}: ${(cause as Error).message}`, { cause });
  }
  return decodeNpy(bytes, source);
}

function decodeNpy(bytes: Uint8Array, label: string): NpyArray {
  const fail = (problem: string): never => {
    throw new NpyError(`${label}: ${problem}`);
  };
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) fail('not a .npy file (it does not start with \\x93NUMPY)');
  const major = bytes[6];
  const minor = bytes[7];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail('the file is truncated inside its preamble');
    headerLength = view.getUint32(8, true);
    headerStart = 12;
  } else {
    return fail(`format version ${major}.${minor} is not supported (versions 1.0, 2.0 and 3.0 are)`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) fail(`the header says it has ${headerLength} bytes, but the file ends after ${bytes.length - headerStart}`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));
  const { descr, fortranOrder, shape } = parseHeader(header, fail);

  if (fortranOrder && shape.filter((d) => d > 1).length > 1) {
    fail(`found fortran_order True; only ${ACCEPTED} is read: save np.ascontiguousarray(arr) instead`);
  }
  const itemSize = descr === '<f4' ? 4 : descr === '<f8' ? 8 : fail(describeDescr(descr));
  const numel = shape.reduce((a, b) => a * b, 1);
  const expected = numel * itemSize;
  const actual = bytes.length - dataStart;
  if (actual !== expected) {
    fail(
      actual < expected
        ? `the file is truncated: shape (${shape.join(', ')}) of ${descr} needs ${expected} data bytes, found ${actual}`
        : `found ${actual} data bytes after the header, but shape (${shape.join(', ')}) of ${descr} needs exactly ${expected}`,
    );
  }
  // Copy into a fresh, aligned buffer (the data offset need not be a multiple of 8). Not
  // bytes.slice(): on a Buffer that is a view into shared pool memory.
  const raw = new Uint8Array(bytes.subarray(dataStart, dataStart + expected));
  if (endianness() !== 'LE') swapBytesInPlace(raw, itemSize);
  const data = itemSize === 4 ? new Float32Array(raw.buffer) : new Float64Array(raw.buffer);
  return { shape, data };
}

function parseHeader(
  header: string,
  fail: (problem: string) => never,
): { descr: string; fortranOrder: boolean; shape: number[] } {
  const text = header.trim();
  if (!text.startsWith('{') || !text.endsWith('}')) fail(`the header is not a Python dict: ${abbreviate(text)}`);
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text);
  if (descr === null) {
    const structured = /['"]descr['"]\s*:\s*\[/.test(text);
    fail(
      structured
        ? `found a structured dtype; only ${ACCEPTED} is read`
        : `the header has no 'descr' string: ${abbreviate(text)}`,
    );
  }
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  if (fortran === null) fail(`the header has no 'fortran_order' True/False: ${abbreviate(text)}`);
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (shapeMatch === null) fail(`the header has no 'shape' tuple: ${abbreviate(text)}`);
  const parts = (shapeMatch as RegExpExecArray)[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const shape = parts.map((p) => {
    const d = /^\d+L?$/.test(p) ? Number.parseInt(p, 10) : NaN;
    // Beyond 2^53 a dimension is not exact (and with a 0 elsewhere the data size still checks out).
    return Number.isSafeInteger(d) ? d : fail(`shape entry '${p}' is not a non-negative integer below 2^53`);
  });
  return { descr: (descr as RegExpExecArray)[1], fortranOrder: (fortran as RegExpExecArray)[1] === 'True', shape };
}

function describeDescr(descr: string): string {
  const order = descr[0];
  const kind = descr.slice(1);
  let found: string;
  if ((order === '>' || (order === '=' && endianness() !== 'LE')) && (kind === 'f4' || kind === 'f8')) {
    found = `big-endian float '${descr}'; convert with arr.astype('<${kind}')`;
  } else if (/^[iu]\d+$/.test(kind)) {
    found = `integer dtype '${descr}'; convert with arr.astype(np.float32)`;
  } else if (kind === 'f2') {
    found = `float16 '${descr}'; convert with arr.astype(np.float32)`;
  } else if (kind === 'b1') {
    found = `bool dtype '${descr}'; convert with arr.astype(np.float32)`;
  } else {
    found = `dtype '${descr}'`;
  }
  return `found ${found}; only ${ACCEPTED} is read`;
}

function abbreviate(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** The bytes of a v1.0 (v2.0 if the header needs it) .npy file holding `data` with `shape`. */
export function encodeNpy(data: Float32Array | Float64Array, shape: readonly number[]): Uint8Array {
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new NpyError(`cannot write .npy: shape [${shape.join(', ')}] must be non-negative integers`);
  }
  const numel = shape.reduce((a, b) => a * b, 1);
  if (numel !== data.length) {
    throw new NpyError(`cannot write .npy: shape [${shape.join(', ')}] holds ${numel} values, but the data has ${data.length}`);
  }
  const descr = data instanceof Float32Array ? '<f4' : '<f8';
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple}, }`;
  let major = 1;
  let preamble = 10;
  let padded = Math.ceil((preamble + dict.length + 1) / ALIGNMENT) * ALIGNMENT - preamble;
  if (padded > 0xffff) {
    major = 2;
    preamble = 12;
    padded = Math.ceil((preamble + dict.length + 1) / ALIGNMENT) * ALIGNMENT - preamble;
  }
  const out = new Uint8Array(preamble + padded + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, padded, true);
  else view.setUint32(8, padded, true);
  const headerText = dict + ' '.repeat(padded - dict.length - 1) + '\n';
  out.set(new TextEncoder().encode(headerText), preamble);
  const body = new Uint8Array(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  if (endianness() !== 'LE') swapBytesInPlace(body, data.BYTES_PER_ELEMENT);
  out.set(body, preamble + padded);
  return out;
}

/** Writes float32 (or float64) `data` with `shape` as a .npy file. */
export async function writeNpy(path: string, data: Float32Array | Float64Array, shape: readonly number[]): Promise<void> {
  const bytes = encodeNpy(data, shape);
  try {
    await writeFile(path, bytes);
  } catch (cause) {
    throw new NpyError(`cannot write ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** writeNpy, blocking. */
export function writeNpySync(path: string, data: Float32Array | Float64Array, shape: readonly number[]): void {
  const bytes = encodeNpy(data, shape);
  try {
    writeFileSync(path, bytes);
  } catch (cause) {
    throw new NpyError(`cannot write ${path}: ${(cause as Error).message}`, { cause });
  }
}

function swapBytesInPlace(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}
