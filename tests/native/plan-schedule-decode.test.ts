/**
 * plan.schedule through the shared native decoder (native/js/convert.cc DecodeSchedule), exercised
 * with the CPU module (which ignores the schedule once decoded): a well-formed schedule compiles
 * and runs with the same output as none; malformed ones are refused as E_PLAN naming the field.
 */
import { describe, expect, it } from 'vitest';
import { loadCpuModule } from '../../src/native/cpu-backend';
import type { Plan, PlanSchedule } from '../../src/plan/types';
import { channelBlock, cpuBackend, cpuSuiteName } from './cpu-harness';

/** x [1,2,2,2] -> relu -> a; x -> relu -> b (two independent steps). */
function twoReluPlan(schedule?: unknown): Plan {
  // Sized for the CPU module's blocked layout (channels padded to its block), 4 KiB apart.
  const bytes = Math.ceil(2 / channelBlock()) * channelBlock() * 2 * 2 * 4;
  const buffer = (offset: number) => ({ offset, bytes, n: 1, c: 2, h: 2, w: 2 });
  const tensor = (b: number) => ({ buffer: b, channelOffset: 0, n: 1, c: 2, h: 2, w: 2 });
  return {
    batch: 1,
    arenaBytes: 3 * 4096,
    buffers: [buffer(0), buffer(4096), buffer(8192)],
    tensors: [tensor(0), tensor(1), tensor(2)],
    steps: [
      { op: 'relu', name: 'a', input: 0, output: 1 },
      { op: 'relu', name: 'b', input: 0, output: 2 },
    ],
    input: 0,
    output: 2,
    weights: new Float32Array(16),
    ...(schedule === undefined ? {} : { schedule }),
  } as unknown as Plan;
}

describe.skipIf(cpuBackend === null)(cpuSuiteName('plan.schedule in the native decoder'), () => {
  const input = new Float32Array([1, -2, 3, -4, 5, -6, 7, -8]);

  it('a valid schedule is accepted and changes nothing on the CPU', async () => {
    const schedule: PlanSchedule = { streams: 2, steps: [{ stream: 0, waits: [] }, { stream: 1, waits: [0] }] };
    const with_ = await loadCpuModule().compile(twoReluPlan(schedule), { threads: 1 });
    const without = await loadCpuModule().compile(twoReluPlan(), { threads: 1 });
    try {
      const expected = [1, 0, 3, 0, 5, 0, 7, 0];
      expect(Array.from(await with_.run(input, 1))).toEqual(expected);
      expect(Array.from(await without.run(input, 1))).toEqual(expected);
    } finally {
      with_.dispose();
      without.dispose();
    }
  });

  it.each([
    [{ streams: 5, steps: [] }, /plan\.schedule\.streams: expected an integer in \[1, 4\], got 5/],
    [{ streams: 2, steps: [{ stream: 0, waits: [] }] }, /plan\.schedule\.steps: expected one entry per step \(2\), got 1/],
    [{ streams: 2, steps: [{ stream: 0, waits: [] }, { stream: 2, waits: [] }] }, /plan\.schedule\.steps\[1\]\.stream: expected an integer in \[0, 1\], got 2/],
    [{ streams: 2, steps: [{ stream: 0, waits: [] }, { stream: 1, waits: [1] }] }, /plan\.schedule\.steps\[1\]\.waits\[0\]: expected an integer in \[0, 0\], got 1/],
    [{ streams: 2, steps: [{ stream: 0, waits: [0] }, { stream: 1, waits: [] }] }, /plan\.schedule\.steps\[0\]\.waits\[0\]: expected an integer in \[0, -1\], got 0/],
    [{ streams: 2, steps: [{ stream: 0, waits: [] }, { stream: 1 }] }, /plan\.schedule\.steps\[1\]\.waits: missing/],
    ['two', /plan\.schedule: expected an object/],
  ])('refuses %j', async (schedule, message) => {
    await expect(loadCpuModule().compile(twoReluPlan(schedule), { threads: 1 })).rejects.toMatchObject({ code: 'E_PLAN', message: expect.stringMatching(message) });
  });
});
