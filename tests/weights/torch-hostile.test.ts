/**
 * Hostile and broken .pt files: each must be refused with a WeightsError that says why, with
 * nothing executed, no hang and no large allocation. Bound for every case: refused within
 * REFUSE_MS (2 s; a correct refusal takes about a millisecond, the memo flood of 2^18 + 1 entries
 * ~0.1 s alone and up to ~0.5 s with the whole suite on this shared 2-core machine, so the bound
 * only catches a hang or a huge allocation). Declared sizes in the "huge" cases are 4 GiB to 2^60 bytes: allocating them
 * would throw a RangeError or take far longer than the bound, so a WeightsError within the
 * bound shows that the size was refused before anything was allocated.
 *
 * Sources: torch.save itself wrote the posix.system / eval files (tests/fixtures/pt); the others
 * are pickles built here opcode by opcode (names from CPython's pickletools).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WeightsError } from '../../src/errors';
import { PICKLE_LIMITS } from '../../src/weights/pickle';
import { MAX_EXPANDED_ELEMENTS } from '../../src/weights/torch-pickle';
import { TorchCheckpointFile } from '../../src/weights/torch-file';
import { sniffCheckpointFormat } from '../../src/weights/format';
import { writeZipRecords } from '../helpers/torch-writer';
import { tempDir } from './builders';

const FIXTURES = path.resolve(__dirname, '../fixtures/pt');
const REFUSE_MS = 2000;
/** The file the hostile fixtures' payloads would create if anything ran them. */
const PWNED = '/tmp/inception-pt-pwned';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
beforeAll(() => rmSync(PWNED, { force: true }));

let counter = 0;

/** Opens `file` and expects a WeightsError matching `fragment` within REFUSE_MS. */
async function expectRefused(file: string, fragment: string | RegExp): Promise<WeightsError> {
  const format = await sniffCheckpointFormat(file);
  expect(format).not.toBe('other');
  const started = performance.now();
  const error = await TorchCheckpointFile.open(file, format as 'torch-zip' | 'torch-pickle').then(
    async (opened) => {
      await opened.close();
      return null;
    },
    (e: unknown) => e,
  );
  const elapsed = performance.now() - started;
  expect(error, `${path.basename(file)} was accepted`).toBeInstanceOf(WeightsError);
  expect((error as Error).message).toMatch(fragment);
  expect((error as Error).message).toContain(file);
  expect(elapsed).toBeLessThan(REFUSE_MS);
  expect(existsSync(PWNED)).toBe(false);
  return error as WeightsError;
}

/** A zip checkpoint whose data.pkl is `pickle` (plus optional storage records). */
async function zipWithPickle(pickle: Uint8Array, storages: Record<string, Uint8Array> = {}): Promise<string> {
  const file = path.join(tmp.dir, `hostile-${counter++}.pt`);
  await writeZipRecords(file, [['archive/data.pkl', pickle], ...Object.entries(storages).map(([k, v]) => [`archive/data/${k}`, v] as const), ['archive/version', new TextEncoder().encode('3\n')]]);
  return file;
}

const ascii = (s: string): number[] => [...new TextEncoder().encode(s)];
const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const binunicode = (s: string): number[] => [0x58, ...u32(ascii(s).length), ...ascii(s)];
const shortUnicode = (s: string): number[] => [0x8c, ascii(s).length, ...ascii(s)];
const global = (module: string, name: string): number[] => [0x63, ...ascii(`${module}\n${name}\n`)];
const pickle = (...ops: number[][]): Uint8Array => Uint8Array.from([0x80, 2, ...ops.flat(), 0x2e]);
const EMPTY_TUPLE = [0x29];
const REDUCE = [0x52];
const MARK = [0x28];
const TUPLE = [0x74];

