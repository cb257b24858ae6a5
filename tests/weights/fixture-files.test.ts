/**
 * Writes all six fixture checkpoints with the recipe port, checks each whole-file sha256 against
 * expected_hashes.json, then reads every tensor back through SafetensorsFile and checks its sha256
 * prefix against test_vectors.json, and loads the file with loadCheckpoint. All exact: the recipe
 * is normative to the bit. Each file (94-224 MB) is deleted before the next is written.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/weights/load';
import { SafetensorsFile } from '../../src/weights/safetensors';
import { generateTensor, writeSyntheticCheckpoint, type Profile } from '../../src/weights/synthetic';
import { fixturesDir, fixturesSkipReason, manifestEntries, MODEL_NAMES, readFixtureJson } from '../helpers/fixtures';
import { fakeModel, tempDir } from './builders';

interface ExpectedHashes {
  weights_safetensors_sha256: Record<string, string>;
}
type PrefixTable = Record<string, Record<string, string | Record<Profile, string>>>;

const FILE_SIZES: Record<string, number> = {
  inception_v4: 171_065_232,
  inception_resnet_v2: 223_749_040,
  inception_resnet_v1: 94_121_176,
};

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const prefix16 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex').slice(0, 16);
const bytesOf = (a: Float32Array | BigInt64Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe.skipIf(fixturesDir() === null)(`the six fixture checkpoints${fixturesSkipReason()}`, () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());

  for (const profile of ['dcfree', 'plain'] as const) {
    for (const model of MODEL_NAMES) {
      it(`${model}_${profile}.safetensors: file sha256, every tensor's sha256 prefix, loadCheckpoint`, async () => {
        const expected = readFixtureJson<ExpectedHashes>('expected_hashes.json').weights_safetensors_sha256;
        const prefixes = readFixtureJson<{ tensor_sha256_prefix16: PrefixTable }>('test_vectors.json').tensor_sha256_prefix16[model];
        const entries = manifestEntries(model);
        const file = path.join(tmp.dir, `${model}_${profile}.safetensors`);

        const t0 = performance.now();
        await writeSyntheticCheckpoint(entries, profile, file);
        const t1 = performance.now();
        expect((await stat(file)).size).toBe(FILE_SIZES[model]);
        expect(await sha256File(file)).toBe(expected[`${model}_${profile}.safetensors`]);
        const t2 = performance.now();

        // Every tensor, read back through our reader, against the per-tensor prefixes.
        const reader = await SafetensorsFile.open(file);
        const mismatched: string[] = [];
        try {
          expect([...reader.entries.keys()]).toEqual(entries.map((e) => e.name));
          for (const entry of entries) {
            const want = prefixes[entry.name];
            const wantHex = typeof want === 'string' ? want : want[profile];
            const values = entry.dtype === 'I64' ? await reader.readInt64(entry.name) : await reader.readFloat32(entry.name);
            if (prefix16(bytesOf(values)) !== wantHex) mismatched.push(entry.name);
          }
        } finally {
          await reader.close();
        }
        expect(mismatched).toEqual([]);
        expect(Object.keys(prefixes)).toHaveLength(entries.length);
        const t3 = performance.now();

        // Checked loading: every F32 entry, none of the I64 bookkeeping, values as generated.
        const loaded = await loadCheckpoint(file, fakeModel(model, entries));
        const f32 = entries.filter((e) => e.dtype === 'F32');
        expect(loaded.weights.size).toBe(f32.length);
        expect([...loaded.weights.keys()]).toEqual(f32.map((e) => e.name));
        expect(loaded.logitsClasses).toBeNull();
        expect(loaded.fileBytes).toBe(FILE_SIZES[model]);
        const last = f32[f32.length - 1];
        expect(loaded.weights.get(last.name)).toEqual(generateTensor(last.name, last.shape, last.kind, profile));
        const t4 = performance.now();
        await rm(file);
        console.log(
          `${model}_${profile}: write ${(t1 - t0).toFixed(0)} ms, sha256 ${(t2 - t1).toFixed(0)} ms, ` +
            `per-tensor read+hash ${(t3 - t2).toFixed(0)} ms, loadCheckpoint ${(t4 - t3).toFixed(0)} ms`,
        );
      });
    }
  }
});
