/** Small in-test builders: safetensors files with hand-made headers, and fake model definitions. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { CheckpointEntry, ModelDefinition, ModelName } from '../../src/models/types';

export interface TensorSpecForFile {
  dtype: string;
  shape: number[];
  /** Raw little-endian bytes. */
  bytes: Uint8Array;
}

/** Bytes of a safetensors file holding `tensors` back to back, in the given order. */
export function safetensorsBytes(tensors: Record<string, TensorSpecForFile>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    chunks.push(t.bytes);
    offset += t.bytes.length;
  }
  return rawSafetensors(JSON.stringify(header), concat(chunks));
}

/** A file from a literal header string and a data section. */
export function rawSafetensors(header: string | Uint8Array, data: Uint8Array = new Uint8Array(0), lengthField?: bigint): Uint8Array {
  const headerBytes = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(lengthField ?? BigInt(headerBytes.length));
  return concat([prefix, headerBytes, data]);
}

export function f32Bytes(values: readonly number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A temporary folder; call cleanup() in afterAll. */
export function tempDir(): { dir: string; file: (name: string, bytes: Uint8Array) => string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'inception-weights-'));
  return {
    dir,
    file: (name, bytes) => {
      const p = path.join(dir, name);
      writeFileSync(p, bytes);
      return p;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A ModelDefinition carrying only a checkpoint description (build() is not used by the loader). */
export function fakeModel(
  name: ModelName,
  checkpoint: readonly CheckpointEntry[],
  optionalEntries: readonly CheckpointEntry[] = [],
): ModelDefinition {
  return {
    name,
    output: 'logits',
    outputSize: 1000,
    minSize: 75,
    preprocessing: { inputSize: 299, interpolation: 'bicubic', cropPct: 1, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    labels: null,
    checkpoint,
    optionalEntries,
    build: () => {
      throw new Error('fakeModel.build is not part of these tests');
    },
  };
}
