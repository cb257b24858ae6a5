/** What a benchmark result was measured on: CPU model, ISA, cores, load, versions, commit. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { packageVersion } from '../info';
import { cpuBackendInfo } from '../native/cpu-backend';

export interface MachineInfo {
  readonly date: string;
  readonly cpuModel: string;
  /** oneDNN's detected ISA (what its JIT kernels use), e.g. 'avx512_core'. */
  readonly isa: string;
  readonly logicalCores: number;
  readonly loadAverage1m: number;
  readonly commit: string;
  readonly versions: Readonly<Record<string, string>>;
}

/** The first `model name` of /proc/cpuinfo, else os.cpus()[0].model. */
export function cpuModelName(cpuinfo?: string): string {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      text = '';
    }
  }
  const match = /^model name\s*:\s*(.+)$/m.exec(text);
  return match?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
}

export function gitCommit(cwd: string = process.cwd()): string {
  const r = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd, encoding: 'utf8' });
  if (r.status !== 0) return 'unknown';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8' });
  return `${r.stdout.trim()}${dirty.status === 0 && dirty.stdout.trim() !== '' ? ' (working tree modified)' : ''}`;
}

function packageVersionOf(name: string): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

export function machineInfo(): MachineInfo {
  const cpu = cpuBackendInfo();
  return {
    date: new Date().toISOString(),
    cpuModel: cpuModelName(),
    isa: cpu.versions.isa ?? 'unknown',
    logicalCores: os.cpus().length,
    loadAverage1m: os.loadavg()[0] ?? NaN,
    commit: gitCommit(),
    versions: {
      'inception-cudnn': packageVersion(),
      node: process.versions.node,
      onednn: cpu.versions.onednn ?? 'unavailable',
      'onnxruntime-node': packageVersionOf('onnxruntime-node'),
    },
  };
}
