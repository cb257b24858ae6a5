/** What this installation can do: package and library versions, models, backends and devices. */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { readMemoryLimit, type MemoryLimit } from './system/cgroup';
import { defaultCpuThreads, type CpuThreadChoice } from './system/cpu-threads';
import { sharpVersions } from './preprocess/sharp-loader';
import { MODEL_NAMES, getModel } from './models/registry';
import type { ModelName } from './models/types';
import type { BackendInfo } from './runtime/backend';

export interface ModelSummary {
  readonly name: ModelName;
  readonly inputSize: number;
  readonly output: 'logits' | 'embedding';
  readonly outputSize: number;
  readonly interpolation: 'bicubic' | 'bilinear';
  readonly cropPct: number;
}

/** The limits this process runs under (a container's cgroup limits, src/system/cgroup.ts). */
export interface ContainerInfo {
  /** The CPU threads a session takes when `threads` is not given, and why. */
  readonly cpuThreads: CpuThreadChoice;
  /** The cgroup memory limit (memory.max / memory.limit_in_bytes), or null when none is set. */
  readonly memoryLimit: MemoryLimit | null;
  /** cgroup memory files that could not be read, in words. */
  readonly memoryNotes: readonly string[];
  /** The machine's memory (os.totalmem()). */
  readonly totalMemoryBytes: number;
}

export interface LibraryInfo {
  readonly version: string;
  readonly node: string;
  readonly sharp: string;
  readonly libvips: string;
  readonly models: readonly ModelSummary[];
  readonly backends: readonly BackendInfo[];
  readonly container: ContainerInfo;
}

/** The package version from package.json (one level above src/ and lib/). */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function modelSummaries(): ModelSummary[] {
  return MODEL_NAMES.map((name) => {
    const m = getModel(name);
    const p = m.preprocessing;
    return { name, inputSize: p.inputSize, output: m.output, outputSize: m.outputSize, interpolation: p.interpolation, cropPct: p.cropPct };
  });
}

/** The CPU thread default and the memory limit of this process now; never throws (unreadable files are named in the notes). */
export function containerInfo(): ContainerInfo {
  const memory = readMemoryLimit();
  return { cpuThreads: defaultCpuThreads(), memoryLimit: memory.limit, memoryNotes: memory.notes, totalMemoryBytes: totalmem() };
}

/** Never throws: a backend that cannot load is listed with `available: false` and the reason. */
export async function libraryInfo(): Promise<LibraryInfo> {
  const { backendInfos } = await import('./runtime/backends');
  const sharp = sharpVersions();
  return {
    version: packageVersion(),
    node: process.version,
    sharp: sharp?.sharp ?? 'not installed',
    libvips: sharp?.vips ?? 'not installed',
    models: modelSummaries(),
    backends: backendInfos(),
    container: containerInfo(),
  };
}
