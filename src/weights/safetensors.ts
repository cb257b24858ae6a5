/**
 * A safetensors reader that keeps the file open and reads one tensor at a time, so a
 * 220 MB checkpoint never sits in memory twice. The header is validated completely at
 * open(); every problem is a SafetensorsError naming the file.
 *
 * Format: 8 bytes little-endian u64 header length L, L bytes of UTF-8 JSON
 * `{"__metadata__": {..}, "<name>": {"dtype", "shape", "data_offsets": [begin, end]}, ...}`,
 * then the data section; offsets are relative to its start.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { SafetensorsError } from '../errors';
import { float16BitsToFloat32, bfloat16BitsToFloat32 } from './half';
import { classifyMagic, torchCheckpointMessage } from './format';

/** Bytes per element of every dtype the safetensors format defines. */
export const DTYPE_SIZES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** Dtypes readFloat32 converts (exactly) to float32. */
export const FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16'];

/** Largest header we accept; real headers of our checkpoints are about 100 kB. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Largest single read() call (Node limits one read to 2 GiB - 1). */
const MAX_READ_CHUNK = 1 << 30;

export interface SafetensorsEntry {
  readonly dtype: string;
  readonly shape: number[];
  /** Byte offsets relative to the start of the data section. */
  readonly begin: number;
  readonly end: number;
}

const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

export class SafetensorsFile {
  readonly path: string;
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  readonly metadata: Record<string, string>;
  /** Total file size in bytes. */
  readonly fileBytes: number;
  /** Absolute file offset of the data section (8 + header length). */
  readonly dataStart: number;
  private handle: FileHandle | null;

  private constructor(
    path: string,
    handle: FileHandle,
    entries: Map<string, SafetensorsEntry>,
    metadata: Record<string, string>,
    fileBytes: number,
    dataStart: number,
  ) {
    this.path = path;
    this.handle = handle;
    this.entries = entries;
    this.metadata = metadata;
    this.fileBytes = fileBytes;
    this.dataStart = dataStart;
  }

  /** Opens and validates the header; the file stays open until close(). */
  static async open(path: string): Promise<SafetensorsFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (cause) {
      const code = (cause as { code?: string }).code ?? 'error';
      throw new SafetensorsError(`cannot open safetensors file ${path}: ${code} (${(cause as Error).message})`, { cause });
    }
    try {
      const { size } = await handle.stat();
      const parsed = await readHeader(handle, path, size);
      return new SafetensorsFile(path, handle, parsed.entries, parsed.metadata, size, parsed.dataStart);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** The entry, or a SafetensorsError listing how many tensors the file has. */
  entry(name: string): SafetensorsEntry {
    const entry = this.entries.get(name);
    if (entry === undefined) {
      throw new SafetensorsError(`${this.path}: no tensor named '${name}' (the file has ${this.entries.size} tensors)`);
    }
    return entry;
  }

  /** Dtypes readFloat32 converts. */
  get floatDtypes(): readonly string[] {
    return FLOAT_DTYPES;
  }

  /** `names` in the order of their data in the file (reads go front to back). */
  readOrder(names: readonly string[]): string[] {
    return [...names].sort((a, b) => this.entry(a).begin - this.entry(b).begin);
  }

  /** Reads an F32, F16 or BF16 tensor as float32 (F16/BF16 converted exactly, NaN payloads kept). */
  async readFloat32(name: string): Promise<Float32Array> {
    const entry = this.entry(name);
    const numel = (entry.end - entry.begin) / DTYPE_SIZES[entry.dtype];
    if (entry.dtype === 'F32') {
      const out = new Float32Array(numel);
      await this.readInto(name, entry, new Uint8Array(out.buffer));
      if (!HOST_IS_LITTLE_ENDIAN) swapBytesInPlace(new Uint8Array(out.buffer), 4);
      return out;
    }
    if (entry.dtype === 'F16' || entry.dtype === 'BF16') {
      const raw = new Uint16Array(numel);
      await this.readInto(name, entry, new Uint8Array(raw.buffer));
      if (!HOST_IS_LITTLE_ENDIAN) swapBytesInPlace(new Uint8Array(raw.buffer), 2);
      return entry.dtype === 'F16' ? float16BitsToFloat32(raw) : bfloat16BitsToFloat32(raw);
    }
    throw new SafetensorsError(
      `${this.path}: tensor '${name}' has dtype ${entry.dtype}; only ${FLOAT_DTYPES.join(', ')} can be read as float32`,
    );
  }

  /** Reads an I64 tensor (e.g. the 0-d `num_batches_tracked`). */
  async readInt64(name: string): Promise<BigInt64Array> {
    const entry = this.entry(name);
    if (entry.dtype !== 'I64') {
      throw new SafetensorsError(`${this.path}: tensor '${name}' has dtype ${entry.dtype}, not I64`);
    }
    const out = new BigInt64Array((entry.end - entry.begin) / 8);
    await this.readInto(name, entry, new Uint8Array(out.buffer));
    if (!HOST_IS_LITTLE_ENDIAN) swapBytesInPlace(new Uint8Array(out.buffer), 8);
    return out;
  }

  /** The tensor's bytes exactly as stored (little-endian). */
  async readRaw(name: string): Promise<Uint8Array> {
    const entry = this.entry(name);
    const out = new Uint8Array(entry.end - entry.begin);
    await this.readInto(name, entry, out);
    return out;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    if (handle !== null) await handle.close();
  }

  private async readInto(name: string, entry: SafetensorsEntry, target: Uint8Array): Promise<void> {
    if (this.handle === null) {
      throw new SafetensorsError(`${this.path}: the file has been closed; open it again to read '${name}'`);
    }
    const start = this.dataStart + entry.begin;
    let done = 0;
    while (done < target.length) {
      const length = Math.min(target.length - done, MAX_READ_CHUNK);
      const { bytesRead } = await this.handle.read(target, done, length, start + done);
      if (bytesRead === 0) {
        throw new SafetensorsError(
          `${this.path}: the file is truncated: tensor '${name}' needs bytes up to ${this.dataStart + entry.end}, ` +
            `but reading stopped at ${start + done} (was the file changed after it was opened?)`,
        );
      }
      done += bytesRead;
    }
  }
}

interface ParsedHeader {
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  dataStart: number;
}

async function readHeader(handle: FileHandle, path: string, size: number): Promise<ParsedHeader> {
  const fail = (problem: string): never => {
    throw new SafetensorsError(`${path} is not a valid safetensors file: ${problem}`);
  };
  if (size < 8) fail(`it has ${size} bytes, fewer than the 8-byte header length`);
  const prefix = Buffer.alloc(8);
  await readExactly(handle, prefix, 0, path);
  const headerLength = prefix.readBigUInt64LE(0);
  const format = classifyMagic(prefix);
  if (format !== 'other') throw new SafetensorsError(torchCheckpointMessage(path, format));
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(`the header length field says ${headerLength} bytes, more than the ${MAX_HEADER_BYTES}-byte limit (corrupt file, or not safetensors)`);
  }
  const length = Number(headerLength);
  if (8 + length > size) {
    fail(`the header length field says ${length} bytes, but the file has only ${size - 8} bytes after it (truncated or not safetensors)`);
  }
  const headerBytes = Buffer.alloc(length);
  await readExactly(handle, headerBytes, 8, path);
  const dataStart = 8 + length;
  const { entries, metadata } = parseHeaderJson(headerBytes, fail);
  validateLayout(entries, size - dataStart, dataStart, path, fail);
  return { entries, metadata, dataStart };
}

