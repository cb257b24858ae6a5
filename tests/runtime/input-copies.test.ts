/** InputCopies (src/runtime/input-copies.ts): Session.run's private input copies, reused between runs. Exact: copies are bit-for-bit. */
import { describe, expect, it } from 'vitest';
import { InputCopies } from '../../src/runtime/input-copies';

const values = (length: number, seed: number): Float32Array => Float32Array.from({ length }, (_, i) => Math.sin(i * 0.37 + seed));

describe('InputCopies', () => {
  it('copies the first `length` values, independent of the caller array', () => {
    const copies = new InputCopies();
    const input = values(12, 1);
    const copy = copies.take(input, 8);
    expect(copy.length).toBe(8);
    expect(Array.from(copy)).toEqual(Array.from(input.subarray(0, 8)));
    input.fill(99);
    expect(copy[0]).not.toBe(99);
  });

  it('reuses the memory of a handed-back copy for the next run of the same or smaller size', () => {
    const copies = new InputCopies();
    const first = copies.take(values(16, 1), 16);
    copies.give(first);
    expect(copies.idleLength).toBe(16);
    const second = copies.take(values(16, 2), 16);
    expect(second.buffer).toBe(first.buffer);
    expect(Array.from(second)).toEqual(Array.from(values(16, 2)));
    copies.give(second);
    const smaller = copies.take(values(16, 3), 4);
    expect(smaller.buffer).toBe(first.buffer);
    expect(smaller.length).toBe(4);
    expect(Array.from(smaller)).toEqual(Array.from(values(4, 3)));
    // A prefix view comes back as its whole buffer.
    copies.give(smaller);
    expect(copies.idleLength).toBe(16);
  });

  it('never hands one buffer to two runs in flight', () => {
    const copies = new InputCopies();
    copies.give(copies.take(values(8, 0), 8));
    const a = copies.take(values(8, 1), 8);
    const b = copies.take(values(8, 2), 8); // a is still in flight
    expect(b.buffer).not.toBe(a.buffer);
    expect(Array.from(a)).toEqual(Array.from(values(8, 1)));
  });

  it('allocates when the idle copy is too small and keeps the larger one', () => {
    const copies = new InputCopies();
    const small = copies.take(values(4, 1), 4);
    copies.give(small);
    const large = copies.take(values(10, 2), 10);
    expect(large.buffer).not.toBe(small.buffer);
    copies.give(large);
    copies.give(small);
    expect(copies.idleLength).toBe(10);
  });

  it('keeps nothing after release(), and ignores a detached buffer', () => {
    const copies = new InputCopies();
    const copy = copies.take(values(8, 1), 8);
    structuredClone(copy.buffer, { transfer: [copy.buffer as ArrayBuffer] }); // detaches it
    copies.give(copy);
    expect(copies.idleLength).toBe(0);
    const next = copies.take(values(8, 2), 8);
    expect(Array.from(next)).toEqual(Array.from(values(8, 2)));
    copies.release();
    copies.give(next);
    expect(copies.idleLength).toBe(0);
  });
});
