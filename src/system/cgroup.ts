/**
 * The limits a container puts on this process, read from its cgroups: the CPU quota (cgroup v2
 * `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`) and the memory limit (v2 `memory.max`,
 * v1 `memory.limit_in_bytes`).
 *
 * The process's own cgroup path comes from /proc/self/cgroup and the hierarchies' mount points
 * from /proc/self/mountinfo. A limit set on any cgroup above the process's applies to it too, so
 * every level from the process's cgroup up to the hierarchy's mount point is read and the
 * tightest limit wins. Both versions are read where both are mounted (the "hybrid" layout: v1
 * controllers beside an empty v2 tree). A file that is missing sets no limit at its level (the
 * root cgroup has none); one that cannot be read or parsed is named in `notes`, never guessed.
 *
 * Every path is read under `root` ('' for the real system; tests pass a fixture tree).
 */
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

export interface CgroupMount {
  readonly version: 1 | 2;
  /** Where the hierarchy is mounted, e.g. /sys/fs/cgroup/cpu. */
  readonly mountPoint: string;
  /** The cgroup the mount shows as its top (field 4 of mountinfo), e.g. '/' or '/docker/abc'. */
  readonly root: string;
  /** v1: the controllers of the hierarchy (from the super options, e.g. ['cpu', 'cpuacct']); v2: []. */
  readonly controllers: readonly string[];
}

export interface ProcessCgroups {
  /** The v2 path ('0::/path'), or null when the process has none. */
  readonly v2: string | null;
  /** v1 controller name -> path, e.g. 'cpu' -> '/docker/abc'. */
  readonly v1: ReadonlyMap<string, string>;
}

export interface CpuQuota {
  /** quota / period: how many CPUs' worth of time the cgroup may use, e.g. 1.5. */
  readonly cpus: number;
  readonly quotaMicroseconds: number;
  readonly periodMicroseconds: number;
  /** The file that set it (its path under `root`). */
  readonly file: string;
}

export interface MemoryLimit {
  readonly bytes: number;
  readonly file: string;
}

export interface CgroupReading<T> {
  /** The tightest limit found, or null when none is set. */
  readonly limit: T | null;
  /** Files that could not be read or parsed, and cgroup data that was missing, in words. */
  readonly notes: readonly string[];
}

/** The paths read, relative to the filesystem root. */
export const PROC_SELF_CGROUP = '/proc/self/cgroup';
export const PROC_SELF_MOUNTINFO = '/proc/self/mountinfo';

/**
 * cgroup v1 reports "no limit" as the largest page-aligned counter (9223372036854771712 with 4 KiB
 * pages); anything at or above 2^62 bytes is treated as no limit.
 */
const V1_UNLIMITED_BYTES = 2 ** 62;

/** Super options of a v1 cgroup mount that are not controller names (see the kernel's cgroup1_parse_param). */
const V1_MOUNT_OPTIONS = new Set(['rw', 'ro', 'xattr', 'noprefix', 'clone_children', 'cpuset_v2_mode', 'favordynmods', 'none', 'all']);

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The cgroup mounts of a /proc/self/mountinfo text (other mounts are ignored). */
export function parseMountInfo(text: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const separator = fields.indexOf('-');
    if (separator < 6 || fields.length < separator + 3) continue;
    const fsType = fields[separator + 1];
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const root = unescapeMountField(fields[3]!);
    const mountPoint = unescapeMountField(fields[4]!);
    const superOptions = (fields[separator + 3] ?? '').split(',');
    mounts.push(
      fsType === 'cgroup2'
        ? { version: 2, mountPoint, root, controllers: [] }
        : { version: 1, mountPoint, root, controllers: superOptions.filter((o) => !V1_MOUNT_OPTIONS.has(o) && !o.includes('=')) },
    );
  }
  return mounts;
}

/** The paths of /proc/self/cgroup: 'hierarchy-id:controllers:path' per line. */
export function parseProcCgroup(text: string): ProcessCgroups {
  let v2: string | null = null;
  const v1 = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const id = line.slice(0, first);
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1).trim();
    if (id === '0' && controllers === '') v2 = path;
    else for (const c of controllers.split(',')) if (c !== '') v1.set(c, path);
  }
  return { v2, v1 };
}

/**
 * The directories from the process's cgroup up to the mount point, deepest first. A path outside
 * the mount's root (a cgroup namespace that shows more than the mount) starts at the mount point.
 */
export function cgroupLevels(mount: CgroupMount, processPath: string): string[] {
  const relative = posix.relative(mount.root, posix.resolve('/', processPath));
  const inside = relative === '' || (!relative.startsWith('..') && !posix.isAbsolute(relative));
  const levels: string[] = [mount.mountPoint];
  if (inside && relative !== '') {
    let dir = mount.mountPoint;
    for (const part of relative.split('/')) {
      dir = posix.join(dir, part);
      levels.push(dir);
    }
  }
  return levels.reverse();
}

type Read = { kind: 'text'; text: string } | { kind: 'missing' } | { kind: 'error'; note: string };

function readUnder(root: string, path: string): Read {
  try {
    return { kind: 'text', text: readFileSync(join(root, path), 'utf8') };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
    return { kind: 'error', note: `cannot read ${path}: ${code ?? (error as Error).message}` };
  }
}

interface Layout {
  readonly mounts: CgroupMount[];
  readonly cgroups: ProcessCgroups;
}

