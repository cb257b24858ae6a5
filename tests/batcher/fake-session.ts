/**
 * A stand-in Session used ONLY for the batcher's and server's queueing logic (delays,
 * overload, aborts, shutdown) where a real network would make timing slow and noisy. It does
 * not compute the network: output row r of a batch is [sum of image r's values, batch size,
 * instance id, 0, ...], so tests can check that every caller gets the rows of its own input.
 * Tests against the real CPU backend live next to these (batcher-cpu, server-cpu).
 */
import type { Session, SessionInfo } from '../../src/runtime/session';

export interface FakeSessionControls {
  delayMs: number;
  /** The next run rejects with this error. */
  failNext: Error | undefined;
  active: number;
  maxActive: number;
  batches: number[];
  /** Resolvers of runs held while `hold` is true (release with releaseAll). */
  hold: boolean;
  held: (() => void)[];
}

export function fakeSession(options: { size?: number; maxBatch?: number; outputSize?: number; instance?: number; model?: SessionInfo['model']; runBatchSizes?: readonly number[] | null } = {}): {
  session: Session;
  controls: FakeSessionControls;
  releaseAll(): void;
} {
  const size = options.size ?? 4;
  const maxBatch = options.maxBatch ?? 4;
  const k = options.outputSize ?? 8;
  const instance = options.instance ?? 0;
  const controls: FakeSessionControls = { delayMs: 5, failNext: undefined, active: 0, maxActive: 0, batches: [], hold: false, held: [] };
  const image = 3 * size * size;
  const info: SessionInfo = {
    model: options.model ?? 'inception_v4',
    device: 'cpu',
    precision: 'fp32',
    maxBatch,
    inputShape: [maxBatch, 3, size, size],
    outputShape: [maxBatch, k],
    output: 'logits',
    runBatchSizes: options.runBatchSizes ?? null,
  };
  const session: Session = {
    info,
    memory: { weightBytes: 1000, arenaBytes: 2000, naiveBytes: 3000, lowerBoundBytes: 2000, workspaceBytes: 0 },
    weightsSource: { kind: 'synthetic', profile: 'dcfree', notice: 'fake' },
    threads: { threads: 1, decidedBy: 'explicit', affinityCpus: 1, quota: null, reason: 'set explicitly', notes: [] },
    async run(input, shape) {
      const n = shape[0];
      if (n > maxBatch || input.length !== n * image) throw new Error(`fake session: bad batch ${n} / ${input.length}`);
      controls.active++;
      controls.maxActive = Math.max(controls.maxActive, controls.active);
      controls.batches.push(n);
      try {
        if (controls.hold) await new Promise<void>((resolve) => controls.held.push(resolve));
        else await new Promise((resolve) => setTimeout(resolve, controls.delayMs));
        const failure = controls.failNext;
        if (failure !== undefined) {
          controls.failNext = undefined;
          throw failure;
        }
        const out = new Float32Array(n * k);
        for (let r = 0; r < n; r++) {
          let sum = 0;
          for (let j = 0; j < image; j++) sum += input[r * image + j];
          out[r * k] = sum;
          out[r * k + 1] = n;
          out[r * k + 2] = instance;
        }
        return out;
      } finally {
        controls.active--;
      }
    },
    classify: () => Promise.reject(new Error('fake session: classify is not implemented')),
    embed: () => Promise.reject(new Error('fake session: embed is not implemented')),
    dispose: () => Promise.resolve(),
  };
  return {
    session,
    controls,
    releaseAll() {
      const held = controls.held.splice(0);
      held.forEach((release) => release());
    },
  };
}

/** k images of `size`, image i filled with values[i]. */
export function imagesFilled(values: readonly number[], size = 4): Float32Array {
  const image = 3 * size * size;
  const out = new Float32Array(values.length * image);
  values.forEach((v, i) => out.fill(v, i * image, (i + 1) * image));
  return out;
}
