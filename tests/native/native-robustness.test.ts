/**
 * Native robustness around the plan decoder and async compile (native/js/convert.cc,
 * native/cpu/program_wrap.cc): absurd plan numbers are refused with the right message instead of
 * overflowing int32/int64 arithmetic, and compile keeps the very weights array it reads alive
 * even when JS reassigns plan.weights while the compile is in flight.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { loadCpuModule } from '../../src/native/cpu-backend';
import type { Plan } from '../../src/plan/types';
import { channelBlock, cpuBackend, cpuSuiteName } from './cpu-harness';
import { PlanKit, randomValues } from './plan-kit';

const INT32_MAX = 2 ** 31 - 1;

/** A two-buffer plan with hand-picked (absurd) dims: PlanFromJs must refuse it before any backend work. */
function rawPlan(inDims: [number, number, number], outDims: [number, number, number], step: Record<string, unknown>, weights = 16): Plan {
  const buffer = (c: number, h: number, w: number, offset: number) => ({ offset, bytes: 64, n: 1, c, h, w });
  const tensor = (b: number, c: number, h: number, w: number) => ({ buffer: b, channelOffset: 0, n: 1, c, h, w });
  return {
    batch: 1,
    arenaBytes: 128,
    buffers: [buffer(...inDims, 0), buffer(...outDims, 64)],
    tensors: [tensor(0, ...inDims), tensor(1, ...outDims)],
    steps: [{ name: 'step', input: 0, output: 1, ...step }],
    input: 0,
    output: 1,
    weights: new Float32Array(weights),
  } as unknown as Plan;
}

describe.skipIf(cpuBackend === null)(cpuSuiteName('native plan decoder: overflow-safe checks'), () => {
  it('refuses a pool pad whose double overflows int32 as a pad problem', async () => {
    // pad 2^30: pad * 2 = 2^31 wrapped to INT32_MIN in int32 and slipped past the "at most half the kernel" check.
    const plan = rawPlan([8, 4, 4], [8, 4, 4], { op: 'maxpool2d', kernel: [3, 3], stride: [1, 1], pad: [2 ** 30, 1], countIncludePad: false });
    await expect(loadCpuModule().compile(plan, { threads: 1 })).rejects.toThrow(/pool pad 1073741824 must be at most half the kernel 3/);
  });

  it('refuses conv shapes whose weight count exceeds 2^53 instead of wrapping int64', async () => {
    // (2^31-1)^2 * 2^20 * 2^20 ~ 2^102 values: the unchecked int64 product overflowed (undefined behaviour).
    const plan = rawPlan([INT32_MAX, 2 ** 20, 2 ** 20], [INT32_MAX, 1, 1], {
      op: 'conv2d', residual: -1, weight: { offset: 0, length: 8 }, bias: { offset: 8, length: 8 },
      kernel: [2 ** 20, 2 ** 20], stride: [1, 1], pad: [0, 0], relu: false,
    });
    await expect(loadCpuModule().compile(plan, { threads: 1 })).rejects.toThrow(/steps\[0\] \('step'\)\.weight: the shapes give more than 2\^53 values/);
  });
});

describe.skipIf(cpuBackend === null)(cpuSuiteName('native compile: weights lifetime'), () => {
  it('keeps the weights array alive when plan.weights is reassigned during compile', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const native = loadCpuModule();
    const block = channelBlock();

    // A busy job on the single CPU compute thread, so the compile below is queued behind it and
    // reads its weights only after this test has dropped and collected them.
    const busy = new PlanKit(1, block);
    const bx = busy.map(3, 160, 160);
    const bm = busy.map(64, 160, 160);
    const by = busy.map(64, 160, 160);
    busy.add({ op: 'conv2d', name: 'stem', input: bx, output: bm, residual: -1, weight: busy.weight(randomValues(64 * 3 * 9, 2)), bias: busy.weight(new Float32Array(64)), kernel: [3, 3], stride: [1, 1], pad: [1, 1], relu: false });
    busy.add({ op: 'conv2d', name: 'busy', input: bm, output: by, residual: -1, weight: busy.weight(randomValues(64 * 64 * 9, 3)), bias: busy.weight(new Float32Array(64)), kernel: [3, 3], stride: [1, 1], pad: [1, 1], relu: false });
    const busyPlan = busy.build(bx, by);
    const busyProgram = await native.compile(busyPlan, { threads: 2 });

    // The plan under test: ~4.7 MB of weights (a 1x1 conv 1088 -> 1088), a fresh array only this plan refers to.
    const kit = new PlanKit(1, block);
    const x = kit.map(1088, 2, 2);
    const y = kit.map(1088, 2, 2);
    kit.add({ op: 'conv2d', name: 'conv', input: x, output: y, residual: -1, weight: kit.weight(randomValues(1088 * 1088, 5)), bias: kit.weight(randomValues(1088, 6)), kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu: false });
    const plan = kit.build(x, y);
    const input = randomValues(1088 * 4, 7);
    const expected = await (await native.compile(plan, { threads: 2 })).run(input, 1);

    const busyRun = busyProgram.profile(randomValues(3 * 160 * 160, 8), 1, 40); // ~1-2 s on 2 cores
    await new Promise((resolve) => setTimeout(resolve, 100)); // it is on the compute thread now
    const mutable: { -readonly [K in keyof Plan]: Plan[K] } = { ...plan, weights: plan.weights.slice() };
    const weightCount = mutable.weights.length;
    let settled = false;
    let collectedWhileCompiling = false;
    const registry = new FinalizationRegistry(() => {
      collectedWhileCompiling ||= !settled;
    });
    registry.register(mutable.weights, 'weights');
    const compiling = native.compile(mutable, { threads: 2 });
    void compiling.then(() => {
      settled = true;
    });
    mutable.weights = new Float32Array(weightCount); // the only JS reference to the compiled array is gone
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The native compile holds the array itself: JS GC must not collect it before compile settles
    // (a reference to the plan object alone let it go, and Execute then read freed memory).
    expect(collectedWhileCompiling).toBe(false);
    // Reuse freed memory of that size with NaN, so a read of the dropped array shows in the output.
    const filler = Array.from({ length: 8 }, () => new Float32Array(weightCount).fill(Number.NaN));
    await busyRun;
    const program = await compiling;
    const output = await program.run(input, 1);
    // The fillers are still all NaN: nothing wrote into memory the compile had let go of (this
    // also keeps them alive, holding the freed memory, until the run above has finished).
    expect(filler.map((f) => f.every(Number.isNaN))).toEqual(Array(8).fill(true));
    // Same plan, same weights values, same oneDNN primitives: bit-identical (tolerance 0).
    expect(Array.from(output)).toEqual(Array.from(expected));
  }, 60_000);
});
