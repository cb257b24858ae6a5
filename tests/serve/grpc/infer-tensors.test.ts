/**
 * parseModelInfer's raw_input_contents (pure, no server): an aligned view is used in place, an
 * unaligned one is copied into memory from the model's body pool, which release() hands back.
 * Values are small integers, exact in float32, so equality is exact. Little-endian machines only
 * (where the in-place view applies; the big-endian branch converts every value).
 */
import { endianness } from 'node:os';
import { describe, it, expect } from 'vitest';
import { BodyPool } from '../../../src/serve/http';
import { parseModelInfer, type ModelInferRequestMessage } from '../../../src/serve/grpc/infer-tensors';
import type { ModelSignature } from '../../../src/serve/v2-tensors';

const MODEL: ModelSignature = { inputName: 'input', outputName: 'logits', height: 2, width: 2, outputSize: 4, maxBatch: 2 };
const VALUES = Array.from({ length: 12 }, (_, i) => i - 5);

/** The request with the input's bytes placed `offset` bytes into a larger message buffer (as grpc-js decodes it). */
function request(offset: number): ModelInferRequestMessage {
  const message = Buffer.alloc(offset + VALUES.length * 4 + 8, 0xff);
  const raw = message.subarray(offset, offset + VALUES.length * 4);
  VALUES.forEach((v, i) => raw.writeFloatLE(v, i * 4));
  return { model_name: 'm', model_version: '', id: '', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 2, 2] }], outputs: [], raw_input_contents: [raw] };
}

describe.skipIf(endianness() !== 'LE')('parseModelInfer raw_input_contents', () => {
  it('an aligned input is a view on the message: no copy, nothing taken from the pool', () => {
    const pool = new BodyPool(1 << 20);
    const message = request(8);
    const parsed = parseModelInfer(message, MODEL, pool);
    expect(Array.from(parsed.input)).toEqual(VALUES);
    expect(parsed.input.buffer).toBe(message.raw_input_contents[0].buffer);
    parsed.release();
    expect(pool.pooledBytes).toBe(0);
  });

  it('an unaligned input is copied into pooled memory with the same values, and release() returns it', () => {
    const pool = new BodyPool(1 << 20);
    for (const offset of [1, 2, 3, 5]) {
      const message = request(offset);
      const parsed = parseModelInfer(message, MODEL, pool);
      expect(Array.from(parsed.input)).toEqual(VALUES);
      expect(parsed.input.buffer).not.toBe(message.raw_input_contents[0].buffer);
      expect(parsed.input.byteOffset % 4).toBe(0);
      parsed.release();
      // One pool grain (64 KiB) back in the pool, reused by the next request.
      expect(pool.pooledBytes).toBe(64 * 1024);
    }
  });

  it('typed contents need no release', () => {
    const pool = new BodyPool(1 << 20);
    const message: ModelInferRequestMessage = { ...request(0), raw_input_contents: [], inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 2, 2], contents: { fp32_contents: VALUES } }] };
    const parsed = parseModelInfer(message, MODEL, pool);
    expect(Array.from(parsed.input)).toEqual(VALUES);
    parsed.release();
    expect(pool.pooledBytes).toBe(0);
  });
});
