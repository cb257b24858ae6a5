/**
 * Reports tests that block their worker's event loop for long. vitest's worker answers the
 * runner's RPC calls from its event loop, and gives up on a call after 60 s ("Timeout calling
 * onTaskUpdate"): a test that runs synchronously for ~15 s on an idle machine can cross that on a
 * loaded one. Such a test should await between its heavy steps or run its child processes
 * asynchronously. This is a warning on stderr (its length depends on the machine), not a failure.
 */
import { afterEach, beforeEach, expect } from 'vitest';

/** Longest single stall, in milliseconds, that passes without a warning. */
const WARN_MS = 10_000;
const TICK_MS = 100;

// A ticking timer for the whole worker: a stall is the gap between two of its callbacks. Files
// that share a worker (tests/setup/shared-worker-files.ts) run this module once each; they share
// the one timer, and each registers its own hooks below.
interface StallClock {
  lastTick: number;
  longestGapMs: number;
}
const CLOCK_KEY = Symbol.for('inception-cudnn.tests.stall-clock');
const registry = globalThis as { [CLOCK_KEY]?: StallClock };
const clock: StallClock = (registry[CLOCK_KEY] ??= (() => {
  const created: StallClock = { lastTick: performance.now(), longestGapMs: 0 };
  setInterval(() => {
    const now = performance.now();
    created.longestGapMs = Math.max(created.longestGapMs, now - created.lastTick - TICK_MS);
    created.lastTick = now;
  }, TICK_MS).unref();
  return created;
})());

beforeEach(() => {
  clock.longestGapMs = 0;
});

afterEach(async () => {
  // An overdue tick runs before this 1 ms timer, so a stall that just ended is counted.
  await new Promise((resolve) => setTimeout(resolve, 1));
  if (clock.longestGapMs > WARN_MS) {
    const name = expect.getState().currentTestName ?? '(unknown test)';
    process.stderr.write(`[event-loop stall] ${name}: blocked ${(clock.longestGapMs / 1000).toFixed(1)} s at once (vitest's RPC deadline is 60 s); await between heavy steps or use asynchronous child processes\n`);
  }
});
