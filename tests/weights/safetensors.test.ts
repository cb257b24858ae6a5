import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsError } from '../../src/errors';
import { SafetensorsFile } from '../../src/weights/safetensors';
import { f32Bytes, rawSafetensors, safetensorsBytes, tempDir } from './builders';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** Opening must reject with a SafetensorsError whose message names the file and contains `fragment`. */
async function expectRejected(bytes: Uint8Array, fragment: string | RegExp): Promise<void> {
  const file = tmp.file(`bad-${Math.random().toString(36).slice(2)}.safetensors`, bytes);
  const error = await SafetensorsFile.open(file).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SafetensorsError);
  expect((error as SafetensorsError).code).toBe('E_SAFETENSORS');
  expect((error as Error).message).toContain(file);
  expect((error as Error).message).toMatch(fragment);
}

function f16Bits(bits: readonly number[]): Uint8Array {
  return new Uint8Array(Uint16Array.from(bits).buffer);
}

describe('SafetensorsFile reads', () => {
  it('F32, F16, BF16 and I64 tensors, metadata and entries', async () => {
    const bytes = safetensorsBytes(
      {
        w: { dtype: 'F32', shape: [2, 2], bytes: f32Bytes([1, -2.5, 3.25, 1e-30]) },
        // F16: 1.0, -2.0, smallest subnormal 2^-24, largest subnormal, +inf, -inf, NaN (payload 0x201), -0, 65504
        h: { dtype: 'F16', shape: [9], bytes: f16Bits([0x3c00, 0xc000, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x7e01, 0x8000, 0x7bff]) },
        // BF16: 1.0, -3.0 (upper halves of the float32 patterns), +inf
        b: { dtype: 'BF16', shape: [3], bytes: f16Bits([0x3f80, 0xc040, 0x7f80]) },
        n: { dtype: 'I64', shape: [], bytes: new Uint8Array(new BigInt64Array([7n]).buffer) },
        empty: { dtype: 'F32', shape: [0, 4], bytes: new Uint8Array(0) },
      },
      { format: 'pt' },
    );
    const file = await SafetensorsFile.open(tmp.file('ok.safetensors', bytes));
    try {
      expect(file.metadata).toEqual({ format: 'pt' });
      expect([...file.entries.keys()]).toEqual(['w', 'h', 'b', 'n', 'empty']);
      expect(file.entries.get('h')).toEqual({ dtype: 'F16', shape: [9], begin: 16, end: 34 });
      // Exact equality: F32 is copied, F16/BF16 values are all exactly representable in float32.
      expect([...(await file.readFloat32('w'))]).toEqual([...Float32Array.from([1, -2.5, 3.25, 1e-30])]);
      const h = await file.readFloat32('h');
      expect([...h.subarray(0, 6)]).toEqual([1, -2, 2 ** -24, 1023 * 2 ** -24, Infinity, -Infinity]);
      expect(Number.isNaN(h[6])).toBe(true);
      expect(new Uint32Array(h.buffer)[6]).toBe(0x7fc02000); // payload 0x201 << 13 kept
      expect(Object.is(h[7], -0)).toBe(true);
      expect(h[8]).toBe(65504);
      expect([...(await file.readFloat32('b'))]).toEqual([1, -3, Infinity]);
      expect([...(await file.readInt64('n'))]).toEqual([7n]);
      expect((await file.readFloat32('empty')).length).toBe(0);
    } finally {
      await file.close();
    }
  });

  it('refuses reads of the wrong dtype, unknown names and reads after close', async () => {
    const bytes = safetensorsBytes({
      n: { dtype: 'I64', shape: [], bytes: new Uint8Array(8) },
      d: { dtype: 'F64', shape: [1], bytes: new Uint8Array(8) },
      w: { dtype: 'F32', shape: [1], bytes: f32Bytes([1]) },
    });
    const file = await SafetensorsFile.open(tmp.file('dtypes.safetensors', bytes));
    await expect(file.readFloat32('n')).rejects.toThrow(/'n' has dtype I64; only F32, F16, BF16/);
    await expect(file.readFloat32('d')).rejects.toThrow(/'d' has dtype F64/);
    await expect(file.readInt64('w')).rejects.toThrow(/'w' has dtype F32, not I64/);
    await expect(file.readFloat32('nope')).rejects.toThrow(/no tensor named 'nope' \(the file has 3 tensors\)/);
    await file.close();
    await expect(file.readFloat32('w')).rejects.toThrow(SafetensorsError);
    await expect(file.readFloat32('w')).rejects.toThrow(/has been closed/);
  });

  it('reports a missing file as a SafetensorsError', async () => {
    await expect(SafetensorsFile.open(`${tmp.dir}/absent.safetensors`)).rejects.toThrow(/cannot open safetensors file .*ENOENT/);
  });
});