/** (storage, 0, size, stride, False, OrderedDict()) for a FloatStorage '0' of `numel`, as _rebuild_tensor_v2's args. */
function tensorArgs(numel: number, size: number[], stride: number[]): number[] {
  const ints = (xs: number[]): number[] => [...MARK, ...xs.flatMap((x) => [0x4a, ...u32(x)]), ...TUPLE];
  return [
    ...MARK,
    ...MARK, ...binunicode('storage'), ...global('torch', 'FloatStorage'), ...binunicode('0'), ...binunicode('cpu'), 0x4a, ...u32(numel), ...TUPLE, 0x51,
    0x4b, 0,
    ...ints(size),
    ...ints(stride),
    0x89,
    ...global('collections', 'OrderedDict'), ...EMPTY_TUPLE, ...REDUCE,
    ...TUPLE,
  ];
}

function stateDict(...entries: Array<[string, number[]]>): Uint8Array {
  return pickle([0x7d], ...entries.map(([name, value]) => [...binunicode(name), ...value, 0x73]));
}

describe('hostile .pt files are refused, nothing runs', () => {
  it('posix.system, as torch.save writes it (zip and legacy formats)', async () => {
    for (const name of ['evil_posix_system_zip.pt', 'evil_posix_system_legacy.pt']) {
      const error = await expectRefused(path.join(FIXTURES, name), "refused the global 'posix.system'");
      expect(error.message).toContain('collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter');
    }
  });

  it('eval: builtins.eval (GLOBAL) and __builtin__.eval (as torch.save wrote it)', async () => {
    await expectRefused(await zipWithPickle(stateDict(['w', [...global('builtins', 'eval'), ...binunicode('1+1'), 0x85, ...REDUCE]])), "refused the global 'builtins.eval'");
    await expectRefused(path.join(FIXTURES, 'evil_builtins_eval_zip.pt'), "refused the global '__builtin__.eval'");
  });

  it('STACK_GLOBAL naming a disallowed target (os.system, protocol 4)', async () => {
    const p = Uint8Array.from([0x80, 4, 0x7d, ...shortUnicode('w'), ...shortUnicode('os'), ...shortUnicode('system'), 0x93, ...shortUnicode('id'), 0x85, ...REDUCE, 0x73, 0x2e]);
    await expectRefused(await zipWithPickle(p), "refused the global 'os.system'");
  });

  it('STACK_GLOBAL with something other than two strings', async () => {
    await expectRefused(await zipWithPickle(Uint8Array.from([0x80, 4, 0x4b, 1, 0x4b, 2, 0x93, 0x2e])), 'STACK_GLOBAL needs two strings, found the int 1 and the int 2');
  });

  it('a dangerous global under an allowed module name (torch.load, torch._utils._import_dotted_name)', async () => {
    await expectRefused(await zipWithPickle(stateDict(['w', [...global('torch', 'load'), ...binunicode('x'), 0x85, ...REDUCE]])), "refused the global 'torch.load'");
    await expectRefused(await zipWithPickle(stateDict(['w', [...global('torch._utils', '_import_dotted_name'), ...binunicode('os.system'), 0x85, ...REDUCE]])), "refused the global 'torch._utils._import_dotted_name'");
  });

  it('allowed globals called with wrong arguments', async () => {
    const rebuild = global('torch._utils', '_rebuild_tensor_v2');
    const cases: Array<[number[], string | RegExp]> = [
      [[...rebuild, ...binunicode('a'), ...binunicode('b'), 0x86, ...REDUCE], 'torch._utils._rebuild_tensor_v2 is called with 2 arguments'],
      [[...rebuild, ...MARK, ...binunicode('not a storage'), 0x4b, 0, ...EMPTY_TUPLE, ...EMPTY_TUPLE, 0x89, 0x7d, ...TUPLE, ...REDUCE], "_rebuild_tensor_v2's storage is the string \"not a storage\", not a storage"],
      [[...global('collections', 'OrderedDict'), ...binunicode('x'), 0x85, ...REDUCE], 'collections.OrderedDict is called with 1 arguments'],
      [[...global('torch', 'FloatStorage'), 0x4b, 4, 0x85, ...REDUCE], 'torch.FloatStorage is called; storages are only referenced by persistent ids'],
      [[...global('torch._utils', '_rebuild_parameter'), 0x4b, 1, 0x88, 0x7d, 0x87, ...REDUCE], "_rebuild_parameter's data is the int 1, not a tensor"],
      [[...rebuild.slice(0, 0), ...binunicode('x'), ...EMPTY_TUPLE, ...REDUCE], 'REDUCE calls the string "x", which is not a function'],
    ];
    for (const [value, fragment] of cases) await expectRefused(await zipWithPickle(stateDict(['w', value])), fragment);
  });

  it('a tensor with a non-empty backward_hooks dict, or a BUILD that sets anything but _metadata', async () => {
    const hooks = [...global('torch._utils', '_rebuild_tensor_v2'), ...MARK,
      ...MARK, ...binunicode('storage'), ...global('torch', 'FloatStorage'), ...binunicode('0'), ...binunicode('cpu'), 0x4b, 1, ...TUPLE, 0x51,
      0x4b, 0, 0x4b, 1, 0x85, 0x4b, 1, 0x85, 0x89, 0x7d, ...binunicode('hook'), 0x4b, 1, 0x73, ...TUPLE, ...REDUCE];
    await expectRefused(await zipWithPickle(stateDict(['w', hooks]), { '0': new Uint8Array(4) }), "backward_hooks is a dict of 1; torch.save writes an empty OrderedDict");
    const build = pickle(global('collections', 'OrderedDict'), EMPTY_TUPLE, REDUCE, [0x7d], binunicode('__class__'), [0x4b, 1, 0x73, 0x62]);
    await expectRefused(await zipWithPickle(build), "only {'_metadata': ...} is accepted");
  });

  it('memo abuse: reading an unwritten memo slot, and more memo entries than the limit', async () => {
    await expectRefused(await zipWithPickle(pickle([0x68, 7])), 'memo entry 7 is read but was never written');
    const puts = PICKLE_LIMITS.memoEntries + 1;
    const flood = new Uint8Array(2 + 2 + 5 * puts + 1);
    flood.set([0x80, 2, 0x4b, 1]);
    for (let i = 0; i < puts; i++) flood.set([0x72, ...u32(i)], 4 + 5 * i); // LONG_BINPUT i
    flood[flood.length - 1] = 0x2e;
    await expectRefused(await zipWithPickle(flood), `the memo holds more than ${PICKLE_LIMITS.memoEntries} entries`);
  });

  it('stack abuse: DUP past the stack limit, MARKs nested past the depth limit, an opcode with an empty stack', async () => {
    await expectRefused(await zipWithPickle(pickle([0x4e], new Array<number>(PICKLE_LIMITS.stackItems).fill(0x32))), `the stack holds more than ${PICKLE_LIMITS.stackItems} items`);
    await expectRefused(await zipWithPickle(pickle(new Array<number>(PICKLE_LIMITS.markDepth + 1).fill(0x28))), `MARKs are nested more than ${PICKLE_LIMITS.markDepth} deep`);
    await expectRefused(await zipWithPickle(pickle(REDUCE)), 'the stack is empty');
  });

  it('opcodes a state_dict never uses (INST, OBJ, NEWOBJ, EXT1, protocol-0 GET) and bytes that are no opcode', async () => {
    for (const [op, name] of [[0x69, 'INST'], [0x6f, 'OBJ'], [0x81, 'NEWOBJ'], [0x82, 'EXT1'], [0x67, 'GET']] as const) {
      await expectRefused(await zipWithPickle(pickle([op])), `opcode ${name} is not used by torch.save for a state_dict`);
    }
    await expectRefused(await zipWithPickle(pickle([0xff])), '0xff is not a pickle opcode');
  });

  it('huge declared sizes: strings, ints, the zip directory, a storage, a tensor view', async () => {
    await expectRefused(await zipWithPickle(pickle([0x58, ...u32(0xffffffff)])), 'BINUNICODE declares 4294967295 bytes, more than the 1048576-byte limit');
    await expectRefused(await zipWithPickle(pickle([0x8d, 0, 0, 0, 0, 0, 0, 0, 0x10])), /BINUNICODE8 declares \d+ bytes/);
    await expectRefused(await zipWithPickle(pickle([0x8b, ...u32(0x7fffffff)])), 'LONG4 declares 2147483647 bytes');
    // A storage declaring 2^31 elements whose record holds 4 bytes.
    await expectRefused(
      await zipWithPickle(stateDict(['w', [...global('torch._utils', '_rebuild_tensor_v2'), ...tensorArgs(0x7fffffff, [1], [1]), ...REDUCE]]), { '0': new Uint8Array(4) }),
      'needs 8589934588 bytes, but its record archive/data/0 has 4',
    );
    // A view reaching far past its 1-element storage.
    await expectRefused(
      await zipWithPickle(stateDict(['w', [...global('torch._utils', '_rebuild_tensor_v2'), ...tensorArgs(1, [1 << 20, 1 << 20], [1 << 20, 1]), ...REDUCE]]), { '0': new Uint8Array(4) }),
      /reaches element \d+ of storage '0' \(FloatStorage, 1 elements\), past its end/,
    );
    // stride 0 repeating one element 2^30 times (4 GiB as float32).
    await expectRefused(
      await zipWithPickle(stateDict(['w', [...global('torch._utils', '_rebuild_tensor_v2'), ...tensorArgs(1, [1 << 30], [0]), ...REDUCE]]), { '0': new Uint8Array(4) }),
      `into 1073741824; refused above ${MAX_EXPANDED_ELEMENTS}`,
    );
    // A central directory declaring 2^32-1 bytes.
    const zip = readFileSync(path.join(FIXTURES, 'small_state_zip.pt'));
    const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    zip.writeUInt32LE(0xffffffff - 1, eocd + 12);
    await expectRefused(tmp.file('huge-directory.pt', zip), /central directory declares 4294967294 bytes/);
  });

  it('a legacy file whose storage declares more elements than the file holds', async () => {
    const bytes = readFileSync(path.join(FIXTURES, 'views_legacy.pt'));
    // The first storage's int64 element count follows the five pickles; make it 2^40.
    const at = bytes.length - (30 * 4 + 8) - (4 * 4 + 8) - (12 * 2 + 8);
    expect(bytes.readBigInt64LE(at)).toBe(30n);
    bytes.writeBigInt64LE(1n << 40n, at);
    await expectRefused(tmp.file('legacy-huge.pt', bytes), "is stored with 1099511627776 elements");
  });

  it('truncated files: every prefix of a legacy checkpoint and every 7th prefix of a zip one', async () => {
    for (const [name, step] of [['views_legacy.pt', 1], ['small_state_legacy.pt', 1], ['small_state_zip.pt', 7]] as const) {
      const bytes = readFileSync(path.join(FIXTURES, name));
      const file = path.join(tmp.dir, `cut-${name}`);
      let refused = 0;
      for (let length = 2; length < bytes.length; length += step) {
        tmp.file(`cut-${name}`, bytes.subarray(0, length));
        const format = await sniffCheckpointFormat(file);
        if (format === 'other') continue; // fewer bytes than the magic: not recognised as .pt at all
        const started = performance.now();
        const outcome = await TorchCheckpointFile.open(file, format).then(
          async (f) => {
            await f.close();
            return null;
          },
          (e: unknown) => e,
        );
        expect(performance.now() - started).toBeLessThan(REFUSE_MS);
        expect(outcome, `${name} cut to ${length} of ${bytes.length} bytes was accepted`).toBeInstanceOf(WeightsError);
        refused++;
      }
      expect(refused).toBeGreaterThan(bytes.length / step - 4);
    }
  });
});
