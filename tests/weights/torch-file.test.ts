/**
 * TorchCheckpointFile on files written by real PyTorch (tests/fixtures/pt, made once by
 * make_pt_fixtures.py with torch 1.13; CI reads the committed files). Every tensor of every
 * file must read back bit for bit as torch's own t.float() (recorded in expected.json):
 * tolerance zero, because F16/BF16 -> F32 is exact and F64 -> F32 rounds to nearest in both.
 * Covers the zip and legacy formats, fp32/fp16/bf16/fp64/int64, views with offsets and strides
 * (transposed, sliced, a column, expand()'s stride 0), nn.Parameter (_rebuild_parameter), an
 * OrderedDict with _metadata, pickle protocol 4 (STACK_GLOBAL, MEMOIZE, FRAME) and storages
 * tagged 'cuda:0'.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TorchCheckpointFile } from '../../src/weights/torch-file';
import { sniffCheckpointFormat } from '../../src/weights/format';

const FIXTURES = path.resolve(__dirname, '../fixtures/pt');

interface ExpectedTensor {
  dtype: string;
  shape: number[];
  f32_hex?: string;
  int_values?: string[];
}

const expected = JSON.parse(readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8')) as { torch: string; files: Record<string, Record<string, ExpectedTensor>> };

const TORCH_DTYPES: Record<string, string> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int64: 'I64' };

async function openFixture(name: string): Promise<TorchCheckpointFile> {
  const file = path.join(FIXTURES, name);
  const format = await sniffCheckpointFormat(file);
  expect(format).toBe(name.includes('legacy') ? 'torch-pickle' : 'torch-zip');
  return TorchCheckpointFile.open(file, format as 'torch-zip' | 'torch-pickle');
}

describe(`TorchCheckpointFile reads what torch ${expected.torch} wrote`, () => {
  for (const [name, tensors] of Object.entries(expected.files)) {
    it(`${name}: every tensor's dtype, shape and values, bitwise`, async () => {
      const file = await openFixture(name);
      try {
        expect([...file.entries.keys()]).toEqual(Object.keys(tensors)); // state_dict order kept
        for (const [tensorName, want] of Object.entries(tensors)) {
          expect(file.entries.get(tensorName), tensorName).toEqual({ dtype: TORCH_DTYPES[want.dtype], shape: want.shape });
          if (want.int_values !== undefined) {
            const raw = await file.readRaw(tensorName);
            const values = [...new BigInt64Array(raw.buffer, raw.byteOffset, raw.byteLength / 8)].map(String);
            expect(values, tensorName).toEqual(want.int_values);
          } else {
            const values = await file.readFloat32(tensorName);
            expect(Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('hex'), tensorName).toBe(want.f32_hex);
          }
        }
      } finally {
        await file.close();
      }
    });
  }

  it('reads every storage of views.pt once per tensor, front to back', async () => {
    const file = await openFixture('views_zip.pt');
    try {
      // 'slice' starts at element 8 of the shared storage, 'base' at 0: reading order follows the file.
      expect(file.readOrder(['slice', 'half_view', 'base'])).toEqual(['base', 'slice', 'half_view']);
    } finally {
      await file.close();
    }
  });
});
