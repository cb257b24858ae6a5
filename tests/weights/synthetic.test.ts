/**
 * The recipe port against the fixture test vectors. All comparisons are exact (bit patterns or
 * sha256): the recipe is normative to the bit, so any difference is a bug.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  fnv1a32,
  generateInput,
  generateTensor,
  lowbias32,
  SEED,
  streamSeed,
  syntheticHeader,
  syntheticWeights,
  uniform01,
  unit,
} from '../../src/weights/synthetic';
import { fixturesDir, fixturesSkipReason, manifestEntries, MODEL_NAMES, readFixtureJson } from '../helpers/fixtures';
import { fakeModel } from './builders';

interface TestVectors {
  seed: number;
  fnv1a32: Record<string, string>;
  stream_example: {
    name: string;
    tensor_seed_hex: string;
    lowbias32_first8_hex: string[];
    u_first8_f64_hex: string[];
    z_first8_f64_hex: string[];
    dcfree_row0_mean_f64_hex: string;
  };
  first4_f32_hex: Record<string, Record<'dcfree' | 'plain', Record<string, string[]>>>;
}

interface ExpectedHashes {
  inputs_raw_f32le_sha256: Record<string, string>;
}

const f64Hex = (x: number): string => Buffer.from(new Float64Array([x]).buffer).reverse().toString('hex');
const f32Hex = (x: number): string => Buffer.from(new Float32Array([x]).buffer).reverse().toString('hex');
const hex32 = (x: number): string => x.toString(16).padStart(8, '0');

describe('recipe primitives (no fixtures needed)', () => {
  it('fnv1a32 and lowbias32 of known values', () => {
    expect(hex32(fnv1a32(''))).toBe('811c9dc5'); // FNV-1a offset basis
    expect(hex32(fnv1a32('a'))).toBe('e40c292c'); // standard FNV-1a 32 of "a"
    expect(lowbias32(0)).toBe(0);
  });

  it('generateTensor rejects an unknown kind', () => {
    expect(() => generateTensor('x', [2], 'gamma', 'plain')).toThrow(/unknown fixture kind 'gamma' for tensor 'x'/);
  });

  it('syntheticWeights generates every F32 checkpoint entry and skips I64 bookkeeping', () => {
    const model = fakeModel('inception_v4', [
      { name: 'c.weight', shape: [4, 3, 1, 1], kind: 'conv_weight', dtype: 'F32' },
      { name: 'bn.num_batches_tracked', shape: [], kind: 'bn_num_batches_tracked', dtype: 'I64' },
      { name: 'bn.weight', shape: [4], kind: 'bn_weight', dtype: 'F32' },
    ]);
    const store = syntheticWeights(model, 'dcfree');
    expect([...store.keys()]).toEqual(['c.weight', 'bn.weight']);
    expect(store.get('c.weight')).toEqual(generateTensor('c.weight', [4, 3, 1, 1], 'conv_weight', 'dcfree'));
    // dcfree rows are zero-mean: |row sum| is float32 rounding only (3 terms of ~0.5 -> < 1e-6).
    const w = store.get('c.weight') as Float32Array;
    for (let r = 0; r < 4; r++) expect(Math.abs(w[3 * r] + w[3 * r + 1] + w[3 * r + 2])).toBeLessThan(1e-6);
  });

  it('the header is compact JSON in entry order, space-padded to a multiple of 8', () => {
    const header = syntheticHeader([
      { name: '1', shape: [2], kind: 'bn_bias', dtype: 'F32' },
      { name: 'n', shape: [], kind: 'bn_num_batches_tracked', dtype: 'I64' },
    ]);
    const text = new TextDecoder().decode(header);
    // "1" stays after __metadata__ (a JS object would move integer-like keys first).
    expect(text.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt"},"1":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"n":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}',
    );
    expect(header.length % 8).toBe(0);
    expect(header.length - text.trimEnd().length).toBeLessThan(8);
  });
});

describe.skipIf(fixturesDir() === null)(`recipe port vs test_vectors.json${fixturesSkipReason()}`, () => {
  const vectors = (): TestVectors => readFixtureJson<TestVectors>('test_vectors.json');

  it('seed and fnv1a32 of the sample strings', () => {
    const v = vectors();
    expect(SEED).toBe(v.seed);
    for (const [text, want] of Object.entries(v.fnv1a32)) expect(hex32(fnv1a32(text)), text).toBe(want);
  });

  it('stream example: seed, first 8 hashes, u and z (float64 bit patterns)', () => {
    const s = vectors().stream_example;
    const seed = streamSeed(s.name);
    expect(hex32(seed)).toBe(s.tensor_seed_hex);
    for (let i = 0; i < 8; i++) {
      expect(hex32(lowbias32((seed + Math.imul(i, 0x9e3779b9)) >>> 0))).toBe(s.lowbias32_first8_hex[i]);
      expect(f64Hex(uniform01(seed, i))).toBe(s.u_first8_f64_hex[i]);
      expect(f64Hex(unit(seed, i))).toBe(s.z_first8_f64_hex[i]);
    }
  });

  it('dcfree row 0 mean: plain sequential float64 sum', () => {
    const s = vectors().stream_example;
    const shape = manifestEntries('inception_v4').find((e) => e.name === s.name)?.shape as readonly number[];
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    const seed = streamSeed(s.name);
    let sum = 0;
    for (let j = 0; j < fanIn; j++) sum += unit(seed, j);
    expect(f64Hex(sum / fanIn)).toBe(s.dcfree_row0_mean_f64_hex);
  });

  it('first 4 float32 of the sample tensors, every model and profile', () => {
    const first4 = vectors().first4_f32_hex;
    let checked = 0;
    for (const model of MODEL_NAMES) {
      const byName = new Map(manifestEntries(model).map((e) => [e.name, e]));
      for (const profile of ['dcfree', 'plain'] as const) {
        for (const [name, want] of Object.entries(first4[model][profile])) {
          const entry = byName.get(name);
          expect(entry, `${model} ${name}`).toBeDefined();
          const values = generateTensor(name, entry!.shape, entry!.kind, profile) as Float32Array;
          expect([...values.subarray(0, 4)].map(f32Hex), `${model} ${profile} ${name}`).toEqual(want);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  it('the four inputs hash to expected_hashes.json', () => {
    const want = readFixtureJson<ExpectedHashes>('expected_hashes.json').inputs_raw_f32le_sha256;
    expect(Object.keys(want)).toHaveLength(4);
    for (const [key, sha] of Object.entries(want)) {
      const [n, c, h, w] = key.replace('input:', '').split('x').map(Number);
      expect(c).toBe(3);
      const data = generateInput(n, h, w);
      expect(createHash('sha256').update(new Uint8Array(data.buffer)).digest('hex'), key).toBe(sha);
    }
  });
});
