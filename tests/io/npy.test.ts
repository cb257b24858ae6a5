import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NpyError } from '../../src/errors';
import { encodeNpy, readNpy, readNpySync, writeNpy, writeNpySync } from '../../src/io/npy';
import { fixturesDir, fixturesSkipReason } from '../helpers/fixtures';
import { concat, tempDir } from '../weights/builders';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** An .npy v1 file with a literal header dict and data bytes (header padded like numpy). */
function npyBytes(dict: string, data: Uint8Array, major = 1): Uint8Array {
  const preamble = major === 1 ? 10 : 12;
  const total = Math.ceil((preamble + dict.length + 1) / 64) * 64;
  const header = dict + ' '.repeat(total - preamble - dict.length - 1) + '\n';
  const pre = new Uint8Array(preamble);
  pre.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(pre.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  return concat([pre, new TextEncoder().encode(header), data]);
}

function expectNpyError(bytes: Uint8Array, fragment: string | RegExp): void {
  let caught: unknown = null;
  try {
    readNpySync(bytes);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(NpyError);
  expect((caught as NpyError).code).toBe('E_NPY');
  expect((caught as Error).message).toMatch(fragment);
}

describe('npy round trip (exact: raw float bytes are copied)', () => {
  it('float32 [2,3] through a file', async () => {
    const data = Float32Array.from([1, -2, 3.5, 1e-40, -0, 6e30]);
    const file = path.join(tmp.dir, 'a.npy');
    await writeNpy(file, data, [2, 3]);
    const back = readNpySync(file);
    expect(back.shape).toEqual([2, 3]);
    expect(back.data).toBeInstanceOf(Float32Array);
    expect(back.data).toEqual(data);
    expect(readFileSync(file).length % 64).toBe(8 * 3); // 128-byte header + 24 data bytes
  });

  it('readNpy / writeNpy return Promises, readNpySync / writeNpySync block; all four agree', async () => {
    const data = Float64Array.from([1.5, -2, Math.PI]);
    const file = path.join(tmp.dir, 'pair.npy');
    const written = writeNpy(file, data, [3]);
    expect(written).toBeInstanceOf(Promise);
    await written;
    const read = readNpy(file);
    expect(read).toBeInstanceOf(Promise);
    expect((await read).data).toEqual(data);
    const syncFile = path.join(tmp.dir, 'pair-sync.npy');
    expect(writeNpySync(syncFile, data, [3])).toBeUndefined();
    expect(readFileSync(syncFile)).toEqual(readFileSync(file));
    expect(readNpySync(syncFile)).toEqual(await readNpy(readFileSync(file)));
    await expect(readNpy(path.join(tmp.dir, 'none.npy'))).rejects.toThrow(/cannot read .*none\.npy/);
    expect(() => writeNpySync(path.join(tmp.dir, 'no', 'dir.npy'), data, [3])).toThrow(/cannot write .*dir\.npy/);
  });

  it('float64, 1-d and 0-d shapes', () => {
    const one = readNpySync(encodeNpy(Float64Array.from([Math.PI, -1]), [2]));
    expect(one.shape).toEqual([2]);
    expect([...one.data]).toEqual([Math.PI, -1]);
    const scalar = readNpySync(encodeNpy(Float32Array.from([7]), []));
    expect(scalar.shape).toEqual([]);
    expect([...scalar.data]).toEqual([7]);
  });

  it('the header is what numpy writes: 64-byte aligned, (n,) for 1-d', () => {
    const text = new TextDecoder('latin1').decode(encodeNpy(new Float32Array(5), [5]).subarray(10, 128));
    expect(text.length).toBe(118); // 10-byte preamble + 118 = 128, a multiple of 64
    expect(text.endsWith('\n')).toBe(true);
    expect(text.startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }")).toBe(true);
  });

  it('v2 and v3 headers are read', () => {
    const data = new Uint8Array(Float32Array.from([1, 2]).buffer);
    expect([...readNpySync(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data, 2)).data]).toEqual([1, 2]);
    expect([...readNpySync(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data, 3)).data]).toEqual([1, 2]);
  });

  it('encodeNpy refuses a shape that does not match the data', () => {
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(NpyError);
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow('shape [2, 3] holds 6 values, but the data has 5');
    expect(() => encodeNpy(new Float32Array(1), [-1])).toThrow('must be non-negative integers');
  });
});

describe('readNpySync rejects (one test per problem)', () => {
  const f4x2 = new Uint8Array(8);
  it('bytes that are not .npy', () => expectNpyError(new TextEncoder().encode('hello world!'), /not a .npy file/));
  it('an unknown format version', () => expectNpyError(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4x2, 4), /format version 4.0 is not supported/));
  it('fortran order', () =>
    expectNpyError(npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new Uint8Array(16)), /found fortran_order True; only little-endian float32 '<f4' or float64 '<f8' in C order is read: save np.ascontiguousarray/));
  it('big-endian floats', () =>
    expectNpyError(npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", f4x2), /found big-endian float '>f4'; convert with arr.astype\('<f4'\)/));
  it('integer dtypes', () =>
    expectNpyError(npyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", f4x2), /found integer dtype '<i8'; convert with arr.astype\(np.float32\); only/));
  it('float16', () => expectNpyError(npyBytes("{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", f4x2), /found float16 '<f2'/));
  it('structured dtypes', () =>
    expectNpyError(npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", f4x2), /found a structured dtype/));
  it('truncated data', () =>
    expectNpyError(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f4x2), /truncated: shape \(3\) of <f4 needs 12 data bytes, found 8/));
  it('extra data', () =>
    expectNpyError(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", f4x2), /found 8 data bytes after the header, but shape \(1\) of <f4 needs exactly 4/));
  it('a header length past the end', () => {
    const bytes = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4x2).slice(0, 40);
    expectNpyError(bytes, /the header says it has 118 bytes, but the file ends after 30/);
  });
  it('a shape entry beyond 2^53 (inexact; with a 0 dimension the empty data would pass)', () =>
    expectNpyError(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 9007199254740993), }", new Uint8Array(0)), /shape entry '9007199254740993' is not a non-negative integer below 2\^53/));
  it('a header without a shape', () => expectNpyError(npyBytes("{'descr': '<f4', 'fortran_order': False, }", f4x2), /no 'shape' tuple/));
  it('a missing file', () => expect(() => readNpySync(path.join(tmp.dir, 'none.npy'))).toThrow(/cannot read .*none\.npy/));
});

describe.skipIf(fixturesDir() === null)(`npy fixtures${fixturesSkipReason()}`, () => {
  it('reads plain/inception_v4_2x299_out_f64.npy as [2,1000] float64', () => {
    const arr = readNpySync(path.join(fixturesDir() as string, 'plain', 'inception_v4_2x299_out_f64.npy'));
    expect(arr.shape).toEqual([2, 1000]);
    expect(arr.data).toBeInstanceOf(Float64Array);
    // README "Health of the reference outputs": plain v4 2x299 mean 0.115, std 2.479 (3 digits given).
    const values = [...arr.data];
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    expect(mean).toBeCloseTo(0.115, 3);
    expect(std).toBeCloseTo(2.479, 3);
  });

  it('re-encoding a numpy-written float32 file gives the same bytes', () => {
    const file = path.join(fixturesDir() as string, 'plain', 'inception_v4_2x299_out_f32.npy');
    const arr = readNpySync(file);
    expect(arr.data).toBeInstanceOf(Float32Array);
    expect(Buffer.from(encodeNpy(arr.data, arr.shape)).equals(readFileSync(file))).toBe(true);
  });
});
