/**
 * What a server's sessions may use of the container: CPU threads split across the instances
 * (src/system/cpu-threads.ts: the affinity mask capped by the cgroup CPU quota), and the memory
 * they hold against the cgroup memory limit, checked before the weights are loaded (a lower bound
 * of the weights) and again once the sessions are compiled (weights + arena + workspace).
 */
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

/**
 * A lower bound of the weight bytes a CPU session holds, from the model's parameter shapes alone
 * (nothing allocated, so the check itself cannot push a tight container over its limit): every
 * convolution and linear weight (parameters of 2 or more dimensions) in fp32. The session holds
 * them folded and packed into blocked layouts (padded, and transformed for Winograd), never fewer
 * bytes; batch-norm vectors and the arena come on top.
 */
export function weightBytesLowerBound(options: SessionOptions): number {
  const resolved = resolveOptions(options);
  const graph = resolved.model.build({ batch: 1, height: resolved.height, width: resolved.width });
  let elements = 0;
  for (const p of graph.params) if (p.shape.length >= 2) elements += p.shape.reduce((a, b) => a * b, 1);
  return elements * Float32Array.BYTES_PER_ELEMENT;
}

function sessionsName(options: SessionOptions): string {
  const resolved = resolveOptions(options);
  return `${resolved.model.name} at max batch ${resolved.maxBatch}`;
}

/**
 * Before any weights are read: refuses (MemoryLimitError) when `instances` CPU sessions cannot fit
 * under the limit even by their weights' lower bound plus what the process holds now. No limit
 * or a CUDA device: nothing to check. The compiled sessions are checked again with their exact
 * weights + arena + workspace (checkCompiledMemory).
 */
export function checkWeightsFit(options: SessionOptions, instances: number, limit: CgroupReading<MemoryLimit>): void {
  const cpu = options.device === undefined || options.device === 'cpu';
  if (!cpu || limit.limit === null) return;
  const weights = { weightBytes: weightBytesLowerBound(options) };
  assertMemoryFits(memoryFit(limit, instances, weights, process.memoryUsage.rss()), sessionsName(options), 'planned');
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
