import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BufferLifetime, alignUp, checkNoLiveOverlap, lowerBound, naiveBytes, placeBestFit, planArena } from '../../src/plan/arena';

/** Independent of arena.ts: do two buffers live at the same step and share a byte? */
function liveOverlaps(buffers: readonly BufferLifetime[], offsets: readonly number[]): string[] {
  const bad: string[] = [];
  for (let i = 0; i < buffers.length; i++)
    for (let j = i + 1; j < buffers.length; j++) {
      const a = buffers[i]!;
      const b = buffers[j]!;
      const timeShared = Math.max(a.first, b.first) <= Math.min(a.last, b.last);
      const bytesShared = Math.max(offsets[i]!, offsets[j]!) < Math.min(offsets[i]! + a.bytes, offsets[j]! + b.bytes);
      if (timeShared && bytesShared) bad.push(`${i}/${j}`);
    }
  return bad;
}

describe('placeBestFit (golden offsets)', () => {
  // a: steps 0-1, 100 B; b: steps 1-2, 200 B; c: steps 2-3, 100 B. Alignment 64.
  const chain: BufferLifetime[] = [
    { first: 0, last: 1, bytes: 100 },
    { first: 1, last: 2, bytes: 200 },
    { first: 2, last: 3, bytes: 100 },
  ];

  it('largest first: b at 0; a overlaps b and no gap below it fits, so a goes above b (256); c likewise (a is dead by then)', () => {
    expect(placeBestFit(chain, [1, 0, 2], 64)).toEqual({ offsets: [256, 0, 256], arenaBytes: 384 });
  });

  it('in execution order: a at 0; b above a (128); c fits the 128-byte gap below b that a left', () => {
    expect(placeBestFit(chain, [0, 1, 2], 64)).toEqual({ offsets: [0, 128, 0], arenaBytes: 384 });
  });

  it('picks the best-fitting gap, not the first one', () => {
    // Long-lived x 0-9 at 0 (64 B), y 0-9 at 64.. Then free space: a 256 B hole and a 128 B hole.
    const buffers: BufferLifetime[] = [
      { first: 0, last: 9, bytes: 64 }, // 0: pinned at 0
      { first: 0, last: 1, bytes: 256 }, // 1: at 64, dies at step 1 -> 256 B hole
      { first: 0, last: 9, bytes: 64 }, // 2: at 320
      { first: 0, last: 1, bytes: 128 }, // 3: at 384, dies at step 1 -> 128 B hole
      { first: 0, last: 9, bytes: 64 }, // 4: at 512
      { first: 5, last: 6, bytes: 100 }, // 5: fits both holes; best fit is the 128 B one at 384
    ];
    const layout = placeBestFit(buffers, [0, 1, 2, 3, 4, 5], 64);
    expect(layout.offsets).toEqual([0, 64, 320, 384, 512, 384]);
    expect(layout.arenaBytes).toBe(576);
  });

  it('rejects malformed buffers with a PlanError', () => {
    expect(() => placeBestFit([{ first: 3, last: 1, bytes: 8 }], [0], 64)).toThrow(/buffer 0 is malformed: first=3 last=1/);
    expect(() => placeBestFit([], [], 0)).toThrow(/alignment must be a positive integer, got 0/);
  });
});

describe('lowerBound / naiveBytes / planArena', () => {
  it('lower bound is the peak of live bytes; naive the aligned sum', () => {
    const buffers: BufferLifetime[] = [
      { first: 0, last: 1, bytes: 100 },
      { first: 1, last: 2, bytes: 200 },
      { first: 2, last: 3, bytes: 100 },
    ];
    expect(lowerBound(buffers)).toBe(300);
    expect(naiveBytes(buffers, 64)).toBe(128 + 256 + 128);
    expect(planArena(buffers, 64).arenaBytes).toBe(384);
  });

  it('checkNoLiveOverlap names the offending pair', () => {
    const buffers: BufferLifetime[] = [
      { first: 0, last: 2, bytes: 64 },
      { first: 2, last: 3, bytes: 64 },
    ];
    expect(() => checkNoLiveOverlap(buffers, [0, 32])).toThrow(/buffers 0 \[0, \+64\) and 1 \[32, \+64\) are live together/);
    expect(() => checkNoLiveOverlap(buffers, [0, 64])).not.toThrow();
  });

  const arbBuffers = fc.array(
    fc.record({ first: fc.integer({ min: 0, max: 30 }), span: fc.integer({ min: 0, max: 12 }), bytes: fc.integer({ min: 1, max: 5000 }) }).map(({ first, span, bytes }) => ({ first, last: first + span, bytes })),
    { minLength: 1, maxLength: 60 },
  );

  it('never overlaps live buffers, keeps offsets aligned, and lands between the lower bound and naive (random lifetimes)', () => {
    fc.assert(
      fc.property(arbBuffers, fc.constantFrom(1, 8, 64, 256), (buffers, alignment) => {
        const layout = planArena(buffers, alignment);
        expect(liveOverlaps(buffers, layout.offsets)).toEqual([]);
        for (const o of layout.offsets) expect(o % alignment).toBe(0);
        const top = Math.max(...buffers.map((b, i) => layout.offsets[i]! + b.bytes));
        expect(layout.arenaBytes).toBe(alignUp(top, alignment));
        expect(layout.arenaBytes).toBeGreaterThanOrEqual(lowerBound(buffers));
        expect(layout.arenaBytes).toBeLessThanOrEqual(naiveBytes(buffers, alignment));
      }),
      { numRuns: 300, seed: 42 },
    );
  });
});
