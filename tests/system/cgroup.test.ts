/**
 * cgroup limits read from fixture trees in a temporary folder laid out like a real system:
 * /proc/self/cgroup, /proc/self/mountinfo and the cgroup files under /sys/fs/cgroup. Exact
 * comparisons: the figures are integers read from text, and quota / period is one division.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cgroupLevels, parseMountInfo, parseProcCgroup, readCpuQuota, readMemoryLimit } from '../../src/system/cgroup';
import { chooseCpuThreads, countCpuList, defaultCpuThreads, describeThreads } from '../../src/system/cpu-threads';

const V2_MOUNTINFO = '25 20 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';
const V1_MOUNTINFO = [
  '30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct',
  '34 30 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory',
  '39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
  '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  '',
].join('\n');

let root: string;

function put(path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'inception-cgroup-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function v2(path: string): void {
  put('/proc/self/cgroup', `0::${path}\n`);
  put('/proc/self/mountinfo', V2_MOUNTINFO);
}

function v1(cpuPath: string, memoryPath = cpuPath): void {
  put('/proc/self/cgroup', `12:memory:${memoryPath}\n4:cpu,cpuacct:${cpuPath}\n1:name=systemd:/init.scope\n0::/\n`);
  put('/proc/self/mountinfo', V1_MOUNTINFO);
}

describe('parsing /proc/self/mountinfo and /proc/self/cgroup', () => {
  it('finds v1 hierarchies with their controllers, the v2 mount, and decodes escaped mount points', () => {
    const mounts = parseMountInfo(V1_MOUNTINFO + '41 30 0:38 /docker/a\\040b /mnt/my\\040cg rw - cgroup cgroup rw,memory\n');
    expect(mounts.map((m) => [m.version, m.mountPoint, m.controllers.join('+')])).toEqual([
      [1, '/sys/fs/cgroup/cpu,cpuacct', 'cpu+cpuacct'],
      [1, '/sys/fs/cgroup/memory', 'memory'],
      [1, '/sys/fs/cgroup/systemd', ''],
      [2, '/sys/fs/cgroup/unified', ''],
      [1, '/mnt/my cg', 'memory'],
    ]);
    expect(mounts[4]!.root).toBe('/docker/a b');
  });

  it('reads the v2 path and every v1 controller path (paths may contain colons)', () => {
    const cgroups = parseProcCgroup('4:cpu,cpuacct:/kubepods/pod1/c:1\n0::/user.slice/x\n');
    expect(cgroups.v2).toBe('/user.slice/x');
    expect(cgroups.v1.get('cpu')).toBe('/kubepods/pod1/c:1');
    expect(cgroups.v1.get('cpuacct')).toBe('/kubepods/pod1/c:1');
  });

  it('lists the levels from the process cgroup up to the mount point, relative to the mount root', () => {
    const mount = { version: 1 as const, mountPoint: '/sys/fs/cgroup/cpu', root: '/docker/abc', controllers: ['cpu'] };
    expect(cgroupLevels(mount, '/docker/abc')).toEqual(['/sys/fs/cgroup/cpu']);
    expect(cgroupLevels(mount, '/docker/abc/x/y')).toEqual(['/sys/fs/cgroup/cpu/x/y', '/sys/fs/cgroup/cpu/x', '/sys/fs/cgroup/cpu']);
    // Outside the mount's root (another namespace's view): only the mount point is readable.
    expect(cgroupLevels(mount, '/other')).toEqual(['/sys/fs/cgroup/cpu']);
  });

  it('counts cpuset lists', () => {
    expect(countCpuList('0-1')).toBe(2);
    expect(countCpuList('0-3,8,10-11\n')).toBe(7);
    expect(countCpuList('3-1')).toBeNull();
    expect(countCpuList('')).toBeNull();
  });
});

describe('CPU quota, cgroup v2 (cpu.max)', () => {
  it("'max' is no quota: the affinity CPUs decide", () => {
    v2('/a');
    put('/sys/fs/cgroup/a/cpu.max', 'max 100000\n');
    const quota = readCpuQuota(root);
    expect(quota).toEqual({ limit: null, notes: [] });
    expect(chooseCpuThreads(undefined, 4, quota)).toMatchObject({ threads: 4, decidedBy: 'affinity', reason: '4 CPUs, no cgroup CPU quota' });
  });

  it('a fractional quota rounds down: 1.5 CPU -> 1 thread', () => {
    v2('/a');
    put('/sys/fs/cgroup/a/cpu.max', '150000 100000\n');
    const choice = chooseCpuThreads(undefined, 2, readCpuQuota(root));
    expect(choice.quota).toEqual({ cpus: 1.5, quotaMicroseconds: 150000, periodMicroseconds: 100000, file: '/sys/fs/cgroup/a/cpu.max' });
    expect(choice).toMatchObject({ threads: 1, decidedBy: 'cgroup-quota' });
    expect(describeThreads(choice)).toBe('threads 1 (cgroup quota 1.5 CPU of 2)');
  });

  it('a quota below one CPU still gives 1 thread', () => {
    v2('/a');
    put('/sys/fs/cgroup/a/cpu.max', '25000 100000\n');
    expect(describeThreads(chooseCpuThreads(undefined, 8, readCpuQuota(root)))).toBe('threads 1 (cgroup quota 0.25 CPU of 8, at least 1)');
  });

  it('the tightest level of a nested path wins, wherever it is', () => {
    v2('/kubepods/burstable/pod1/ctr');
    put('/sys/fs/cgroup/kubepods/cpu.max', 'max 100000\n');
    put('/sys/fs/cgroup/kubepods/burstable/pod1/cpu.max', '200000 100000\n');
    put('/sys/fs/cgroup/kubepods/burstable/pod1/ctr/cpu.max', '300000 100000\n');
    // no cpu.max at burstable/: that level sets nothing
    const choice = chooseCpuThreads(undefined, 16, readCpuQuota(root));
    expect(choice.quota?.file).toBe('/sys/fs/cgroup/kubepods/burstable/pod1/cpu.max');
    expect(choice.threads).toBe(2);
  });

  it('a quota above the affinity CPUs leaves the affinity figure, and says so', () => {
    v2('/a');
    put('/sys/fs/cgroup/a/cpu.max', '400000 100000\n');
    expect(describeThreads(chooseCpuThreads(undefined, 2, readCpuQuota(root)))).toBe('threads 2 (2 CPUs, under the cgroup quota 4.0 CPU)');
  });

  it('an explicit threads always wins', () => {
    v2('/a');
    put('/sys/fs/cgroup/a/cpu.max', '50000 100000\n');
    expect(chooseCpuThreads(3, 2, readCpuQuota(root))).toMatchObject({ threads: 3, decidedBy: 'explicit', reason: 'set explicitly' });
  });

  it('memory.max: a number is the limit, max is none, the tightest level wins', () => {
    v2('/pod/ctr');
    put('/sys/fs/cgroup/pod/memory.max', '1073741824\n');
    put('/sys/fs/cgroup/pod/ctr/memory.max', 'max\n');
    expect(readMemoryLimit(root)).toEqual({ limit: { bytes: 1073741824, file: '/sys/fs/cgroup/pod/memory.max' }, notes: [] });
  });
});

describe('CPU quota, cgroup v1 (cpu.cfs_quota_us / cpu.cfs_period_us)', () => {
  it('-1 is no quota', () => {
    v1('/');
    put('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us', '-1\n');
    put('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us', '100000\n');
    expect(readCpuQuota(root)).toEqual({ limit: null, notes: [] });
  });

  it('quota = period is 1 CPU; 1.5 CPU gives 1 thread; nested levels, the tightest wins', () => {
    v1('/docker/abc');
    put('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us', '-1\n');
    put('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us', '100000\n');
    put('/sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us', '150000\n');
    put('/sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_period_us', '100000\n');
    put('/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us', '300000\n');
    put('/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us', '100000\n');
    const choice = chooseCpuThreads(undefined, 4, readCpuQuota(root));
    expect(choice.quota).toEqual({ cpus: 1.5, quotaMicroseconds: 150000, periodMicroseconds: 100000, file: '/sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us' });
    expect(choice.threads).toBe(1);
  });

  it('a quota below one CPU gives 1 thread', () => {
    v1('/');
    put('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us', '50000\n');
    put('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us', '100000\n');
    expect(describeThreads(chooseCpuThreads(undefined, 2, readCpuQuota(root)))).toBe('threads 1 (cgroup quota 0.5 CPU of 2, at least 1)');
  });

  it('a container whose mount root is its own cgroup (no cgroup namespace) reads the mount point', () => {
    put('/proc/self/cgroup', '4:cpu,cpuacct:/docker/abc\n');
    put('/proc/self/mountinfo', '31 30 0:28 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n');
    put('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us', '200000\n');
    put('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us', '100000\n');
    expect(readCpuQuota(root).limit?.cpus).toBe(2);
  });

  it('memory.limit_in_bytes: the page-counter maximum means no limit', () => {
    v1('/', '/docker/abc');
    put('/sys/fs/cgroup/memory/memory.limit_in_bytes', '9223372036854771712\n');
    put('/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes', '9223372036854771712\n');
    expect(readMemoryLimit(root)).toEqual({ limit: null, notes: [] });
    put('/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes', '536870912\n');
    expect(readMemoryLimit(root).limit).toEqual({ bytes: 536870912, file: '/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes' });
  });

  it('hybrid: v1 controllers beside an empty v2 tree; the v1 quota is found', () => {
    put('/proc/self/cgroup', '4:cpu,cpuacct:/x\n0::/\n');
    put('/proc/self/mountinfo', V1_MOUNTINFO);
    put('/sys/fs/cgroup/unified/cgroup.controllers', '\n');
    put('/sys/fs/cgroup/cpu,cpuacct/x/cpu.cfs_quota_us', '100000\n');
    put('/sys/fs/cgroup/cpu,cpuacct/x/cpu.cfs_period_us', '100000\n');
    expect(describeThreads(chooseCpuThreads(undefined, 2, readCpuQuota(root)))).toBe('threads 1 (cgroup quota 1.0 CPU of 2)');
  });
});

describe('missing and unreadable files', () => {
  it('no /proc at all: no quota, and a note that says why', () => {
    const reading = readCpuQuota(root);
    expect(reading.limit).toBeNull();
    expect(reading.notes.join('\n')).toMatch(/\/proc\/self\/cgroup is missing/);
    expect(chooseCpuThreads(undefined, 2, reading).reason).toBe('2 CPUs; cgroup quota unknown (see notes)');
  });

  it('missing cgroup files set no limit at their level, without a note', () => {
    v2('/a/b');
    expect(readCpuQuota(root)).toEqual({ limit: null, notes: [] });
    expect(readMemoryLimit(root)).toEqual({ limit: null, notes: [] });
  });

  it('a v1 quota without its period file is named, not guessed', () => {
    v1('/');
    put('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us', '100000\n');
    expect(readCpuQuota(root)).toEqual({ limit: null, notes: ['/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us is missing beside /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us'] });
  });

  it('garbage in cpu.max is named, and other levels still count', () => {
    v2('/a');
    put('/sys/fs/cgroup/a/cpu.max', 'lots\n');
    put('/sys/fs/cgroup/cpu.max', '100000 100000\n');
    const reading = readCpuQuota(root);
    expect(reading.notes).toEqual(["cannot parse /sys/fs/cgroup/a/cpu.max: 'lots'"]);
    expect(reading.limit?.cpus).toBe(1);
  });

  it('an unreadable file is named with its error (a directory where the file should be, which no user can read as a file)', () => {
    v2('/a');
    mkdirSync(join(root, '/sys/fs/cgroup/a/cpu.max'), { recursive: true });
    const reading = readCpuQuota(root);
    expect(reading.limit).toBeNull();
    expect(reading.notes).toEqual(['cannot read /sys/fs/cgroup/a/cpu.max: EISDIR']);
  });

  it.skipIf(process.getuid?.() === 0)('a file without read permission is named with EACCES (skipped as root, who reads it anyway)', () => {
    v2('/a');
    put('/sys/fs/cgroup/a/memory.max', '1000\n');
    chmodSync(join(root, '/sys/fs/cgroup/a/memory.max'), 0o000);
    expect(readMemoryLimit(root).notes).toEqual(['cannot read /sys/fs/cgroup/a/memory.max: EACCES']);
  });

  it('an unreadable /proc/self/cgroup stops the reading with a note', () => {
    mkdirSync(join(root, '/proc/self/cgroup'), { recursive: true });
    put('/proc/self/mountinfo', V2_MOUNTINFO);
    expect(readCpuQuota(root).notes).toEqual(['cannot read /proc/self/cgroup: EISDIR: no cgroup limits read']);
  });

  it('defaultCpuThreads reads the affinity list from /proc/self/status under the same root', () => {
    v2('/a');
    put('/proc/self/status', 'Name:\tnode\nCpus_allowed_list:\t0-5\n');
    put('/sys/fs/cgroup/a/cpu.max', '300000 100000\n');
    expect(describeThreads(defaultCpuThreads(undefined, root))).toBe('threads 3 (cgroup quota 3.0 CPU of 6)');
  });
});
