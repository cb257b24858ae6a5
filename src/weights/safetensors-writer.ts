/**
 * Writes a .safetensors file tensor by tensor (the largest buffer held is one tensor): the
 * 8-byte header length, the JSON header padded with spaces to a multiple of 8, then the data
 * in the order given. Written to `<path>.partial` and renamed, so a failed write leaves no
 * half file under the final name.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { WeightsError } from '../errors';
import { DTYPE_SIZES } from './safetensors';

export interface TensorToWrite {
  readonly name: string;
  /** A safetensors dtype (F32, F16, BF16, F64, I64, ...). */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** The tensor's contiguous little-endian bytes (called once, in file order). */
  readonly read: () => Promise<Uint8Array>;
}

export function safetensorsHeader(tensors: readonly TensorToWrite[], metadata: Record<string, string>): Uint8Array {
  // Built member by member so that integer-like names keep their order.
  const members = [`"__metadata__":${JSON.stringify(metadata)}`];
  let offset = 0;
  for (const t of tensors) {
    const size = DTYPE_SIZES[t.dtype];
    if (size === undefined) throw new WeightsError(`cannot write tensor '${t.name}': unknown dtype ${t.dtype}`);
    const bytes = t.shape.reduce((a, b) => a * b, 1) * size;
    members.push(`${JSON.stringify(t.name)}:${JSON.stringify({ dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] })}`);
    offset += bytes;
  }
  const json = new TextEncoder().encode(`{${members.join(',')}}`);
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  return padded;
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten;
}

export async function writeSafetensors(path: string, tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): Promise<number> {
  const header = safetensorsHeader(tensors, metadata);
  const temp = `${path}.partial`;
  let handle: FileHandle;
  try {
    handle = await open(temp, 'w');
  } catch (cause) {
    throw new WeightsError(`cannot write ${path}: ${(cause as Error).message}`, { cause });
  }
  let total = 8 + header.length;
  try {
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(header.length));
    await writeAll(handle, prefix);
    await writeAll(handle, header);
    for (const t of tensors) {
      const bytes = await t.read();
      const expected = t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZES[t.dtype]!;
      if (bytes.length !== expected) throw new WeightsError(`tensor '${t.name}' gave ${bytes.length} bytes, expected ${expected}`);
      await writeAll(handle, bytes);
      total += bytes.length;
    }
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, path);
  return total;
}
