/**
 * The test-side .pt writer (tests/helpers/torch-writer.ts) against torch itself: given the
 * tensors of two committed torch-written fixtures, it must write the same file byte for byte
 * (exact comparison: the zip records, alignment padding, CRCs and the pickle's memo numbering
 * are all deterministic in torch 1.13). Only then do files it writes stand in for torch's in
 * the IR-v1 .pt-vs-.safetensors test, where a real checkpoint would be too big to commit.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TorchCheckpointFile } from '../../src/weights/torch-file';
import { writeTorchZip, type PtTensor } from '../helpers/torch-writer';
import { tempDir } from './builders';

const FIXTURES = path.resolve(__dirname, '../fixtures/pt');
const tmp = tempDir();
afterAll(() => tmp.cleanup());

async function tensorsOf(file: string): Promise<Array<[string, PtTensor]>> {
  const reader = await TorchCheckpointFile.open(path.join(FIXTURES, file), 'torch-zip');
  try {
    const out: Array<[string, PtTensor]> = [];
    for (const [name, entry] of reader.entries) {
      out.push([name, { dtype: entry.dtype as PtTensor['dtype'], shape: entry.shape, data: await reader.readRaw(name) }]);
    }
    return out;
  } finally {
    await reader.close();
  }
}

describe('writeTorchZip reproduces torch.save', () => {
  it('small_state_zip.pt (an OrderedDict state_dict with _metadata, F32 and I64), byte for byte', async () => {
    const out = path.join(tmp.dir, 'small_state_zip.pt');
    await writeTorchZip(out, 'small_state_zip', await tensorsOf('small_state_zip.pt'), [['', 1], ['0', 1], ['1', 2]]);
    expect(readFileSync(out).equals(readFileSync(path.join(FIXTURES, 'small_state_zip.pt')))).toBe(true);
  });

  it('dtypes_zip.pt (F16, BF16, F64, F32, a 0-d I64; no _metadata), byte for byte', async () => {
    const out = path.join(tmp.dir, 'dtypes_zip.pt');
    await writeTorchZip(out, 'dtypes_zip', await tensorsOf('dtypes_zip.pt'), null);
    expect(readFileSync(out).equals(readFileSync(path.join(FIXTURES, 'dtypes_zip.pt')))).toBe(true);
  });
});