async function readExactly(handle: FileHandle, target: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await handle.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) throw new SafetensorsError(`${path}: the file is truncated while reading its header`);
    done += bytesRead;
  }
}

function parseHeaderJson(
  bytes: Uint8Array,
  fail: (problem: string) => never,
): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string> } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return fail('the header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return fail(`the header is not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(json)) {
    return fail(`the header must be a JSON object, but it is ${Array.isArray(json) ? 'an array' : json === null ? 'null' : typeof json}`);
  }
  const metadata: Record<string, string> = {};
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(value)) fail('__metadata__ must be an object of strings');
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        if (typeof item !== 'string') fail(`__metadata__.${key} must be a string, but it is ${typeof item}`);
        metadata[key] = item as string;
      }
      continue;
    }
    entries.set(name, parseEntry(name, value, fail));
  }
  return { entries, metadata };
}

function parseEntry(name: string, value: unknown, fail: (problem: string) => never): SafetensorsEntry {
  if (!isPlainObject(value)) return fail(`tensor '${name}' must be an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  for (const [field, present] of [['dtype', dtype], ['shape', shape], ['data_offsets', offsets]] as const) {
    if (present === undefined) fail(`tensor '${name}' has no '${field}'`);
  }
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZES, dtype)) {
    fail(`tensor '${name}' has unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_SIZES).join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`tensor '${name}' has shape ${JSON.stringify(shape)}; a shape must be a list of non-negative integers`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    fail(`tensor '${name}' has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] with integers 0 <= begin <= end`);
  }
  const dims = shape as number[];
  const [begin, end] = offsets as [number, number];
  const numel = dims.reduce((a, b) => a * b, 1);
  const expectedBytes = numel * DTYPE_SIZES[dtype as string];
  if (end - begin !== expectedBytes) {
    fail(
      `tensor '${name}' (${dtype} ${JSON.stringify(dims)}) should hold ${numel} x ${DTYPE_SIZES[dtype as string]} = ${expectedBytes} bytes, ` +
        `but its data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  return { dtype: dtype as string, shape: [...dims], begin, end };
}

function validateLayout(
  entries: Map<string, SafetensorsEntry>,
  dataBytes: number,
  dataStart: number,
  path: string,
  fail: (problem: string) => never,
): void {
  let furthest = 0;
  let furthestName = '';
  for (const [name, entry] of entries) {
    if (entry.end > furthest) {
      furthest = entry.end;
      furthestName = name;
    }
  }
  if (furthest > dataBytes) {
    throw new SafetensorsError(
      `${path} is truncated: its header places tensor '${furthestName}' up to byte ${dataStart + furthest}, ` +
        `so the file should have at least ${dataStart + furthest} bytes, but it has ${dataStart + dataBytes}. ` +
        'Download or copy the file again.',
    );
  }
  const sorted = [...entries].filter(([, e]) => e.end > e.begin).sort((a, b) => a[1].begin - b[1].begin);
  for (let i = 1; i < sorted.length; i++) {
    const [prevName, prev] = sorted[i - 1];
    const [name, entry] = sorted[i];
    if (entry.begin < prev.end) {
      fail(`tensors '${prevName}' [${prev.begin}, ${prev.end}] and '${name}' [${entry.begin}, ${entry.end}] overlap`);
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function swapBytesInPlace(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}