function readLayout(root: string, notes: string[]): Layout | null {
  const cgroupText = readUnder(root, PROC_SELF_CGROUP);
  const mountText = readUnder(root, PROC_SELF_MOUNTINFO);
  for (const [path, read] of [[PROC_SELF_CGROUP, cgroupText], [PROC_SELF_MOUNTINFO, mountText]] as const) {
    if (read.kind === 'missing') notes.push(`${path} is missing (not Linux, or /proc not mounted): no cgroup limits read`);
    if (read.kind === 'error') notes.push(`${read.note}: no cgroup limits read`);
  }
  if (cgroupText.kind !== 'text' || mountText.kind !== 'text') return null;
  return { mounts: parseMountInfo(mountText.text), cgroups: parseProcCgroup(cgroupText.text) };
}

/** The levels of every mounted hierarchy that carries `controller` (v1) or is v2, with the version. */
function hierarchyLevels(layout: Layout, controller: string): { version: 1 | 2; dirs: string[] }[] {
  const result: { version: 1 | 2; dirs: string[] }[] = [];
  for (const mount of layout.mounts) {
    if (mount.version === 2) {
      if (layout.cgroups.v2 !== null) result.push({ version: 2, dirs: cgroupLevels(mount, layout.cgroups.v2) });
    } else if (mount.controllers.includes(controller)) {
      const path = layout.cgroups.v1.get(controller);
      if (path !== undefined) result.push({ version: 1, dirs: cgroupLevels(mount, path) });
    }
  }
  return result;
}

function parseInteger(text: string): number | null {
  const trimmed = text.trim();
  return /^-?[0-9]+$/.test(trimmed) ? Number(trimmed) : null;
}

function cpuQuotaAt(root: string, version: 1 | 2, dir: string, notes: string[]): CpuQuota | null {
  if (version === 2) {
    const file = posix.join(dir, 'cpu.max');
    const read = readUnder(root, file);
    if (read.kind === 'error') notes.push(read.note);
    if (read.kind !== 'text') return null;
    const [quotaText, periodText = '100000'] = read.text.trim().split(/\s+/);
    if (quotaText === 'max') return null;
    const quota = parseInteger(quotaText ?? '');
    const period = parseInteger(periodText);
    if (quota === null || period === null || quota <= 0 || period <= 0) {
      notes.push(`cannot parse ${file}: '${read.text.trim()}'`);
      return null;
    }
    return { cpus: quota / period, quotaMicroseconds: quota, periodMicroseconds: period, file };
  }
  const quotaFile = posix.join(dir, 'cpu.cfs_quota_us');
  const quotaRead = readUnder(root, quotaFile);
  if (quotaRead.kind === 'error') notes.push(quotaRead.note);
  if (quotaRead.kind !== 'text') return null;
  const quota = parseInteger(quotaRead.text);
  if (quota === null) {
    notes.push(`cannot parse ${quotaFile}: '${quotaRead.text.trim()}'`);
    return null;
  }
  if (quota < 0) return null; // -1: no quota
  const periodFile = posix.join(dir, 'cpu.cfs_period_us');
  const periodRead = readUnder(root, periodFile);
  if (periodRead.kind !== 'text') {
    notes.push(periodRead.kind === 'error' ? periodRead.note : `${periodFile} is missing beside ${quotaFile}`);
    return null;
  }
  const period = parseInteger(periodRead.text);
  if (period === null || period <= 0 || quota === 0) {
    notes.push(`cannot parse ${quota === 0 ? quotaFile : periodFile}: '${(quota === 0 ? quotaRead : periodRead).text.trim()}'`);
    return null;
  }
  return { cpus: quota / period, quotaMicroseconds: quota, periodMicroseconds: period, file: quotaFile };
}

function memoryLimitAt(root: string, version: 1 | 2, dir: string, notes: string[]): MemoryLimit | null {
  const file = posix.join(dir, version === 2 ? 'memory.max' : 'memory.limit_in_bytes');
  const read = readUnder(root, file);
  if (read.kind === 'error') notes.push(read.note);
  if (read.kind !== 'text') return null;
  const text = read.text.trim();
  if (version === 2 && text === 'max') return null;
  const bytes = parseInteger(text);
  if (bytes === null || bytes < 0) {
    notes.push(`cannot parse ${file}: '${text}'`);
    return null;
  }
  if (bytes >= V1_UNLIMITED_BYTES) return null;
  return { bytes, file };
}

function tightest<T>(root: string, controller: string, at: (root: string, version: 1 | 2, dir: string, notes: string[]) => T | null, less: (a: T, b: T) => boolean): CgroupReading<T> {
  const notes: string[] = [];
  const layout = readLayout(root, notes);
  if (layout === null) return { limit: null, notes };
  const hierarchies = hierarchyLevels(layout, controller);
  if (hierarchies.length === 0) notes.push(`no cgroup hierarchy with the ${controller} controller is mounted for this process`);
  let best: T | null = null;
  for (const { version, dirs } of hierarchies) {
    for (const dir of dirs) {
      const limit = at(root, version, dir, notes);
      if (limit !== null && (best === null || less(limit, best))) best = limit;
    }
  }
  return { limit: best, notes };
}

/** The tightest CPU quota on this process's cgroups, or null when none is set. */
export function readCpuQuota(root = ''): CgroupReading<CpuQuota> {
  return tightest(root, 'cpu', cpuQuotaAt, (a, b) => a.cpus < b.cpus);
}

/** The tightest memory limit on this process's cgroups, or null when none is set. */
export function readMemoryLimit(root = ''): CgroupReading<MemoryLimit> {
  return tightest(root, 'memory', memoryLimitAt, (a, b) => a.bytes < b.bytes);
}
