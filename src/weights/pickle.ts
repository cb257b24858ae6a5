/**
 * A restricted unpickler: it reads the pickle opcodes that torch.save writes for a state_dict
 * (protocols 2 to 5) and nothing else. It never imports or calls anything: a global is only a
 * name handed to `hooks.global`, which accepts it or throws, and REDUCE / BUILD / BINPERSID go
 * to hooks that build plain values. Every length is checked against the bytes that are left
 * before anything is allocated, and the memo, the stack and the MARK nesting are bounded, so a
 * hostile or truncated pickle ends in a WeightsError, never in a hang or a large allocation.
 *
 * Opcode reference: CPython Lib/pickletools.py (the names and argument formats used below).
 */
import { WeightsError } from '../errors';

/** Everything a pickle can evaluate to here. */
export type PickleValue = null | boolean | number | bigint | string | Uint8Array | PickleTuple | PickleList | PickleDict | PickleOpaque;

/** Values the hooks create (a global, a storage, a tensor). */
export abstract class PickleOpaque {
  /** A few words for error messages, e.g. "the global torch.FloatStorage". */
  abstract describe(): string;
}

export class PickleTuple {
  constructor(readonly items: readonly PickleValue[]) {}
}

export class PickleList {
  readonly items: PickleValue[] = [];
}

/** Keys a dict may have here: Python's hashable scalars. */
export type PickleKey = string | number | bigint | boolean | null;

export class PickleDict {
  readonly entries = new Map<PickleKey, PickleValue>();
  /** collections.OrderedDict (true) or a plain dict. */
  constructor(readonly ordered: boolean) {}
}

export interface PickleHooks {
  /** GLOBAL / STACK_GLOBAL: the value of `module.name`, or a WeightsError naming it. */
  global(module: string, name: string): PickleValue;
  /** REDUCE: callable(*args). */
  call(callable: PickleValue, args: PickleTuple): PickleValue;
  /** BUILD: target.__setstate__(state); the target stays on the stack. */
  build(target: PickleValue, state: PickleValue): void;
  /** BINPERSID: the object a persistent id stands for. */
  persistentLoad(pid: PickleValue): PickleValue;
}

/** Hard limits; state_dicts of these networks stay far below every one of them. */
export const PICKLE_LIMITS = {
  /** Memo entries (a 716-tensor state_dict uses about 8,000). */
  memoEntries: 1 << 18,
  /** Items on the stack, all MARK levels together (a state_dict needs about 20). */
  stackItems: 1 << 16,
  /** Nested MARKs (a state_dict nests 3). */
  markDepth: 64,
  /** Bytes of one string or bytes object (tensor names are under 100). */
  stringBytes: 1 << 20,
  /** Bytes of one LONG1/LONG4 integer (the legacy magic number needs 10). */
  longBytes: 16,
  /** Characters of a GLOBAL module or name line. */
  globalLine: 256,
} as const;

/** Thrown when the pickle runs past the end of `bytes` but the caller said more may follow. */
export class PickleNeedsMoreBytes extends Error {
  constructor() {
    super('the pickle continues past the bytes read so far');
    this.name = 'PickleNeedsMoreBytes';
  }
}

export interface UnpickleOptions {
  /** Named in every error, e.g. "model.pt (data.pkl)". */
  readonly what: string;
  /** False when `bytes` is only the start of a longer file: running off the end then throws PickleNeedsMoreBytes. */
  readonly complete: boolean;
}

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

const OPCODE_NAMES: Readonly<Record<number, string>> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET',
  0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

/** Short description of a value for error messages (never recursive). */
export function describePickleValue(value: PickleValue): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number' || typeof value === 'bigint') return `the int ${value}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)}`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (value instanceof PickleTuple) return `a tuple of ${value.items.length}`;
  if (value instanceof PickleList) return `a list of ${value.items.length}`;
  if (value instanceof PickleDict) return `${value.ordered ? 'an OrderedDict' : 'a dict'} of ${value.entries.size}`;
  return value.describe();
}

/**
 * Runs the pickle that starts at `start`; returns its value and the offset just after its STOP.
 */
