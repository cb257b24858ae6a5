/**
 * The oneDNN thread team's pinning (native/cpu/thread_team.h), observed from outside in a child
 * process: after a run with T threads (T at most the CPUs), exactly T threads of the process are
 * each limited to one CPU, all different, the first T CPUs of the process's mask; every other
 * thread (the JS thread, libuv's pool, threads started later) keeps the mask it had; a run with
 * more threads than CPUs leaves every thread on all CPUs again; INCEPTION_CPU_PIN_THREADS=0 pins
 * nothing. Exact comparisons: masks are sets of CPU numbers, no tolerance involved.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { productEnv } from '../helpers/suite-env';
import { cpuBackend, cpuSuiteName } from './cpu-harness';
import type { TeamSnapshot } from './thread-team-child';

const root = join(__dirname, '..', '..');
const viteNode = join(root, 'node_modules', '.bin', 'vite-node');
const linux = process.platform === 'linux';

interface ChildReport {
  mainThread: string;
  before: Record<string, string>;
  snapshots: TeamSnapshot[];
}

async function runChild(threads: readonly number[], env: Record<string, string> = {}): Promise<ChildReport> {
  expect(existsSync(viteNode), `${viteNode} (a dev dependency of vitest) is missing`).toBe(true);
  const { stdout } = await promisify(execFile)(viteNode, [join(__dirname, 'thread-team-child.ts')], {
    cwd: root,
    // The product's pinning defaults, not the suite's (tests/helpers/suite-env.ts).
    env: productEnv({ ...env, INCEPTION_TEAM_CHILD: '1', INCEPTION_TEAM_THREADS: threads.join(',') }),
    maxBuffer: 16 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as ChildReport;
}

/** '0-3,6' -> [0,1,2,3,6]. */
function cpuList(text: string): number[] {
  return text.split(',').flatMap((part) => {
    const [a, b] = part.split('-').map(Number);
    return b === undefined ? [a!] : Array.from({ length: b - a! + 1 }, (_, i) => a! + i);
  });
}

const singleCpuThreads = (masks: Record<string, string>): [string, number][] =>
  Object.entries(masks)
    .map(([tid, mask]) => [tid, cpuList(mask)] as const)
    .filter(([, cpus]) => cpus.length === 1)
    .map(([tid, cpus]) => [tid, cpus[0]!]);

const cpus = os.availableParallelism();
const skipReason = cpuBackend === null ? null : !linux ? 'thread masks are read from /proc (Linux only)' : cpus < 2 ? 'needs at least 2 CPUs' : null;
if (skipReason !== null && cpuBackend !== null) console.warn(`[skip] oneDNN thread team pinning: ${skipReason}`);

describe.skipIf(cpuBackend === null || skipReason !== null)(cpuSuiteName('oneDNN thread team pinning (child process)'), () => {
  it('pins T team threads to the first T CPUs, one each, and no other thread; unpins for more threads than CPUs', async () => {
    const report = await runChild([2, 1, cpus + 1]);
    const processCpus = cpuList(report.before[report.mainThread]!);
    expect(processCpus.length).toBeGreaterThanOrEqual(2);
    // Nothing in the process was limited to one CPU before the first run (unless the whole process is).
    expect(singleCpuThreads(report.before)).toEqual([]);

    const [two, one, over] = report.snapshots as [TeamSnapshot, TeamSnapshot, TeamSnapshot];
    expect(two.pinning).toBe(`2 threads pinned to CPUs ${processCpus[0]},${processCpus[1]}`);
    const pinned = singleCpuThreads(two.masks);
    expect(pinned.map(([, cpu]) => cpu).sort((a, b) => a - b)).toEqual(processCpus.slice(0, 2));
    // The JS thread and every thread that existed before keep the process's mask.
    expect(two.masks[report.mainThread]).toBe(report.before[report.mainThread]);
    for (const [tid, mask] of Object.entries(report.before)) expect(two.masks[tid], `thread ${tid}`).toBe(mask);

    // A 1-thread team: the compute thread stays on the first CPU; the idle worker keeps its pin.
    expect(one.pinning).toBe(`1 thread pinned to CPU ${processCpus[0]}`);
    expect(singleCpuThreads(one.masks)).toEqual(pinned);

    // More threads than CPUs: nothing pinned, every team thread back on the process's CPUs.
    expect(over.pinning).toBe(`off: ${cpus + 1} threads for ${processCpus.length} CPUs`);
    expect(singleCpuThreads(over.masks)).toEqual([]);
  });

  it('INCEPTION_CPU_PIN_THREADS=0 pins nothing and says so', async () => {
    const report = await runChild([2], { INCEPTION_CPU_PIN_THREADS: '0' });
    const [two] = report.snapshots as [TeamSnapshot];
    expect(two.pinning).toBe('off: INCEPTION_CPU_PIN_THREADS=0');
    expect(singleCpuThreads(two.masks)).toEqual([]);
  });
});
