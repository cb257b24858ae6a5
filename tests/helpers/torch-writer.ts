/**
 * A writer of PyTorch zip checkpoints for tests: the layout torch.save (1.13) produces for a
 * state_dict of contiguous tensors, byte for byte: pickle protocol 2 exactly as CPython's
 * pickler emits it (memo numbering, BINPUT/BINGET, SETITEMS batches), PyTorch's miniz records
 * (data-descriptor flag, 'FB' padding extra field to 64-byte alignment, zero timestamps, a
 * zip64 end record). tests/weights/torch-writer.test.ts checks it reproduces the committed
 * torch-written fixtures exactly, so files it writes (e.g. a whole IR-v1 checkpoint, too big
 * to commit) stand for files torch would write.
 */
import { open } from 'node:fs/promises';

export interface PtTensor {
  readonly dtype: 'F32' | 'F16' | 'BF16' | 'F64' | 'I64';
  readonly shape: readonly number[];
  /** Contiguous row-major little-endian bytes. */
  readonly data: Uint8Array;
}

const STORAGE_CLASS: Record<PtTensor['dtype'], string> = {
  F32: 'FloatStorage',
  F16: 'HalfStorage',
  BF16: 'BFloat16Storage',
  F64: 'DoubleStorage',
  I64: 'LongStorage',
};
const ITEM_BYTES: Record<PtTensor['dtype'], number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8 };

let crcTable: Uint32Array | null = null;
export function crc32(bytes: Uint8Array): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CPython's protocol-2 pickler, reduced to what a state_dict needs. */
class Pickler {
  private readonly out: number[] = [];
  private memoSize = 0;
  /** Python objects pickled once and referenced again (interned strings, globals). */
  private readonly shared = new Map<string, number>();

  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
  op(...bytes: number[]): void {
    this.out.push(...bytes);
  }
  private u32(n: number): number[] {
    return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
  }
  memoize(): void {
    const i = this.memoSize++;
    if (i < 256) this.op(0x71, i);
    else this.op(0x72, ...this.u32(i));
  }
  private get(i: number): void {
    if (i < 256) this.op(0x68, i);
    else this.op(0x6a, ...this.u32(i));
  }
  /** A str object; `sharedKey` marks one Python object pickled more than once. */
  str(s: string, sharedKey?: string): void {
    if (sharedKey !== undefined && this.shared.has(sharedKey)) return this.get(this.shared.get(sharedKey)!);
    const utf8 = new TextEncoder().encode(s);
    this.op(0x58, ...this.u32(utf8.length), ...utf8);
    if (sharedKey !== undefined) this.shared.set(sharedKey, this.memoSize);
    this.memoize();
  }
  int(n: number | bigint): void {
    const v = BigInt(n);
    if (v >= 0n && v <= 0xffn) this.op(0x4b, Number(v));
    else if (v >= 0n && v <= 0xffffn) this.op(0x4d, Number(v) & 0xff, Number(v) >> 8);
    else if (v >= -(2n ** 31n) && v < 2n ** 31n) this.op(0x4a, ...this.u32(Number(BigInt.asUintN(32, v))));
    else {
      // encode_long: little-endian two's complement, minimal length.
      const bytes: number[] = [];
      let x = v;
      for (;;) {
        bytes.push(Number(BigInt.asUintN(8, x)));
        x >>= 8n;
        const sign = bytes[bytes.length - 1]! & 0x80;
        if ((x === 0n && !sign) || (x === -1n && sign)) break;
      }
      this.op(0x8a, bytes.length, ...bytes);
    }
  }
  global(module: string, name: string): void {
    const key = `global:${module}.${name}`;
    if (this.shared.has(key)) return this.get(this.shared.get(key)!);
    this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
    this.shared.set(key, this.memoSize);
    this.memoize();
  }
  /** A tuple of `n` already-saved items (CPython: TUPLE1..3 for n <= 3, else MARK..TUPLE). */
  tupleOf(n: number, saveItems: () => void): void {
    if (n === 0) return this.op(0x29);
    if (n > 3) this.op(0x28);
    saveItems();
    this.op(n > 3 ? 0x74 : [0, 0x85, 0x86, 0x87][n]!);
    this.memoize();
  }
  emptyOrderedDict(): void {
    this.global('collections', 'OrderedDict');
    this.op(0x29, 0x52); // EMPTY_TUPLE REDUCE
    this.memoize();
  }
  /** CPython's _batch_setitems: batches of 1000, MARK..SETITEMS, a lone pair as SETITEM. */
  setItems<T>(items: readonly T[], save: (item: T) => void): void {
    for (let i = 0; i < items.length; i += 1000) {
      const batch = items.slice(i, i + 1000);
      if (batch.length > 1) {
        this.op(0x28);
        batch.forEach(save);
        this.op(0x75);
      } else {
        save(batch[0]!);
        this.op(0x73);
      }
    }
  }
}

