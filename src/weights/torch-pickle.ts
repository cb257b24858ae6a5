/**
 * What a torch.save'd state_dict pickle may contain, and nothing more: the globals
 * collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and
 * the typed storage classes (torch.FloatStorage, ...). Each is interpreted here as data (a
 * tensor is a storage reference, an offset, a shape and strides); nothing is imported or run.
 * Any other global is refused by name, and every argument of an allowed one is checked.
 *
 * Persistent ids (torch/serialization.py): zip format ('storage', StorageType, key, location,
 * numel); legacy format the same plus view_metadata (None, or (view_key, offset, view_size)).
 * The location ('cpu', 'cuda:0', ...) is ignored: everything is read to the host.
 */
import { WeightsError } from '../errors';
import {
  PickleDict,
  PickleOpaque,
  PickleTuple,
  describePickleValue,
  type PickleHooks,
  type PickleValue,
} from './pickle';

/** A safetensors dtype name and its element size, per torch storage class. */
export const STORAGE_TYPES: Readonly<Record<string, { readonly dtype: string; readonly itemBytes: number }>> = {
  FloatStorage: { dtype: 'F32', itemBytes: 4 },
  HalfStorage: { dtype: 'F16', itemBytes: 2 },
  BFloat16Storage: { dtype: 'BF16', itemBytes: 2 },
  DoubleStorage: { dtype: 'F64', itemBytes: 8 },
  LongStorage: { dtype: 'I64', itemBytes: 8 },
  IntStorage: { dtype: 'I32', itemBytes: 4 },
  ShortStorage: { dtype: 'I16', itemBytes: 2 },
  CharStorage: { dtype: 'I8', itemBytes: 1 },
  ByteStorage: { dtype: 'U8', itemBytes: 1 },
  BoolStorage: { dtype: 'BOOL', itemBytes: 1 },
};

const ALLOWED_GLOBALS = 'collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and torch.<Type>Storage';

/** Most dimensions a tensor may have. */
export const MAX_TENSOR_DIMS = 16;
/**
 * A view may repeat storage elements (stride 0, e.g. expand()); its element count is refused
 * above max(storage elements, this), so no file makes us allocate far beyond its own size.
 */
export const MAX_EXPANDED_ELEMENTS = 1 << 24;

type GlobalKind = 'OrderedDict' | 'rebuild_tensor_v2' | 'rebuild_parameter';

export class TorchGlobal extends PickleOpaque {
  constructor(
    readonly kind: GlobalKind | 'storage_type',
    readonly qualifiedName: string,
    readonly storageType: string | null = null,
  ) {
    super();
  }
  describe(): string {
    return `the global ${this.qualifiedName}`;
  }
}

/** One storage of the file (shared by every tensor that views it). */
export class TorchStorage extends PickleOpaque {
  constructor(
    readonly key: string,
    readonly storageType: string,
    readonly dtype: string,
    readonly itemBytes: number,
    /** Elements of the storage as the persistent id declares them. */
    readonly numel: number,
  ) {
    super();
  }
  describe(): string {
    return `storage '${this.key}' (${this.storageType}, ${this.numel} elements)`;
  }
}

