/**
 * Warm-up before a server listens, so that no request pays for setting up a batch size.
 *
 * CUDA: every size the session runs at (info.runBatchSizes) is set up and its CUDA graph captured
 * before the first request, instead of inside some request's batch. A size's first run times
 * cuDNN's algorithms for every convolution and its third captures the graph; on the H200 serve
 * check one such set-up in the middle of the load took 0.5-2 s and alone put the 1-image p99 at
 * 840 ms against a 149 ms bound.
 *
 * CPU (runBatchSizes null): the session runs every n exactly and creates a size's oneDNN
 * primitives (and times its Winograd and direct kernels) on that size's first run. In issue 16's
 * trial the first batch-1 request of a fresh server took 0.39 s against 0.017 s afterwards, and
 * with --request-timeout-ms 300 the first single request after a burst got 504. So every size
 * 1..maxBatch (the batcher's) runs once: B(B+1)/2 images in all, 36 for max batch 8.
 */
import type { Session } from '../runtime/session';

/** Runs per CUDA size: two eager runs, then the one that captures and replays the CUDA graph. */
export const WARMUP_RUNS_PER_SIZE = 3;
/** Runs per CPU size: the first run creates everything the size needs. */
export const CPU_WARMUP_RUNS_PER_SIZE = 1;

export interface WarmupReport {
  readonly sizes: number;
  readonly runs: number;
  readonly ms: number;
}

/**
 * Runs each session at each of its sizes on a constant, finite input: a CUDA session's
 * runBatchSizes WARMUP_RUNS_PER_SIZE times each, a CPU session's 1..maxBatch once each.
 */
export async function warmRunSizes(sessions: readonly Session[], maxBatch: number): Promise<WarmupReport> {
  const started = performance.now();
  let sizes = 0;
  let runs = 0;
  for (const session of sessions) {
    const cuda = session.info.runBatchSizes;
    const list = cuda ?? Array.from({ length: Math.min(maxBatch, session.info.maxBatch) }, (_, i) => i + 1);
    const repeat = cuda === null ? CPU_WARMUP_RUNS_PER_SIZE : WARMUP_RUNS_PER_SIZE;
    const [, , height, width] = session.info.inputShape;
    const image = 3 * height * width;
    const input = new Float32Array(Math.max(...list) * image).fill(0.5);
    for (const n of list) {
      sizes++;
      for (let r = 0; r < repeat; r++) {
        await session.run(input.subarray(0, n * image), [n, 3, height, width]);
        runs++;
      }
    }
  }
  return { sizes, runs, ms: performance.now() - started };
}