describe('SafetensorsFile rejects (one test per header problem)', () => {
  const good = (extra: Record<string, unknown>): string =>
    JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, ...extra });

  it('a file shorter than 8 bytes', async () => {
    await expectRejected(new Uint8Array([1, 2, 3]), /it has 3 bytes, fewer than the 8-byte header length/);
  });
  it('a header length larger than the file', async () => {
    await expectRejected(rawSafetensors('{}', new Uint8Array(0), 1000n), /header length field says 1000 bytes, but the file has only 2 bytes after it/);
  });
  it('an absurd header length (> 100 MB)', async () => {
    await expectRejected(rawSafetensors('{}', new Uint8Array(0), 2n ** 40n), /says 1099511627776 bytes, more than the 104857600-byte limit/);
  });
  it('a PyTorch zip file', async () => {
    await expectRejected(new Uint8Array([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4, 5]), /is a PyTorch zip checkpoint \(torch.save\), not a safetensors file.*weights convert/);
  });
  it('a header that is not UTF-8', async () => {
    await expectRejected(rawSafetensors(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), /header is not valid UTF-8/);
  });
  it('a header that is not JSON', async () => {
    await expectRejected(rawSafetensors('{"a": '), /header is not valid JSON/);
  });
  it('a header that is not an object', async () => {
    await expectRejected(rawSafetensors('[1,2]'), /header must be a JSON object, but it is an array/);
  });
  it('__metadata__ that is not an object of strings', async () => {
    await expectRejected(rawSafetensors('{"__metadata__":{"format":3}}'), /__metadata__.format must be a string/);
  });
  it('an entry that is not an object', async () => {
    await expectRejected(rawSafetensors('{"a": 5}'), /tensor 'a' must be an object with dtype, shape and data_offsets/);
  });
  for (const field of ['dtype', 'shape', 'data_offsets']) {
    it(`an entry without ${field}`, async () => {
      const entry: Record<string, unknown> = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };
      delete entry[field];
      await expectRejected(rawSafetensors(JSON.stringify({ a: entry }), new Uint8Array(4)), new RegExp(`tensor 'a' has no '${field}'`));
    });
  }
  it('an unknown dtype', async () => {
    await expectRejected(
      rawSafetensors(JSON.stringify({ a: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }), new Uint8Array(16)),
      /tensor 'a' has unknown dtype "F128" \(known: BOOL, /,
    );
  });
  it('a dtype that names an Object.prototype member (toString, constructor) is unknown, not a size', async () => {
    for (const dtype of ['toString', 'constructor', '__proto__']) {
      await expectRejected(
        rawSafetensors(JSON.stringify({ a: { dtype, shape: [1], data_offsets: [0, 4] } }), new Uint8Array(4)),
        new RegExp(`tensor 'a' has unknown dtype "${dtype}"`),
      );
    }
  });
  it('a shape with a negative or fractional dimension', async () => {
    await expectRejected(
      rawSafetensors(JSON.stringify({ a: { dtype: 'F32', shape: [-1, 2], data_offsets: [0, 4] } }), new Uint8Array(4)),
      /tensor 'a' has shape \[-1,2\]; a shape must be a list of non-negative integers/,
    );
    await expectRejected(
      rawSafetensors(JSON.stringify({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }), new Uint8Array(4)),
      /has shape \[1.5\]/,
    );
  });
  it('data_offsets with begin > end, or not a pair of integers', async () => {
    await expectRejected(
      rawSafetensors(JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }), new Uint8Array(8)),
      /tensor 'a' has data_offsets \[8,4\]; expected \[begin, end\] with integers 0 <= begin <= end/,
    );
    await expectRejected(
      rawSafetensors(JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }), new Uint8Array(8)),
      /data_offsets \[0,4,8\]/,
    );
  });
  it('a byte length that is not numel * dtype size', async () => {
    await expectRejected(
      rawSafetensors(JSON.stringify({ a: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 24] } }), new Uint8Array(24)),
      /tensor 'a' \(F16 \[2,3\]\) should hold 6 x 2 = 12 bytes, but its data_offsets \[0, 24\] span 24/,
    );
  });
  it('offsets past the end of the data section (a truncated file)', async () => {
    const header = good({ b: { dtype: 'F32', shape: [4], data_offsets: [4, 20] } });
    const full = rawSafetensors(header, new Uint8Array(20));
    const truncated = full.subarray(0, full.length - 6);
    await expectRejected(
      truncated,
      new RegExp(`is truncated: .*'b' up to byte ${full.length}, so the file should have at least ${full.length} bytes, but it has ${truncated.length}`),
    );
  });
  it('overlapping tensors', async () => {
    const header = good({ b: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
    await expectRejected(rawSafetensors(header, new Uint8Array(8)), /tensors 'a' \[0, 4\] and 'b' \[0, 8\] overlap|tensors 'b' \[0, 8\] and 'a' \[0, 4\] overlap/);
  });

  /** A header of F32 vectors at the given [begin, end) byte ranges, in this order, over `bytes` data bytes. */
  const layout = (ranges: Record<string, [number, number]>): string =>
    JSON.stringify(
      Object.fromEntries(Object.entries(ranges).map(([name, [begin, end]]) => [name, { dtype: 'F32', shape: [(end - begin) / 4], data_offsets: [begin, end] }])),
    );
  it('partially overlapping tensors (one starts inside the other)', async () => {
    await expectRejected(rawSafetensors(layout({ a: [0, 8], b: [4, 12] }), new Uint8Array(12)), /tensors 'a' \[0, 8\] and 'b' \[4, 12\] overlap/);
    // Listed in the other order, and with the overlap a single float.
    await expectRejected(rawSafetensors(layout({ b: [4, 16], a: [0, 8] }), new Uint8Array(16)), /tensors 'a' \[0, 8\] and 'b' \[4, 16\] overlap/);
  });
  it('a tensor contained in another', async () => {
    await expectRejected(rawSafetensors(layout({ a: [0, 16], b: [4, 8] }), new Uint8Array(16)), /tensors 'a' \[0, 16\] and 'b' \[4, 8\] overlap/);
    // Contained and ending where the container ends, with an unrelated tensor after both.
    await expectRejected(
      rawSafetensors(layout({ a: [0, 16], b: [8, 16], c: [16, 20] }), new Uint8Array(20)),
      /tensors 'a' \[0, 16\] and 'b' \[8, 16\] overlap/,
    );
  });
  it('tensors that only touch (one ends where the next begins) are not an overlap', async () => {
    const file = await SafetensorsFile.open(tmp.file('touching.safetensors', rawSafetensors(layout({ a: [0, 8], b: [8, 16] }), new Uint8Array(16))));
    expect([...file.entries.keys()].sort()).toEqual(['a', 'b']);
    await file.close();
  });
});
