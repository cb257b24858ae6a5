/**
 * Warm-up before a server listens: every batch size a CUDA session runs at (info.runBatchSizes)
 * is set up and its CUDA graph captured before the first request, instead of inside some
 * request's batch. A size's first run times cuDNN's algorithms for every convolution and its
 * third captures the graph; on the H200 serve check one such set-up in the middle of the load
 * took 0.5-2 s and alone put the 1-image p99 at 840 ms against a 149 ms bound.
 * CPU sessions (runBatchSizes null) run every n exactly and need no warm-up.
 */
import type { Session } from '../runtime/session';

/** Runs per size: two eager runs, then the one that captures and replays the CUDA graph. */
export const WARMUP_RUNS_PER_SIZE = 3;

export interface WarmupReport {
  readonly sizes: number;
  readonly runs: number;
  readonly ms: number;
}

/** Runs each session at each of its run sizes WARMUP_RUNS_PER_SIZE times on a constant, finite input. */
export async function warmRunSizes(sessions: readonly Session[]): Promise<WarmupReport> {
  const started = performance.now();
  let sizes = 0;
  let runs = 0;
  for (const session of sessions) {
    const list = session.info.runBatchSizes;
    if (list === null) continue;
    const [, , height, width] = session.info.inputShape;
    const image = 3 * height * width;
    const input = new Float32Array(Math.max(...list) * image).fill(0.5);
    for (const n of list) {
      sizes++;
      for (let r = 0; r < WARMUP_RUNS_PER_SIZE; r++) {
        await session.run(input.subarray(0, n * image), [n, 3, height, width]);
        runs++;
      }
    }
  }
  return { sizes, runs, ms: performance.now() - started };
}
