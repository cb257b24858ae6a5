/**
 * Reads a PyTorch state_dict checkpoint (torch.save) without running any of it: the pickle goes
 * through the restricted unpickler (pickle.ts, torch-pickle.ts), tensors are read from the file
 * on demand, one at a time, as float32 (F16/BF16 exactly, F64 rounded to nearest) or as their
 * raw little-endian bytes.
 *
 * Both torch.save formats:
 * - zip (torch >= 1.6): `<archive>/data.pkl` and one stored member `<archive>/data/<key>` per
 *   storage, holding exactly numel x element-size bytes;
 * - legacy (before 1.6, or _use_new_zipfile_serialization=False): five pickles back to back
 *   (magic number, protocol version 1001, sys_info, the state_dict, the sorted storage keys),
 *   then each storage in key order as an int64 element count followed by its bytes.
 * Views (a storage offset and strides, e.g. a transposed or sliced tensor) are gathered into a
 * contiguous row-major array; several tensors may share one storage.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { WeightsError } from '../errors';
import { bfloat16BitsToFloat32, float16BitsToFloat32 } from './half';
import { PickleDict, PickleList, PickleNeedsMoreBytes, unpickle, type PickleHooks } from './pickle';
import { STORAGE_TYPES, TorchStorage, stateDictTensors, torchPickleHooks, type StorageRequest, type TorchTensor } from './torch-pickle';
import { memberDataOffset, readExact, readZipDirectory } from './zip-directory';

export type TorchFormat = 'torch-zip' | 'torch-pickle';

/** Dtypes readFloat32 converts to float32. */
export const TORCH_FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16', 'F64'];

/** Largest pickle accepted (a 716-tensor state_dict pickles to ~60 kB). */
export const MAX_PICKLE_BYTES = 64 * 1024 * 1024;

/** The legacy format's first pickle: torch.serialization.MAGIC_NUMBER. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

export interface TorchEntry {
  readonly dtype: string;
  readonly shape: number[];
}

interface PlacedStorage {
  readonly storage: TorchStorage;
  /** Absolute file offset of element 0. */
  fileOffset: number;
}

const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

export class TorchCheckpointFile {
  readonly entries: ReadonlyMap<string, TorchEntry>;

  private constructor(
    readonly path: string,
    readonly format: TorchFormat,
    readonly fileBytes: number,
    private handle: FileHandle | null,
    private readonly tensors: ReadonlyMap<string, TorchTensor>,
    private readonly placed: ReadonlyMap<TorchStorage, PlacedStorage>,
  ) {
    const entries = new Map<string, TorchEntry>();
    for (const [name, t] of tensors) entries.set(name, { dtype: t.storage.dtype, shape: [...t.shape] });
    this.entries = entries;
  }

