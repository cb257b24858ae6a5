/**
 * The server's share of the container: the CPU figure split across instances, and the memory
 * check's arithmetic and messages. Exact: integer arithmetic on byte counts.
 */
import { describe, expect, it } from 'vitest';
import { MemoryLimitError } from '../../src/errors';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import { createServer } from '../../src/serve';
import { defaultCpuThreads } from '../../src/system/cpu-threads';
import { splitThreads, weightBytesLowerBound } from '../../src/serve/resources';
import type { CgroupReading, MemoryLimit } from '../../src/system/cgroup';
import { chooseCpuThreads } from '../../src/system/cpu-threads';
import { assertMemoryFits, describeMemoryFit, memoryFit } from '../../src/system/memory-fit';

const MiB = 2 ** 20;
const quota = (cpus: number) => ({ limit: { cpus, quotaMicroseconds: cpus * 100000, periodMicroseconds: 100000, file: '/sys/fs/cgroup/cpu.max' }, notes: [] });
const noQuota = { limit: null, notes: [] };

describe('splitThreads', () => {
  it('one instance takes the whole figure, with its reason', () => {
    expect(splitThreads(chooseCpuThreads(undefined, 2, quota(1)), 1)).toEqual({ perInstance: 1, text: 'threads 1 (cgroup quota 1.0 CPU of 2)' });
  });

  it('instances split the quota, not the visible CPUs', () => {
    expect(splitThreads(chooseCpuThreads(undefined, 16, quota(4)), 2)).toEqual({
      perInstance: 2,
      text: 'threads 2 per instance (cgroup quota 4.0 CPU of 16, split over 2 instances)',
    });
    expect(splitThreads(chooseCpuThreads(undefined, 8, noQuota), 3).perInstance).toBe(2);
  });

  it('more instances than threads: 1 each, and the text says they exceed the figure', () => {
    expect(splitThreads(chooseCpuThreads(undefined, 2, quota(1)), 2)).toEqual({
      perInstance: 1,
      text: 'threads 1 per instance (cgroup quota 1.0 CPU of 2, split over 2 instances; 2 instances x 1 thread exceed these 1)',
    });
  });

  it('an explicit threads is every instance\'s own', () => {
    expect(splitThreads(chooseCpuThreads(3, 2, quota(1)), 2)).toEqual({ perInstance: 3, text: 'threads 3 per instance (set explicitly)' });
  });
});

describe('memory fit', () => {
  const limit = (bytes: number): CgroupReading<MemoryLimit> => ({ limit: { bytes, file: '/sys/fs/cgroup/memory.max' }, notes: [] });
  const session = { weightBytes: 200 * MiB, arenaBytes: 100 * MiB, workspaceBytes: 50 * MiB };

  it('sums instances x (weights + arena + workspace) beside the limit', () => {
    const fit = memoryFit(limit(1024 * MiB), 2, session);
    expect(fit.sessionsBytes).toBe(700 * MiB);
    expect(fit.fits).toBe(true);
    expect(describeMemoryFit(fit)).toBe(
      'memory: 2 x (weights 200.0 MiB + arena 100.0 MiB + workspace 50.0 MiB) = 700.0 MiB held; container memory limit 1.00 GiB (/sys/fs/cgroup/memory.max)',
    );
  });

  it('no limit always fits', () => {
    const fit = memoryFit({ limit: null, notes: [] }, 64, session, 10 ** 12);
    expect(fit.fits).toBe(true);
    expect(() => assertMemoryFits(fit, 'x', 'compiled')).not.toThrow();
  });

  it('refuses with the figures, the file and what to change; before loading it says the figure is a lower bound', () => {
    const fit = memoryFit(limit(512 * MiB), 2, { weightBytes: 300 * MiB }, 60 * MiB);
    expect(fit.fits).toBe(false);
    let error: unknown;
    try {
      assertMemoryFits(fit, 'inception_v4 at max batch 8', 'planned');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MemoryLimitError);
    expect((error as MemoryLimitError).code).toBe('E_MEMORY_LIMIT');
    expect((error as Error).message).toBe(
      'inception_v4 at max batch 8 cannot fit under the container memory limit of 512.0 MiB (/sys/fs/cgroup/memory.max): ' +
        "2 instance(s) x (convolution weights 300.0 MiB) + 60.0 MiB this process already holds = 660.0 MiB at least, before the arena, the workspace and the copies made while loading. " +
        "Raise the memory limit (the pod's resources.limits.memory, docker --memory), or lower --instances",
    );
  });

  it('the compiled figures name all three terms', () => {
    expect(() => assertMemoryFits(memoryFit(limit(300 * MiB), 1, session), 'inception_v4 at max batch 8', 'compiled')).toThrow(
      'inception_v4 at max batch 8 cannot fit under the container memory limit of 300.0 MiB (/sys/fs/cgroup/memory.max): 1 instance(s) x (weights 200.0 MiB + arena 100.0 MiB + workspace 50.0 MiB) = 350.0 MiB. ',
    );
  });

  it('the weights lower bound of inception_v4 is its convolution and linear weights in fp32 (below the 170.6 MB the planner packs)', () => {
    const bound = weightBytesLowerBound({ model: 'inception_v4', weights: 'synthetic' });
    expect(bound).toBeGreaterThan(150e6);
    expect(bound).toBeLessThanOrEqual(170_599_168);
  });

  it('exactly at the limit fits', () => {
    expect(memoryFit(limit(350 * MiB), 1, session).fits).toBe(true);
    expect(memoryFit(limit(350 * MiB - 1), 1, session).fits).toBe(false);
  });
});

const cpu = cpuBackendInfo();
describe.skipIf(!cpu.available)(`createServer on the CPU backend${cpu.available ? '' : ' [SKIPPED: CPU backend not built]'}`, () => {
  it('splits the default threads (affinity capped by the cgroup quota) across 2 instances, and says so', async () => {
    const server = await createServer({
      session: { model: 'inception_resnet_v1', weights: 'synthetic', inputSize: 80, maxBatch: 1, benchmark: false },
      instances: 2,
      warmup: false,
      port: 0,
    });
    try {
      const figure = defaultCpuThreads();
      const each = Math.max(1, Math.floor(figure.threads / 2));
      expect(server.sessions.map((s) => s.threads.threads)).toEqual([each, each]);
      expect(server.resources.threads).toMatch(new RegExp(`^threads ${each} per instance \\(${figure.reason.replace(/[()]/g, '\\$&')}, split over 2 instances`));
      const m = server.sessions[0]!.memory;
      expect(server.resources.memory.instances).toBe(2);
      expect(server.resources.memory.sessionsBytes).toBe(2 * (m.weightBytes + m.arenaBytes + m.workspaceBytes));
    } finally {
      await server.close();
    }
  });
});
