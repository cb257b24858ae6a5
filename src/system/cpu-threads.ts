/**
 * How many CPU threads the engine uses when the caller does not say: the CPUs the process may
 * run on (its affinity mask), capped by the container's CPU quota. A CFS quota does not hide any
 * CPU: a team sized from the visible CPUs spends the quota early in each period and is then
 * frozen until the next one (issue 22: inception_resnet_v1 at p50 10 ms, p90 62 ms with 2
 * threads under a 1-CPU quota). So the default is min(affinity CPUs, floor(quota / period)), at
 * least 1; an explicit `threads` always wins.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { type CgroupReading, type CpuQuota, readCpuQuota } from './cgroup';

export interface AffinityCpus {
  readonly count: number;
  /** Where the count came from: '/proc/self/status Cpus_allowed_list' or "Node's os.availableParallelism()". */
  readonly source: string;
}

export interface CpuThreadChoice {
  readonly threads: number;
  /** 'explicit': the caller's figure; 'cgroup-quota': the quota capped it; 'affinity': the process's CPUs. */
  readonly decidedBy: 'explicit' | 'cgroup-quota' | 'affinity';
  readonly affinityCpus: number;
  /** The CPU quota in force, or null when none is set. */
  readonly quota: CpuQuota | null;
  /** Why this figure, e.g. 'cgroup quota 1.0 CPU of 2'. */
  readonly reason: string;
  /** cgroup files that could not be read, in words (empty when all was read). */
  readonly notes: readonly string[];
}

/** Counts a cpuset list such as '0-3,8,10-11'; null when it does not parse. */
export function countCpuList(list: string): number | null {
  let count = 0;
  for (const part of list.trim().split(',')) {
    const match = /^([0-9]+)(?:-([0-9]+))?$/.exec(part);
    if (match === null) return null;
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first) return null;
    count += last - first + 1;
  }
  return count > 0 ? count : null;
}

/**
 * The CPUs this process may run on: /proc/self/status's Cpus_allowed_list (the affinity mask,
 * as sched_getaffinity gives it; Node's availableParallelism may already divide by a quota in
 * newer libuv, which would hide which limit is in force), else Node's count.
 */
export function readAffinityCpus(root = ''): AffinityCpus {
  try {
    const status = readFileSync(join(root, '/proc/self/status'), 'utf8');
    const line = /^Cpus_allowed_list:\s*(\S+)\s*$/m.exec(status);
    const count = line === null ? null : countCpuList(line[1]!);
    if (count !== null) return { count, source: '/proc/self/status Cpus_allowed_list' };
  } catch {
    // Not Linux or no /proc: Node's figure below.
  }
  return { count: availableParallelism(), source: "Node's os.availableParallelism()" };
}

/** 1 -> '1.0', 1.5 -> '1.5', 0.25 -> '0.25' (two decimals at most). */
export function formatCpus(cpus: number): string {
  const rounded = Math.round(cpus * 100) / 100;
  return Number.isInteger(rounded) ? rounded.toFixed(1) : String(rounded);
}

function cpusText(n: number): string {
  return `${n} CPU${n === 1 ? '' : 's'}`;
}

/** The default thread count for `affinityCpus` CPUs under `quota` (null: none), with the reason. */
export function chooseCpuThreads(explicit: number | undefined, affinityCpus: number, quota: CgroupReading<CpuQuota>): CpuThreadChoice {
  const notes = quota.notes;
  const limit = quota.limit;
  if (explicit !== undefined) {
    return { threads: explicit, decidedBy: 'explicit', affinityCpus, quota: limit, reason: 'set explicitly', notes };
  }
  if (limit === null) {
    const unread = notes.length > 0 ? '; cgroup quota unknown (see notes)' : ', no cgroup CPU quota';
    return { threads: affinityCpus, decidedBy: 'affinity', affinityCpus, quota: null, reason: `${cpusText(affinityCpus)}${unread}`, notes };
  }
  const byQuota = Math.max(1, Math.floor(limit.cpus));
  const quotaText = `cgroup quota ${formatCpus(limit.cpus)} CPU`;
  if (byQuota < affinityCpus) {
    const floor = Math.floor(limit.cpus) < 1 ? ', at least 1' : '';
    return { threads: byQuota, decidedBy: 'cgroup-quota', affinityCpus, quota: limit, reason: `${quotaText} of ${affinityCpus}${floor}`, notes };
  }
  return { threads: affinityCpus, decidedBy: 'affinity', affinityCpus, quota: limit, reason: `${cpusText(affinityCpus)}, under the ${quotaText}`, notes };
}

/** The default CPU threads of this process now (reads the affinity mask and the cgroup files). */
export function defaultCpuThreads(explicit?: number, root = ''): CpuThreadChoice {
  return chooseCpuThreads(explicit, readAffinityCpus(root).count, readCpuQuota(root));
}

/** 'threads 1 (cgroup quota 1.0 CPU of 2)'. */
export function describeThreads(choice: CpuThreadChoice): string {
  return `threads ${choice.threads} (${choice.reason})`;
}