  static async open(path: string, format: TorchFormat): Promise<TorchCheckpointFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (cause) {
      throw new WeightsError(`cannot open checkpoint ${path}: ${(cause as Error).message}`, { cause });
    }
    try {
      const { size } = await handle.stat();
      const parsed = format === 'torch-zip' ? await parseZip(handle, size, path) : await parseLegacy(handle, size, path);
      return new TorchCheckpointFile(path, format, size, handle, parsed.tensors, parsed.placed);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Dtypes readFloat32 converts. */
  get floatDtypes(): readonly string[] {
    return TORCH_FLOAT_DTYPES;
  }

  /** `names` in the order of their data in the file (reads go front to back). */
  readOrder(names: readonly string[]): string[] {
    const at = (name: string): number => {
      const t = this.tensor(name);
      return (this.placed.get(t.storage)?.fileOffset ?? 0) + t.storageOffset * t.storage.itemBytes;
    };
    return [...names].sort((a, b) => at(a) - at(b));
  }

  /** The tensor as float32, row-major (F16/BF16 exact, F64 rounded to nearest). */
  async readFloat32(name: string): Promise<Float32Array> {
    const tensor = this.tensor(name);
    const { dtype } = tensor.storage;
    if (!TORCH_FLOAT_DTYPES.includes(dtype)) {
      throw new WeightsError(`${this.path}: tensor '${name}' has dtype ${dtype}; only ${TORCH_FLOAT_DTYPES.join(', ')} can be read as float32`);
    }
    const raw = await this.readRaw(name);
    if (dtype === 'F32') return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
    if (dtype === 'F64') return Float32Array.from(new Float64Array(raw.buffer, raw.byteOffset, raw.byteLength / 8));
    const bits = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
    return dtype === 'F16' ? float16BitsToFloat32(bits) : bfloat16BitsToFloat32(bits);
  }

  /**
   * The tensor's elements, contiguous row-major, in its own dtype and host byte order (files
   * are little-endian; a big-endian host gets them swapped). Fresh and 8-byte aligned.
   */
  async readRaw(name: string): Promise<Uint8Array> {
    const tensor = this.tensor(name);
    if (this.handle === null) throw new WeightsError(`${this.path}: the file has been closed; open it again to read '${name}'`);
    const { storage, shape, stride, storageOffset } = tensor;
    const item = storage.itemBytes;
    const numel = tensor.numel;
    // 8-byte aligned so any typed array can view it.
    const out = new Uint8Array(new ArrayBuffer(Math.ceil((numel * item) / 8) * 8), 0, numel * item);
    if (numel === 0) return out;
    let extent = 1;
    for (let i = 0; i < shape.length; i++) extent += (shape[i]! - 1) * stride[i]!;
    const base = (this.placed.get(storage) as PlacedStorage).fileOffset + storageOffset * item;
    if (isRowMajor(shape, stride)) {
      await this.readAt(out, base, name);
    } else {
      const span = new Uint8Array(extent * item);
      await this.readAt(span, base, name);
      gather(span, out, shape, stride, item);
    }
    if (!HOST_IS_LITTLE_ENDIAN && item > 1) for (let i = 0; i < out.length; i += item) out.subarray(i, i + item).reverse();
    return out;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    if (handle !== null) await handle.close();
  }

  private tensor(name: string): TorchTensor {
    const t = this.tensors.get(name);
    if (t === undefined) throw new WeightsError(`${this.path}: no tensor named '${name}' (the file has ${this.tensors.size} tensors)`);
    return t;
  }

  private async readAt(target: Uint8Array, position: number, name: string): Promise<void> {
    const got = await readExact(this.handle as FileHandle, position, target.length);
    if (got.length !== target.length) {
      throw new WeightsError(`${this.path}: the file is truncated: tensor '${name}' needs bytes up to ${position + target.length} (was the file changed after it was opened?)`);
    }
    target.set(got);
  }
}

/** True when the strides are those of a contiguous row-major tensor (size-1 dims ignored). */
function isRowMajor(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

/** Copies the elements of a strided view out of `span` (which starts at the view's first element). */
function gather(span: Uint8Array, out: Uint8Array, shape: readonly number[], stride: readonly number[], item: number): void {
  const dims = shape.length;
  const index = new Array<number>(dims).fill(0);
  const numel = out.length / item;
  let source = 0;
  for (let n = 0; n < numel; n++) {
    out.set(span.subarray(source * item, source * item + item), n * item);
    for (let d = dims - 1; d >= 0; d--) {
      index[d]!++;
      source += stride[d]!;
      if (index[d]! < shape[d]!) break;
      source -= stride[d]! * shape[d]!;
      index[d] = 0;
    }
  }
}

interface Parsed {
  tensors: Map<string, TorchTensor>;
  placed: Map<TorchStorage, PlacedStorage>;
}

/** The storage registry both formats share: one TorchStorage per key, consistent declarations. */
function storageRegistry(what: string): { resolve: (r: StorageRequest) => TorchStorage; byKey: Map<string, TorchStorage> } {
  const byKey = new Map<string, TorchStorage>();
  const resolve = (request: StorageRequest): TorchStorage => {
    if (request.view !== null) {
      throw new WeightsError(`${what}: storage '${request.key}' is a view of storage '${request.view.viewKey}' (written by torch before 0.4); re-save the checkpoint with a current torch`);
    }
    const type = STORAGE_TYPES[request.storageType]!;
    const known = byKey.get(request.key);
    if (known !== undefined) {
      if (known.storageType !== request.storageType || known.numel !== request.numel) {
        throw new WeightsError(`${what}: storage '${request.key}' is declared as ${known.describe()} and as ${request.storageType} of ${request.numel} elements`);
      }
      return known;
    }
    const storage = new TorchStorage(request.key, request.storageType, type.dtype, type.itemBytes, request.numel);
    byKey.set(request.key, storage);
    return storage;
  };
  return { resolve, byKey };
}

async function parseZip(handle: FileHandle, fileBytes: number, path: string): Promise<Parsed> {
  const members = await readZipDirectory(handle, fileBytes, path);
  const pickles = [...members.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) {
    throw new WeightsError(`${path} is a zip archive but not a torch.save checkpoint: it has ${pickles.length === 0 ? 'no' : pickles.length} '<archive>/data.pkl' records`);
  }
  const prefix = pickles[0]!.slice(0, -'data.pkl'.length);
  const byteorder = members.get(`${prefix}byteorder`);
  if (byteorder !== undefined) {
    const bytes = await readExact(handle, await memberDataOffset(handle, byteorder, fileBytes, path), Math.min(byteorder.size, 16));
    const order = new TextDecoder().decode(bytes);
    if (order !== 'little') throw new WeightsError(`${path}: its tensors are stored '${order}'-endian; only little-endian checkpoints are read`);
  }
  const pickleMember = members.get(pickles[0]!)!;
  if (pickleMember.size > MAX_PICKLE_BYTES) throw new WeightsError(`${path}: data.pkl declares ${pickleMember.size} bytes, more than the ${MAX_PICKLE_BYTES}-byte limit`);
  const pickleBytes = await readExact(handle, await memberDataOffset(handle, pickleMember, fileBytes, path), pickleMember.size);

  const what = `${path} (${pickles[0]})`;
  const registry = storageRegistry(what);
  const hooks = torchPickleHooks(what, 'zip', registry.resolve);
  const { value, end } = unpickle(pickleBytes, 0, hooks, { what, complete: true });
  if (end !== pickleBytes.length) throw new WeightsError(`${what}: ${pickleBytes.length - end} bytes follow the pickle's STOP`);
  const tensors = stateDictTensors(value, path);

  const placed = new Map<TorchStorage, PlacedStorage>();
  for (const storage of registry.byKey.values()) {
    const member = members.get(`${prefix}data/${storage.key}`);
    if (member === undefined) throw new WeightsError(`${path}: storage '${storage.key}' is referenced but the archive has no record ${prefix}data/${storage.key} (truncated or corrupt)`);
    const expected = storage.numel * storage.itemBytes;
    if (member.size !== expected) {
      throw new WeightsError(`${path}: ${storage.describe()} needs ${expected} bytes, but its record ${member.name} has ${member.size} (corrupt or hostile file)`);
    }
    placed.set(storage, { storage, fileOffset: await memberDataOffset(handle, member, fileBytes, path) });
  }
  return { tensors, placed };
}

/** Runs the legacy format's five pickles on a growing prefix of the file. */
async function parseLegacy(handle: FileHandle, fileBytes: number, path: string): Promise<Parsed> {
  for (let length = Math.min(fileBytes, 1 << 20); ; length = Math.min(fileBytes, length * 4, MAX_PICKLE_BYTES)) {
    const head = await readExact(handle, 0, length);
    if (head.length < length) throw new WeightsError(`${path}: the file shrank while it was read (${head.length} of ${length} bytes); is it being written?`);
    try {
      return await parseLegacyHead(handle, head, fileBytes, path);
    } catch (error) {
      if (!(error instanceof PickleNeedsMoreBytes)) throw error;
      // PickleNeedsMoreBytes only comes from a prefix shorter than the file, so `length` grows.
      if (length >= MAX_PICKLE_BYTES) throw new WeightsError(`${path}: the legacy checkpoint's pickles exceed ${MAX_PICKLE_BYTES} bytes`);
    }
  }
}

/** Hooks for the legacy header pickles (plain data, no globals at all). */
const PLAIN_DATA_HOOKS = (what: string): PickleHooks => {
  const refuse = (problem: string): never => {
    throw new WeightsError(`${what}: ${problem}`);
  };
  return {
    global: (module, name) => refuse(`refused the global '${module}.${name}' in a header pickle, which holds only numbers and strings`),
    call: () => refuse('a header pickle calls a function'),
    build: () => refuse('a header pickle sets object state'),
    persistentLoad: () => refuse('a header pickle references a storage'),
  };
};

async function parseLegacyHead(handle: FileHandle, head: Uint8Array, fileBytes: number, path: string): Promise<Parsed> {
  const complete = head.length === fileBytes;
  const header = (start: number, name: string) => unpickle(head, start, PLAIN_DATA_HOOKS(`${path} (${name})`), { what: `${path} (${name})`, complete });
  const magic = header(0, 'magic number');
  if (magic.value !== LEGACY_MAGIC) throw new WeightsError(`${path} starts with a pickle but not torch.save's magic number: not a PyTorch checkpoint`);
  const protocol = header(magic.end, 'protocol version');
  if (protocol.value !== LEGACY_PROTOCOL_VERSION) throw new WeightsError(`${path}: legacy torch.save protocol version ${String(protocol.value)}; only ${LEGACY_PROTOCOL_VERSION} is read`);
  const sysInfo = header(protocol.end, 'sys_info');
  if (!(sysInfo.value instanceof PickleDict) || sysInfo.value.entries.get('little_endian') !== true) {
    throw new WeightsError(`${path}: the checkpoint was not written on a little-endian machine (sys_info.little_endian is not True); re-save it on x86 or ARM`);
  }

  const what = `${path} (state_dict pickle)`;
  const registry = storageRegistry(what);
  const main = unpickle(head, sysInfo.end, torchPickleHooks(what, 'legacy', registry.resolve), { what, complete });
  const tensors = stateDictTensors(main.value, path);
  const keysPickle = header(main.end, 'storage keys');
  const keys = keysPickle.value;
  if (!(keys instanceof PickleList) || !keys.items.every((k): k is string => typeof k === 'string')) {
    throw new WeightsError(`${path}: the storage key list is not a list of strings`);
  }
  if (keys.items.length !== registry.byKey.size || new Set(keys.items).size !== keys.items.length || !keys.items.every((k) => registry.byKey.has(k as string))) {
    throw new WeightsError(`${path}: the storage key list (${keys.items.length} keys) does not match the ${registry.byKey.size} storages the state_dict references (corrupt file)`);
  }

  const placed = new Map<TorchStorage, PlacedStorage>();
  let at = keysPickle.end;
  for (const key of keys.items as string[]) {
    const storage = registry.byKey.get(key)!;
    const prefix = await readExact(handle, at, 8);
    if (prefix.length < 8) throw new WeightsError(`${path} is truncated: storage '${key}' should start at byte ${at}, but the file has ${fileBytes} bytes`);
    const count = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigInt64(0, true);
    if (count !== BigInt(storage.numel)) {
      throw new WeightsError(`${path}: ${storage.describe()} is stored with ${count} elements at byte ${at} (corrupt or hostile file)`);
    }
    const bytes = storage.numel * storage.itemBytes;
    if (at + 8 + bytes > fileBytes) {
      throw new WeightsError(`${path} is truncated: ${storage.describe()} needs bytes up to ${at + 8 + bytes}, but the file has ${fileBytes}`);
    }
    placed.set(storage, { storage, fileOffset: at + 8 });
    at += 8 + bytes;
  }
  return { tensors, placed };
}