/** data.pkl of an OrderedDict state_dict whose tensor i lives in storage str(i). */
export function stateDictPickle(tensors: ReadonlyArray<readonly [string, PtTensor]>, metadata: ReadonlyArray<readonly [string, number]> | null): Uint8Array {
  const p = new Pickler();
  p.op(0x80, 2);
  p.emptyOrderedDict();
  p.setItems(
    tensors.map(([name, t], i) => ({ name, t, key: String(i) })),
    ({ name, t, key }) => {
      p.str(name);
      p.global('torch._utils', '_rebuild_tensor_v2');
      p.tupleOf(6, () => {
        p.tupleOf(5, () => {
          p.str('storage', 'storage');
          p.global('torch', STORAGE_CLASS[t.dtype]);
          p.str(key);
          p.str('cpu', 'cpu');
          p.int(t.shape.reduce((a, b) => a * b, 1));
        });
        p.op(0x51); // BINPERSID
        p.int(0);
        p.tupleOf(t.shape.length, () => t.shape.forEach((d) => p.int(d)));
        const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
        p.tupleOf(stride.length, () => stride.forEach((s) => p.int(s)));
        p.op(0x89); // NEWFALSE
        p.emptyOrderedDict();
      });
      p.op(0x52); // REDUCE
      p.memoize();
    },
  );
  if (metadata !== null) {
    p.op(0x7d); // EMPTY_DICT: the OrderedDict's __dict__
    p.memoize();
    p.str('_metadata');
    p.emptyOrderedDict();
    p.setItems(metadata, ([prefix, version]) => {
      p.str(prefix);
      p.op(0x7d);
      p.memoize();
      p.str('version', 'version');
      p.int(version);
      p.op(0x73);
    });
    p.op(0x73, 0x62); // SETITEM BUILD
  }
  p.op(0x2e);
  return p.bytes();
}

/** Writes `tensors` as torch.save(OrderedDict, path) of torch 1.13 would (archive = the file's stem). */
export async function writeTorchZip(
  path: string,
  archive: string,
  tensors: ReadonlyArray<readonly [string, PtTensor]>,
  metadata: ReadonlyArray<readonly [string, number]> | null = [['', 1]],
): Promise<void> {
  for (const [name, t] of tensors) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== numel * ITEM_BYTES[t.dtype]) throw new Error(`writeTorchZip: '${name}' has ${t.data.length} bytes for ${t.dtype} [${t.shape}]`);
  }
  const records: Array<[string, Uint8Array]> = [[`${archive}/data.pkl`, stateDictPickle(tensors, metadata)]];
  const keys = tensors.map((_, i) => String(i)).sort(); // torch: sorted(serialized_storages.keys()), as strings
  for (const key of keys) records.push([`${archive}/data/${key}`, tensors[Number(key)]![1].data]);
  records.push([`${archive}/version`, new TextEncoder().encode('3\n')]);
  await writeZipRecords(path, records);
}

/** A zip archive of stored records laid out as PyTorch's writer lays them out (any contents: hostile tests). */
export async function writeZipRecords(path: string, records: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void> {
  // Asynchronous, record by record, so a ~100 MB checkpoint never blocks the test worker for long.
  const handle = await open(path, 'w');
  try {
    let offset = 0;
    const write = async (bytes: Uint8Array): Promise<void> => {
      let done = 0;
      while (done < bytes.length) done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten;
      offset += bytes.length;
    };
    const central: Uint8Array[] = [];
    for (const [name, data] of records) {
      const nameBytes = new TextEncoder().encode(name);
      const start = offset + 30 + nameBytes.length + 4;
      const padding = (64 - (start % 64)) % 64;
      const local = Buffer.alloc(30 + nameBytes.length + 4 + padding);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(0, 4); // version needed
      local.writeUInt16LE(0x0808, 6); // data descriptor + UTF-8
      local.writeUInt16LE(nameBytes.length, 26);
      local.writeUInt16LE(4 + padding, 28);
      local.set(nameBytes, 30);
      local.write('FB', 30 + nameBytes.length, 'latin1');
      local.writeUInt16LE(padding, 30 + nameBytes.length + 2);
      local.fill('Z', 30 + nameBytes.length + 4);
      const headerAt = offset;
      const crc = crc32(data);
      await write(local);
      await write(data);
      const descriptor = Buffer.alloc(16);
      descriptor.writeUInt32LE(0x08074b50, 0);
      descriptor.writeUInt32LE(crc, 4);
      descriptor.writeUInt32LE(data.length, 8);
      descriptor.writeUInt32LE(data.length, 12);
      await write(descriptor);
      const entry = Buffer.alloc(46 + nameBytes.length);
      entry.writeUInt32LE(0x02014b50, 0);
      entry.writeUInt16LE(0x0808, 8);
      entry.writeUInt32LE(crc, 16);
      entry.writeUInt32LE(data.length, 20);
      entry.writeUInt32LE(data.length, 24);
      entry.writeUInt16LE(nameBytes.length, 28);
      entry.writeUInt32LE(headerAt, 42);
      entry.set(nameBytes, 46);
      central.push(entry);
    }
    const directoryAt = offset;
    for (const entry of central) await write(entry);
    const directoryBytes = offset - directoryAt;
    const zip64At = offset;
    const end = Buffer.alloc(56 + 20 + 22);
    end.writeUInt32LE(0x06064b50, 0);
    end.writeBigUInt64LE(44n, 4);
    end.writeUInt16LE(0x031e, 12); // version made by
    end.writeUInt16LE(0x2d, 14); // version needed
    end.writeBigUInt64LE(BigInt(records.length), 24);
    end.writeBigUInt64LE(BigInt(records.length), 32);
    end.writeBigUInt64LE(BigInt(directoryBytes), 40);
    end.writeBigUInt64LE(BigInt(directoryAt), 48);
    end.writeUInt32LE(0x07064b50, 56);
    end.writeBigUInt64LE(BigInt(zip64At), 64);
    end.writeUInt32LE(1, 72);
    end.writeUInt32LE(0x06054b50, 76);
    end.writeUInt16LE(records.length, 84);
    end.writeUInt16LE(records.length, 86);
    end.writeUInt32LE(directoryBytes, 88);
    end.writeUInt32LE(directoryAt, 92);
    await write(end);
  } finally {
    await handle.close();
  }
}
