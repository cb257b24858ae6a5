/**
 * What a server's sessions may use of the container: CPU threads split across the instances
 * (src/system/cpu-threads.ts: the affinity mask capped by the cgroup CPU quota), and the memory
 * they hold against the cgroup memory limit, checked before the weights are loaded (the plan's
 * weights and arena, a lower bound) and again once the sessions are compiled (workspace included).
 */
import { optimize } from '../optimize';
import type { WeightStore } from '../graph/ir';
import { lowerToPlan } from '../plan/lower';
import { resolveOptions, type SessionOptions } from '../runtime/options';
import type { Session } from '../runtime/session';
import { type CgroupReading, type MemoryLimit } from '../system/cgroup';
import { type CpuThreadChoice } from '../system/cpu-threads';
import { assertMemoryFits, memoryFit, type MemoryFit, type SessionBytes } from '../system/memory-fit';

export interface InstanceThreads {
  /** Threads each CPU instance is created with. */
  readonly perInstance: number;
  /** E.g. 'threads 1 per instance (cgroup quota 2.0 CPU of 4, split over 2 instances)'. */
  readonly text: string;
}

/**
 * Splits the CPU figure across `instances`: floor(threads / instances), at least 1. An explicit
 * `threads` is each instance's own (not split). When there are more instances than threads, the
 * text says that the instances together exceed the figure.
 */
export function splitThreads(choice: CpuThreadChoice, instances: number): InstanceThreads {
  if (choice.decidedBy === 'explicit') {
    return { perInstance: choice.threads, text: `threads ${choice.threads}${instances > 1 ? ' per instance' : ''} (set explicitly)` };
  }
  if (instances === 1) return { perInstance: choice.threads, text: `threads ${choice.threads} (${choice.reason})` };
  const perInstance = Math.max(1, Math.floor(choice.threads / instances));
  const over = perInstance * instances > choice.threads ? `; ${instances} instances x 1 thread exceed these ${choice.threads}` : '';
  return { perInstance, text: `threads ${perInstance} per instance (${choice.reason}, split over ${instances} instances${over})` };
}

/** Weights and arena bytes of a CPU session as planned (no weights read, nothing compiled): a lower bound of what it holds. */
export async function plannedCpuSessionBytes(options: SessionOptions): Promise<SessionBytes> {
  const resolved = resolveOptions(options);
  const { loadBackend } = await import('../runtime/backends');
  const policy = loadBackend('cpu').layoutPolicy('fp32');
  const graph = resolved.model.build({ batch: resolved.maxBatch, height: resolved.height, width: resolved.width });
  // The plan's sizes do not depend on weight values: zeros of the right shapes suffice.
  const zeros: WeightStore = new Map(graph.params.map((p) => [p.name, new Float32Array(p.shape.reduce((a, b) => a * b, 1))]));
  const optimised = optimize(graph, zeros);
  const { report } = lowerToPlan(optimised.graph, optimised.weights, policy);
  return { weightBytes: report.weightBytes, arenaBytes: report.arenaBytes };
}

function sessionsName(options: SessionOptions): string {
  const resolved = resolveOptions(options);
  return `${resolved.model.name} at max batch ${resolved.maxBatch}`;
}

/**
 * Before any weights are read: refuses (MemoryLimitError) when `instances` CPU sessions cannot fit
 * under the limit even by the plan's lower bound plus what the process holds now. No limit or a
 * CUDA device: nothing to check.
 */
export async function checkPlannedMemory(options: SessionOptions, instances: number, limit: CgroupReading<MemoryLimit>): Promise<void> {
  const cpu = options.device === undefined || options.device === 'cpu';
  if (!cpu || limit.limit === null) return;
  const planned = await plannedCpuSessionBytes(options);
  assertMemoryFits(memoryFit(limit, instances, planned, process.memoryUsage.rss()), sessionsName(options), 'planned');
}

/** What the compiled sessions hold (weights + arena + workspace each) against the limit. CUDA sessions hold device memory: not counted. */
export function compiledMemory(sessions: readonly Session[], limit: CgroupReading<MemoryLimit>): MemoryFit {
  const cpu = sessions.filter((s) => s.info.device === 'cpu');
  const perSession: SessionBytes =
    cpu.length === 0
      ? { weightBytes: 0, arenaBytes: 0, workspaceBytes: 0 }
      : { weightBytes: cpu[0]!.memory.weightBytes, arenaBytes: cpu[0]!.memory.arenaBytes, workspaceBytes: cpu[0]!.memory.workspaceBytes };
  return memoryFit(limit, cpu.length, perSession);
}

/** Refuses (MemoryLimitError) when the compiled sessions' own bytes exceed the limit. */
export function checkCompiledMemory(fit: MemoryFit, sessions: readonly Session[]): void {
  const info = sessions[0]!.info;
  assertMemoryFits(fit, `${info.model} at max batch ${info.maxBatch}`, 'compiled');
}
