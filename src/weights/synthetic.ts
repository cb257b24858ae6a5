/**
 * The fixture recipe (../shared/fixtures/README.md, "The generator recipe"): deterministic
 * synthetic weights and inputs, bit-exact with gen_weights.py. Used by `--weights synthetic`
 * and by the tests that compare against the stored reference outputs.
 *
 * All value math is float64 in the order the recipe writes it, rounded once to float32 on store.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import type { WeightStore } from '../graph/ir';
import type { CheckpointEntry, EntryKind, ModelDefinition } from '../models/types';
import { InvalidArgumentError } from '../errors';

export const SEED = 20160235;
export type Profile = 'dcfree' | 'plain';

const GOLDEN = 0x9e3779b9;
const TWO_POW_32 = 4294967296;
const SQRT3 = Math.sqrt(3);
/** Conv gain of the dcfree profile: restores the activation scale of zero-mean filters after ReLU. */
const G = (2 * Math.PI) / (Math.PI - 1);

const GAIN: Partial<Record<EntryKind, Record<Profile, number>>> = {
  conv_weight: { plain: 2, dcfree: G },
  residual_conv_weight: { plain: 2, dcfree: 4 * G },
  final_linear_weight: { plain: 1, dcfree: 1 },
};

const SMALL_NORMAL_KINDS: readonly string[] = ['conv_bias', 'linear_bias', 'bn_bias', 'bn_running_mean'];

export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

export function lowbias32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The stream seed of a tensor or input name. */
export function streamSeed(name: string): number {
  return (fnv1a32(name) ^ SEED) >>> 0;
}

/** u_i in [0, 1), exact float64. */
export function uniform01(seed: number, i: number): number {
  return lowbias32((seed + Math.imul(i, GOLDEN)) >>> 0) / TWO_POW_32;
}

/** z_i uniform on [-sqrt 3, sqrt 3): zero mean, unit variance. */
export function unit(seed: number, i: number): number {
  return (2 * uniform01(seed, i) - 1) * SQRT3;
}

/**
 * One state_dict entry: a Float32Array, or for `bn_num_batches_tracked` a BigInt64Array(1)
 * holding 0 (the 0-d int64 bookkeeping scalar).
 */
export function generateTensor(
  name: string,
  shape: readonly number[],
  kind: EntryKind | string,
  profile: Profile,
): Float32Array | BigInt64Array {
  if (kind === 'bn_num_batches_tracked') return new BigInt64Array(1);
  const n = shape.reduce((a, b) => a * b, 1);
  const seed = streamSeed(name);
  const out = new Float32Array(n); // storing a number rounds it to float32 (nearest, ties to even)
  const gains = GAIN[kind as EntryKind];
  if (gains !== undefined) {
    const rows = shape[0];
    const fanIn = n / rows;
    const scale = Math.sqrt(gains[profile] / fanIn);
    if (profile === 'plain') {
      for (let i = 0; i < n; i++) out[i] = unit(seed, i) * scale;
    } else {
      const unbias = Math.sqrt(fanIn / (fanIn - 1));
      const row = new Float64Array(fanIn);
      for (let r = 0; r < rows; r++) {
        let sum = 0;
        for (let j = 0; j < fanIn; j++) {
          row[j] = unit(seed, r * fanIn + j);
          sum += row[j];
        }
        const mean = sum / fanIn;
        for (let j = 0; j < fanIn; j++) out[r * fanIn + j] = (row[j] - mean) * unbias * scale;
      }
    }
  } else if (SMALL_NORMAL_KINDS.includes(kind)) {
    for (let i = 0; i < n; i++) out[i] = unit(seed, i) * 0.05;
  } else if (kind === 'bn_weight' || kind === 'bn_running_var') {
    for (let i = 0; i < n; i++) out[i] = 0.8 + (1.2 - 0.8) * uniform01(seed, i);
  } else {
    throw new InvalidArgumentError(`unknown fixture kind '${kind}' for tensor '${name}'; known kinds: ${knownKinds()}`);
  }
  return out;
}

function knownKinds(): string {
  return [...Object.keys(GAIN), ...SMALL_NORMAL_KINDS, 'bn_weight', 'bn_running_var', 'bn_num_batches_tracked'].join(', ');
}

/** The input [n,3,h,w] (NCHW) of the stream `input:<n>x3x<h>x<w>`. */
export function generateInput(n: number, h: number, w: number): Float32Array {
  const seed = streamSeed(`input:${n}x3x${h}x${w}`);
  const out = new Float32Array(n * 3 * h * w);
  for (let i = 0; i < out.length; i++) out[i] = unit(seed, i);
  return out;
}

/** Exact header bytes of the generator's safetensors layout (manifest order, space-padded to 8). */
export function syntheticHeader(entries: readonly CheckpointEntry[]): Uint8Array {
  // Built member by member: an object would move integer-like keys to the front.
  const members = ['"__metadata__":{"format":"pt"}'];
  let offset = 0;
  for (const entry of entries) {
    const bytes = entry.shape.reduce((a, b) => a * b, 1) * (entry.dtype === 'I64' ? 8 : 4);
    const info = { dtype: entry.dtype, shape: [...entry.shape], data_offsets: [offset, offset + bytes] };
    members.push(`${JSON.stringify(entry.name)}:${JSON.stringify(info)}`);
    offset += bytes;
  }
  const json = new TextEncoder().encode(`{${members.join(',')}}`);
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  return padded;
}

/**
 * Writes `<entries>` as the generator's safetensors file, tensor by tensor (the largest
 * buffer held is one tensor). Tensors are written little-endian, as the host stores them.
 */
export async function writeSyntheticCheckpoint(
  entries: readonly CheckpointEntry[],
  profile: Profile,
  path: string,
): Promise<void> {
  if (endianness() !== 'LE') {
    throw new InvalidArgumentError('writeSyntheticCheckpoint writes host-order floats and needs a little-endian host');
  }
  const header = syntheticHeader(entries);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  const handle = await open(path, 'w');
  try {
    await writeAll(handle, prefix);
    await writeAll(handle, header);
    for (const entry of entries) {
      const values = generateTensor(entry.name, entry.shape, entry.kind, profile);
      await writeAll(handle, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    }
  } finally {
    await handle.close();
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

/** Every float32 entry of the model's checkpoint, generated in memory (`--weights synthetic`). */
export function syntheticWeights(model: ModelDefinition, profile: Profile): WeightStore {
  const weights = new Map<string, Float32Array>();
  for (const entry of model.checkpoint) {
    if (entry.dtype !== 'F32') continue;
    weights.set(entry.name, generateTensor(entry.name, entry.shape, entry.kind, profile) as Float32Array);
  }
  return weights;
}