export function unpickle(bytes: Uint8Array, start: number, hooks: PickleHooks, options: UnpickleOptions): { value: PickleValue; end: number } {
  return new Unpickler(bytes, start, hooks, options).run();
}

class Unpickler {
  private pos: number;
  private opcodeAt = 0;
  private stack: StackItem[] = [];
  private markDepth = 0;
  private readonly memo = new Map<number, PickleValue>();
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly hooks: PickleHooks,
    private readonly options: UnpickleOptions,
  ) {
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(problem: string): never {
    throw new WeightsError(`${this.options.what}: refused at byte ${this.opcodeAt} of the pickle: ${problem}`);
  }

  /** Makes sure `n` more bytes exist. */
  private need(n: number, what: string): void {
    if (this.pos + n <= this.bytes.length) return;
    if (!this.options.complete) throw new PickleNeedsMoreBytes();
    this.fail(`the file is truncated: ${what} needs ${n} bytes but ${this.bytes.length - this.pos} are left`);
  }

  private u8(): number {
    this.need(1, 'the next opcode');
    return this.bytes[this.pos++]!;
  }

  private u16(): number {
    this.need(2, 'a 2-byte argument');
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  private u32(): number {
    this.need(4, 'a 4-byte argument');
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  private i32(): number {
    this.need(4, 'a 4-byte argument');
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** A u64 length, refused above `limit` before anything is read. */
  private length64(limit: number, what: string): number {
    this.need(8, 'an 8-byte length');
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(limit)) this.fail(`${what} declares ${v} bytes, more than the ${limit}-byte limit`);
    return Number(v);
  }

  /** `n` raw bytes, with `n` checked against the limit and the bytes left first. */
  private take(n: number, limit: number, what: string): Uint8Array {
    if (n > limit) this.fail(`${what} declares ${n} bytes, more than the ${limit}-byte limit`);
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private text(n: number, what: string, encoding: 'utf-8' | 'latin1'): string {
    const raw = this.take(n, PICKLE_LIMITS.stringBytes, what);
    if (encoding === 'latin1') return String.fromCharCode(...raw);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
  }

  /** A newline-terminated ASCII line (GLOBAL's module and name). */
  private line(what: string): string {
    const limit = PICKLE_LIMITS.globalLine;
    let end = this.pos;
    while (end < this.bytes.length && end - this.pos <= limit && this.bytes[end] !== 0x0a) end++;
    if (end >= this.bytes.length) {
      if (!this.options.complete) throw new PickleNeedsMoreBytes();
      this.fail(`the file is truncated inside ${what}`);
    }
    if (this.bytes[end] !== 0x0a) this.fail(`${what} is longer than ${limit} characters`);
    const raw = this.bytes.subarray(this.pos, end);
    if (!raw.every((b) => b >= 0x20 && b < 0x7f)) this.fail(`${what} is not printable ASCII`);
    this.pos = end + 1;
    return String.fromCharCode(...raw);
  }

  private push(value: PickleValue): void {
    if (this.stack.length >= PICKLE_LIMITS.stackItems) this.fail(`the stack holds more than ${PICKLE_LIMITS.stackItems} items`);
    this.stack.push(value);
  }

  private pop(): PickleValue {
    const value = this.stack.pop();
    if (value === undefined) this.fail('an opcode needs a value but the stack is empty');
    if (value === MARK) this.fail('an opcode needs a value but found a MARK');
    return value as PickleValue;
  }

  private top(): PickleValue {
    const value = this.stack[this.stack.length - 1];
    if (value === undefined || value === MARK) this.fail('an opcode needs a value on the stack');
    return value as PickleValue;
  }

  /** The items above the topmost MARK, which is removed. */
  private popMark(): PickleValue[] {
    let i = this.stack.length - 1;
    while (i >= 0 && this.stack[i] !== MARK) i--;
    if (i < 0) this.fail('an opcode needs a MARK but there is none');
    const items = this.stack.splice(i + 1) as PickleValue[];
    this.stack.pop();
    this.markDepth--;
    return items;
  }

  private put(index: number): void {
    if (!this.memo.has(index) && this.memo.size >= PICKLE_LIMITS.memoEntries) this.fail(`the memo holds more than ${PICKLE_LIMITS.memoEntries} entries`);
    this.memo.set(index, this.top());
  }

  private get(index: number): void {
    const value = this.memo.get(index);
    if (value === undefined) this.fail(`memo entry ${index} is read but was never written`);
    this.push(value);
  }

  private key(value: PickleValue): PickleKey {
    if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return value;
    return this.fail(`a dict key must be a string or a number, found ${describePickleValue(value)}`);
  }

  private dictTarget(value: PickleValue): PickleDict {
    if (!(value instanceof PickleDict)) this.fail(`SETITEM(S) needs a dict, found ${describePickleValue(value)}`);
    return value as PickleDict;
  }

  private listTarget(value: PickleValue): PickleList {
    if (!(value instanceof PickleList)) this.fail(`APPEND(S) needs a list, found ${describePickleValue(value)}`);
    return value as PickleList;
  }

  private setItems(dict: PickleDict, items: readonly PickleValue[]): void {
    if (items.length % 2 !== 0) this.fail('SETITEMS needs key/value pairs but found an odd number of items');
    for (let i = 0; i < items.length; i += 2) dict.entries.set(this.key(items[i]!), items[i + 1]!);
  }

  private integer(bytes: Uint8Array): number | bigint {
    if (bytes.length === 0) return 0;
    let v = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
    if (bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(8 * bytes.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  run(): { value: PickleValue; end: number } {
    for (;;) {
      this.opcodeAt = this.pos;
      const op = this.u8();
      switch (op) {
        case 0x80: { // PROTO
          const version = this.u8();
          if (version < 2 || version > 5) this.fail(`pickle protocol ${version}; torch.save writes protocols 2 to 5`);
          break;
        }
        case 0x95: // FRAME: a length hint; the bytes follow inline.
          this.length64(Number.MAX_SAFE_INTEGER, 'FRAME');
          break;
        case 0x2e: { // STOP
          const value = this.pop();
          if (this.stack.length !== 0) this.fail(`STOP leaves ${this.stack.length} more items on the stack`);
          return { value, end: this.pos };
        }
        case 0x28: // MARK
          if (this.markDepth >= PICKLE_LIMITS.markDepth) this.fail(`MARKs are nested more than ${PICKLE_LIMITS.markDepth} deep`);
          this.markDepth++;
          if (this.stack.length >= PICKLE_LIMITS.stackItems) this.fail(`the stack holds more than ${PICKLE_LIMITS.stackItems} items`);
          this.stack.push(MARK);
          break;
        case 0x30: // POP
          if (this.stack[this.stack.length - 1] === MARK) this.popMark();
          else this.pop();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.push(this.top());
          break;
        case 0x4e: this.push(null); break; // NONE
        case 0x88: this.push(true); break; // NEWTRUE
        case 0x89: this.push(false); break; // NEWFALSE
        case 0x4a: this.push(this.i32()); break; // BININT
        case 0x4b: this.push(this.u8()); break; // BININT1
        case 0x4d: this.push(this.u16()); break; // BININT2
        case 0x8a: this.push(this.integer(this.take(this.u8(), PICKLE_LIMITS.longBytes, 'LONG1'))); break;
        case 0x8b: { // LONG4
          const n = this.i32();
          if (n < 0) this.fail('LONG4 declares a negative length');
          this.push(this.integer(this.take(n, PICKLE_LIMITS.longBytes, 'LONG4')));
          break;
        }
        case 0x47: { // BINFLOAT (big-endian float64)
          this.need(8, 'BINFLOAT');
          this.push(this.view.getFloat64(this.pos, false));
          this.pos += 8;
          break;
        }
        case 0x58: this.push(this.text(this.u32(), 'BINUNICODE', 'utf-8')); break;
        case 0x8c: this.push(this.text(this.u8(), 'SHORT_BINUNICODE', 'utf-8')); break;
        case 0x8d: this.push(this.text(this.length64(PICKLE_LIMITS.stringBytes, 'BINUNICODE8'), 'BINUNICODE8', 'utf-8')); break;
        case 0x55: this.push(this.text(this.u8(), 'SHORT_BINSTRING', 'latin1')); break;
        case 0x54: { // BINSTRING
          const n = this.i32();
          if (n < 0) this.fail('BINSTRING declares a negative length');
          this.push(this.text(n, 'BINSTRING', 'latin1'));
          break;
        }
        case 0x43: this.push(this.take(this.u8(), PICKLE_LIMITS.stringBytes, 'SHORT_BINBYTES').slice()); break;
        case 0x42: this.push(this.take(this.u32(), PICKLE_LIMITS.stringBytes, 'BINBYTES').slice()); break;
        case 0x8e: this.push(this.take(this.length64(PICKLE_LIMITS.stringBytes, 'BINBYTES8'), PICKLE_LIMITS.stringBytes, 'BINBYTES8').slice()); break;
        case 0x29: this.push(new PickleTuple([])); break; // EMPTY_TUPLE
        case 0x74: this.push(new PickleTuple(this.popMark())); break; // TUPLE
        case 0x85: this.push(new PickleTuple([this.pop()])); break; // TUPLE1
        case 0x86: { // TUPLE2
          const b = this.pop();
          const a = this.pop();
          this.push(new PickleTuple([a, b]));
          break;
        }
        case 0x87: { // TUPLE3
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          this.push(new PickleTuple([a, b, c]));
          break;
        }
        case 0x5d: this.push(new PickleList()); break; // EMPTY_LIST
        case 0x6c: { // LIST
          const list = new PickleList();
          list.items.push(...this.popMark());
          this.push(list);
          break;
        }
        case 0x61: { // APPEND
          const value = this.pop();
          this.listTarget(this.top()).items.push(value);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.popMark();
          this.listTarget(this.top()).items.push(...items);
          break;
        }
        case 0x7d: this.push(new PickleDict(false)); break; // EMPTY_DICT
        case 0x64: { // DICT
          const dict = new PickleDict(false);
          this.setItems(dict, this.popMark());
          this.push(dict);
          break;
        }
        case 0x73: { // SETITEM
          const value = this.pop();
          const key = this.key(this.pop());
          this.dictTarget(this.top()).entries.set(key, value);
          break;
        }
        case 0x75: { // SETITEMS
          const items = this.popMark();
          this.setItems(this.dictTarget(this.top()), items);
          break;
        }
        case 0x71: this.put(this.u8()); break; // BINPUT
        case 0x72: this.put(this.u32()); break; // LONG_BINPUT
        case 0x94: this.put(this.memo.size); break; // MEMOIZE
        case 0x68: this.get(this.u8()); break; // BINGET
        case 0x6a: this.get(this.u32()); break; // LONG_BINGET
        case 0x63: { // GLOBAL
          const module = this.line('the GLOBAL module name');
          const name = this.line('the GLOBAL name');
          this.push(this.hooks.global(module, name));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') {
            this.fail(`STACK_GLOBAL needs two strings, found ${describePickleValue(module)} and ${describePickleValue(name)}`);
          }
          this.push(this.hooks.global(module as string, name as string));
          break;
        }
        case 0x52: { // REDUCE
          const args = this.pop();
          const callable = this.pop();
          if (!(args instanceof PickleTuple)) this.fail(`REDUCE needs a tuple of arguments, found ${describePickleValue(args)}`);
          this.push(this.hooks.call(callable, args as PickleTuple));
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop();
          this.hooks.build(this.top(), state);
          break;
        }
        case 0x51: this.push(this.hooks.persistentLoad(this.pop())); break; // BINPERSID
        default: {
          const name = OPCODE_NAMES[op];
          this.fail(
            name === undefined
              ? `0x${op.toString(16).padStart(2, '0')} is not a pickle opcode (corrupt file, or not a pickle)`
              : `opcode ${name} is not used by torch.save for a state_dict, so it is refused`,
          );
        }
      }
    }
  }
}
