/**
 * The overlap stage's stream driver (bench/gpu/stage-overlap.ts streamImagesPerSecond) on a fake
 * session: it starts exactly `runs` runs, never more than `inFlight` at once, keeps that many in
 * flight while runs remain, and counts images over the elapsed time. No GPU needed; the rate is
 * only checked to be positive and consistent with the run count (timers are not asserted).
 */
import { describe, expect, it } from 'vitest';
import { streamImagesPerSecond } from '../../bench/gpu/stage-overlap';

function fakeSession() {
  const state = { running: 0, most: 0, calls: 0 };
  return {
    state,
    run(): Promise<Float32Array> {
      state.calls++;
      state.running++;
      state.most = Math.max(state.most, state.running);
      return new Promise((resolve) =>
        setTimeout(() => {
          state.running--;
          resolve(new Float32Array(1));
        }, 2),
      );
    },
  };
}

describe('streamImagesPerSecond', () => {
  for (const inFlight of [1, 2, 3]) {
    it(`${inFlight} in flight: 7 runs, at most ${inFlight} at once`, async () => {
      const s = fakeSession();
      const rate = await streamImagesPerSecond(s, new Float32Array(0), [4, 3, 8, 8], 7, inFlight);
      expect(s.state.calls).toBe(7);
      expect(s.state.most).toBe(inFlight);
      expect(s.state.running).toBe(0);
      expect(rate).toBeGreaterThan(0);
    });
  }
});