export class TorchTensor extends PickleOpaque {
  constructor(
    readonly storage: TorchStorage,
    /** In elements. */
    readonly storageOffset: number,
    readonly shape: readonly number[],
    /** In elements. */
    readonly stride: readonly number[],
  ) {
    super();
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  describe(): string {
    return `a ${this.storage.dtype} tensor [${this.shape.join(',')}]`;
  }
}

/** Legacy format only: a persistent id that views part of another storage (torch < 0.4). */
export interface StorageView {
  readonly viewKey: string;
  readonly offset: number;
  readonly numel: number;
}

export interface StorageRequest {
  readonly key: string;
  readonly storageType: string;
  readonly numel: number;
  readonly view: StorageView | null;
}

/**
 * Hooks for unpickle(): the allow-list. `resolveStorage` is the container format's check that
 * a storage with that key and size exists; it returns the storage object to share.
 */
export function torchPickleHooks(what: string, format: 'zip' | 'legacy', resolveStorage: (request: StorageRequest) => TorchStorage): PickleHooks {
  const fail = (problem: string): never => {
    throw new WeightsError(`${what}: ${problem}`);
  };
  return {
    global(module, name) {
      const qualified = `${module}.${name}`;
      if (qualified === 'collections.OrderedDict') return new TorchGlobal('OrderedDict', qualified);
      if (qualified === 'torch._utils._rebuild_tensor_v2') return new TorchGlobal('rebuild_tensor_v2', qualified);
      if (qualified === 'torch._utils._rebuild_parameter') return new TorchGlobal('rebuild_parameter', qualified);
      if (module === 'torch' && Object.hasOwn(STORAGE_TYPES, name)) return new TorchGlobal('storage_type', qualified, name);
      return fail(
        `refused the global '${qualified}': a state_dict needs only ${ALLOWED_GLOBALS}, and nothing else is imported or called. ` +
          'The file is not a plain state_dict (it may even run code when torch.load opens it without weights_only=True); ' +
          'save model.state_dict() with torch.save, or get the checkpoint as .safetensors',
      );
    },

    call(callable, args) {
      if (!(callable instanceof TorchGlobal)) return fail(`REDUCE calls ${describePickleValue(callable)}, which is not a function`);
      switch (callable.kind) {
        case 'OrderedDict':
          if (args.items.length !== 0) return fail(`collections.OrderedDict is called with ${args.items.length} arguments; torch.save writes OrderedDict() and then sets its items`);
          return new PickleDict(true);
        case 'rebuild_tensor_v2':
          return rebuildTensor(args, fail);
        case 'rebuild_parameter':
          return rebuildParameter(args, fail);
        default:
          return fail(`${callable.qualifiedName} is called; storages are only referenced by persistent ids, never constructed`);
      }
    },

    build(target, state) {
      // OrderedDict.__reduce__ sets instance attributes with BUILD; a state_dict has only _metadata
      // (per-module version numbers), which inference does not need.
      if (!(target instanceof PickleDict) || !target.ordered) return fail(`BUILD sets state on ${describePickleValue(target)}; only an OrderedDict's _metadata is accepted`);
      if (!(state instanceof PickleDict) || [...state.entries.keys()].some((k) => k !== '_metadata')) {
        return fail(`BUILD sets ${describePickleValue(state)} on an OrderedDict; only {'_metadata': ...} is accepted`);
      }
      const metadata = state.entries.get('_metadata');
      if (metadata !== undefined && !(metadata instanceof PickleDict)) return fail(`an OrderedDict's _metadata is ${describePickleValue(metadata)}, not a dict`);
    },

    persistentLoad(pid) {
      if (!(pid instanceof PickleTuple)) return fail(`a persistent id is ${describePickleValue(pid)}, not a tuple`);
      const items = pid.items;
      const arity = format === 'zip' ? 5 : 6;
      if (items.length !== arity || items[0] !== 'storage') {
        return fail(`a persistent id is ${describePickleValue(pid)}; the ${format} format writes ('storage', type, key, location, numel${format === 'legacy' ? ', view' : ''})`);
      }
      const [, type, key, location, numel] = items;
      if (!(type instanceof TorchGlobal) || type.kind !== 'storage_type' || type.storageType === null) {
        return fail(`a persistent id names ${describePickleValue(type!)} as its storage type`);
      }
      if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(key)) return fail(`a storage key is ${describePickleValue(key!)}; keys are short names such as '0'`);
      if (typeof location !== 'string' || location.length > 64) return fail(`storage '${key}' has location ${describePickleValue(location!)}`);
      if (!isCount(numel)) return fail(`storage '${key}' declares ${describePickleValue(numel!)} elements`);
      let view: StorageView | null = null;
      if (format === 'legacy' && items[5] !== null) {
        const v = items[5];
        if (!(v instanceof PickleTuple) || v.items.length !== 3 || typeof v.items[0] !== 'string' || !isCount(v.items[1]!) || !isCount(v.items[2]!)) {
          return fail(`storage '${key}' has view metadata ${describePickleValue(v!)}; expected (view_key, offset, size)`);
        }
        view = { viewKey: v.items[0], offset: v.items[1] as number, numel: v.items[2] as number };
      }
      return resolveStorage({ key, storageType: type.storageType, numel: numel as number, view });
    },
  };
}

function isCount(value: PickleValue): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function intTuple(value: PickleValue | undefined, what: string, fail: (p: string) => never): number[] {
  if (!(value instanceof PickleTuple)) return fail(`${what} is ${describePickleValue(value ?? null)}, not a tuple of ints`);
  if (value.items.length > MAX_TENSOR_DIMS) return fail(`${what} has ${value.items.length} dimensions, more than ${MAX_TENSOR_DIMS}`);
  return value.items.map((d) => (isCount(d) ? d : fail(`${what} holds ${describePickleValue(d)}, not a non-negative int`)));
}

