/**
 * What the sessions of a process hold against the container's memory limit: weights + arena +
 * workspace per session (Session.memory), times the instances, beside the limit from the cgroup
 * (src/system/cgroup.ts) and what the process already uses.
 */
import { MemoryLimitError } from '../errors';
import type { CgroupReading, MemoryLimit } from './cgroup';

export interface SessionBytes {
  readonly weightBytes: number;
  /** Undefined in an estimate made before planning (then not counted). */
  readonly arenaBytes?: number;
  /** Unknown before the backend compiles (oneDNN's scratchpad): undefined in an estimate. */
  readonly workspaceBytes?: number;
}

export interface MemoryFit {
  readonly limit: MemoryLimit | null;
  readonly notes: readonly string[];
  readonly instances: number;
  readonly perSession: SessionBytes;
  /** instances x (weights + arena + workspace). */
  readonly sessionsBytes: number;
  /** The process's resident bytes counted beside the sessions (0 when not counted). */
  readonly processBytes: number;
  /** Whether sessionsBytes + processBytes stays within the limit (true with no limit). */
  readonly fits: boolean;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function perSessionTotal(s: SessionBytes): number {
  return s.weightBytes + (s.arenaBytes ?? 0) + (s.workspaceBytes ?? 0);
}

export function memoryFit(limit: CgroupReading<MemoryLimit>, instances: number, perSession: SessionBytes, processBytes = 0): MemoryFit {
  const sessionsBytes = instances * perSessionTotal(perSession);
  const fits = limit.limit === null || sessionsBytes + processBytes <= limit.limit.bytes;
  return { limit: limit.limit, notes: limit.notes, instances, perSession, sessionsBytes, processBytes, fits };
}

/** 'weights 204.6 MiB + arena 111.9 MiB + workspace 103.1 MiB' (no term for what is unknown). */
export function describeSessionBytes(s: SessionBytes): string {
  const parts = [`weights ${formatBytes(s.weightBytes)}`];
  if (s.arenaBytes !== undefined) parts.push(`arena ${formatBytes(s.arenaBytes)}`);
  if (s.workspaceBytes !== undefined) parts.push(`workspace ${formatBytes(s.workspaceBytes)}`);
  return parts.join(' + ');
}

/** 'container memory limit 1.00 GiB (/sys/fs/cgroup/memory.max)' or 'no container memory limit'. */
export function describeMemoryLimit(limit: MemoryLimit | null, notes: readonly string[] = []): string {
  if (limit !== null) return `container memory limit ${formatBytes(limit.bytes)} (${limit.file})`;
  return notes.length > 0 ? `container memory limit unknown (${notes.join('; ')})` : 'no container memory limit';
}

/**
 * 'memory: 2 x (weights ... + arena ... + workspace ...) = 839.2 MiB held; container memory limit 4.00 GiB (...)'.
 */
export function describeMemoryFit(fit: MemoryFit): string {
  if (fit.instances === 0) return `memory: no CPU session (CUDA sessions hold device memory); ${describeMemoryLimit(fit.limit, fit.notes)}`;
  const held = `${fit.instances} x (${describeSessionBytes(fit.perSession)}) = ${formatBytes(fit.sessionsBytes)}`;
  const process = fit.processBytes > 0 ? `, process resident ${formatBytes(fit.processBytes)}` : '';
  return `memory: ${held} held${process}; ${describeMemoryLimit(fit.limit, fit.notes)}`;
}

/**
 * Throws MemoryLimitError when `fit` does not fit: what is needed, the limit and its file, and what
 * to change. `what` names the sessions, e.g. 'inception_v4 at max batch 8'; `stage` says whether
 * the figures are the weights' lower bound before loading ('planned') or the compiled sessions'.
 */
export function assertMemoryFits(fit: MemoryFit, what: string, stage: 'planned' | 'compiled'): void {
  if (fit.fits || fit.limit === null) return;
  const needed = fit.sessionsBytes + fit.processBytes;
  const process = fit.processBytes > 0 ? ` + ${formatBytes(fit.processBytes)} this process already holds` : '';
  const bound = stage === 'planned' ? ' at least, before the arena, the workspace and the copies made while loading' : '';
  const perSession = stage === 'planned' ? `convolution weights ${formatBytes(fit.perSession.weightBytes)}` : describeSessionBytes(fit.perSession);
  throw new MemoryLimitError(
    `${what} cannot fit under the container memory limit of ${formatBytes(fit.limit.bytes)} (${fit.limit.file}): ` +
      `${fit.instances} instance(s) x (${perSession})${process} = ${formatBytes(needed)}${bound}. ` +
      `Raise the memory limit (the pod's resources.limits.memory, docker --memory), or lower ${stage === 'planned' ? '--instances' : '--max-batch or --instances'}`,
  );
}
