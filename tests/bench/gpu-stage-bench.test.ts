/**
 * The bench stage's row measurement (bench/gpu/stage-bench.ts benchRow) run for real on the CPU
 * backend with a scripted free-memory reader, so the flow the GPU runs (createSession, warm-up,
 * timed runs, memory watch, dispose, error rows) is exercised here. The CPU numbers themselves are
 * not checked (any positive value); the memory arithmetic is exact on the scripted readings.
 */
import { describe, expect, it } from 'vitest';
import { benchRow, type RowProbe } from '../../bench/gpu/stage-bench';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import { generateInput } from '../../src/weights/synthetic';

const cpu = cpuBackendInfo();
const skipReason = cpu.available ? '' : ` [SKIPPED: CPU backend not built: ${cpu.reason?.split('\n')[0]}; run npm run build]`;
const MIB = 1024 * 1024;
const IRV1 = { model: 'inception_resnet_v1', size: 160, precision: 'fp32' } as const;

/** Free memory that drops by 100 MiB on the second reading and by 300 MiB more on the third, then rises 200 MiB for good. */
function scriptedProbe(): RowProbe & { readings: number } {
  const free = [1000, 900, 600, 800].map((m) => m * MIB);
  const probe = {
    device: 'cpu' as const,
    readings: 0,
    freeBytes(): number {
      return free[Math.min(probe.readings++, free.length - 1)]!;
    },
  };
  return probe;
}

describe.skipIf(!cpu.available)(`bench stage rows through the public API${skipReason}`, () => {
  it('a batch-2 row: images/s, no latency fields, the least free reading as the peak, and the last as steady', async () => {
    const probe = scriptedProbe();
    const row = await benchRow(IRV1, 2, generateInput(2, 160, 160), 0.01, probe);
    expect(row.error).toBeUndefined();
    expect(row.iterations).toBeGreaterThanOrEqual(3);
    expect(row.imagesPerSecond).toBeGreaterThan(0);
    expect(row.p50Ms).toBeUndefined();
    expect(row.flopsPerImage).toBe(2 * 1_417_662_304);
    // before = 1000 MiB free; least seen 600; after the timed runs 800 (the script's last value).
    expect(row.deviceUsedPeakBytes).toBe(400 * MIB);
    expect(row.deviceUsedSteadyBytes).toBe(200 * MIB);
    expect(row.memorySamples).toBe(probe.readings - 1); // every reading but "before"
    const held = row.heldBytes!;
    expect(held.weightBytes).toBeGreaterThan(0);
    expect(held.arenaBytes).toBeGreaterThan(0);
  });

  it('a batch-1 row has at least 100 latency samples with p50 <= p99', async () => {
    // At 96x96 (a valid input size: the row must come back without an error) 100 CPU runs stay short.
    const row = await benchRow({ ...IRV1, size: 96 }, 1, generateInput(1, 96, 96), 0.01, scriptedProbe());
    expect(row.error).toBeUndefined();
    expect(row.latencyIterations).toBeGreaterThanOrEqual(100);
    expect(row.p50Ms!).toBeGreaterThan(0);
    expect(row.p50Ms!).toBeLessThanOrEqual(row.p99Ms!);
  });

  it('a failing memory reader or session becomes the row, not a crash of the stage', async () => {
    const broken: RowProbe = {
      device: 'cpu',
      freeBytes: () => {
        throw new Error('no device');
      },
    };
    const noMemory = await benchRow(IRV1, 2, generateInput(2, 160, 160), 0.01, broken);
    expect(noMemory.error).toBe('Error: no device');
    const wrongInput = await benchRow(IRV1, 2, generateInput(1, 160, 160), 0.01, scriptedProbe());
    expect(wrongInput.error).toMatch(/InvalidInputError/);
    expect(wrongInput.imagesPerSecond).toBeUndefined();
  });
});