function isEmptyDict(value: PickleValue | undefined): boolean {
  return value instanceof PickleDict && value.entries.size === 0;
}

/** torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
function rebuildTensor(args: PickleTuple, fail: (p: string) => never): TorchTensor {
  const a = args.items;
  const name = 'torch._utils._rebuild_tensor_v2';
  if (a.length !== 6 && a.length !== 7) return fail(`${name} is called with ${a.length} arguments; it takes (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])`);
  const storage = a[0]!;
  if (!(storage instanceof TorchStorage)) return fail(`${name}'s storage is ${describePickleValue(storage)}, not a storage`);
  const offset = a[1]!;
  if (!isCount(offset)) return fail(`${name}'s storage offset is ${describePickleValue(offset)}`);
  const shape = intTuple(a[2], `${name}'s size`, fail);
  const stride = intTuple(a[3], `${name}'s stride`, fail);
  if (stride.length !== shape.length) return fail(`${name} gets size [${shape}] but stride [${stride}] (${stride.length} dimensions, not ${shape.length})`);
  if (typeof a[4] !== 'boolean') return fail(`${name}'s requires_grad is ${describePickleValue(a[4]!)}, not a bool`);
  if (!isEmptyDict(a[5])) return fail(`${name}'s backward_hooks is ${describePickleValue(a[5]!)}; torch.save writes an empty OrderedDict`);
  if (a.length === 7 && a[6] !== null && !isEmptyDict(a[6])) return fail(`${name}'s metadata is ${describePickleValue(a[6]!)}; only None or {} is accepted`);

  const numel = shape.reduce((x, y) => x * y, 1);
  if (!Number.isSafeInteger(numel)) return fail(`a tensor of size [${shape}] has too many elements`);
  if (numel > 0) {
    let last = offset;
    for (let i = 0; i < shape.length; i++) last += (shape[i]! - 1) * stride[i]!;
    if (!Number.isSafeInteger(last) || last >= storage.numel) {
      return fail(
        `a tensor of size [${shape}], stride [${stride}] at offset ${offset} reaches element ${last} of ${storage.describe()}, ` +
          'past its end (corrupt or hostile file)',
      );
    }
    if (numel > Math.max(storage.numel, MAX_EXPANDED_ELEMENTS)) {
      return fail(`a tensor of size [${shape}] repeats the ${storage.numel} elements of ${storage.describe()} into ${numel}; refused above ${MAX_EXPANDED_ELEMENTS}`);
    }
  }
  return new TorchTensor(storage, offset, shape, stride);
}

/** torch._utils._rebuild_parameter(data, requires_grad, backward_hooks): the tensor itself. */
function rebuildParameter(args: PickleTuple, fail: (p: string) => never): TorchTensor {
  const a = args.items;
  const name = 'torch._utils._rebuild_parameter';
  if (a.length !== 3) return fail(`${name} is called with ${a.length} arguments; it takes (data, requires_grad, backward_hooks)`);
  if (!(a[0] instanceof TorchTensor)) return fail(`${name}'s data is ${describePickleValue(a[0]!)}, not a tensor`);
  if (typeof a[1] !== 'boolean') return fail(`${name}'s requires_grad is ${describePickleValue(a[1]!)}, not a bool`);
  if (!isEmptyDict(a[2])) return fail(`${name}'s backward_hooks is ${describePickleValue(a[2]!)}; torch.save writes an empty OrderedDict`);
  return a[0];
}

/** The name -> tensor map of a state_dict pickle, or a WeightsError saying what the file holds instead. */
export function stateDictTensors(value: PickleValue, what: string): Map<string, TorchTensor> {
  if (!(value instanceof PickleDict)) {
    throw new WeightsError(`${what}: the file holds ${describePickleValue(value)}, not a state_dict (a dict of tensors); save model.state_dict()`);
  }
  const tensors = new Map<string, TorchTensor>();
  const other: string[] = [];
  for (const [key, item] of value.entries) {
    if (typeof key === 'string' && item instanceof TorchTensor) tensors.set(key, item);
    else other.push(`${typeof key === 'string' ? key : String(key)} (${describePickleValue(item)})`);
  }
  if (other.length > 0) {
    throw new WeightsError(
      `${what}: not a plain state_dict: ${other.length} of its ${value.entries.size} entries are not named tensors: ${other.slice(0, 5).join(', ')}${other.length > 5 ? ', ...' : ''}. ` +
        'A training checkpoint (epoch, optimizer, a nested state_dict) is not read: save model.state_dict() alone',
    );
  }
  return tensors;
}
