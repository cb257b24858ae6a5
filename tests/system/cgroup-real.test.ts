/**
 * A real cgroup with a 1-CPU quota (quota = period): a child process moves itself into it, and
 * there the default threads is 1 with the quota as the reason, both in `info` and in a session
 * (which also runs once). Needs root, a writable cgroup v1 `cpu` hierarchy or a cgroup v2 tree
 * with the cpu controller, at least 2 CPUs (else the quota decides nothing), and the compiled
 * lib/ and CPU module; otherwise skipped with the reason in the title. No timings here: the
 * latency under the quota is bench/cpu-quota's job.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import { cgroupLevels, parseMountInfo, parseProcCgroup } from '../../src/system/cgroup';
import { readAffinityCpus } from '../../src/system/cpu-threads';

const REPO = resolve(__dirname, '../..');
const CLI = resolve(REPO, 'lib/cli.js');

interface QuotaCgroup {
  readonly dir: string;
  /** Writes the quota files for 1 CPU. */
  limitToOneCpu(): void;
}

/** Where a 1-CPU cgroup can be made here, or why not. */
function findCgroup(): QuotaCgroup | string {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root to create a cgroup';
  if (readAffinityCpus().count < 2) return 'fewer than 2 CPUs: a 1-CPU quota would not change the default';
  let mounts;
  let cgroups;
  try {
    mounts = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
    cgroups = parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8'));
  } catch (error) {
    return `cannot read /proc/self: ${(error as Error).message}`;
  }
  const name = `inception-test-${process.pid}`;
  const v1 = mounts.find((m) => m.version === 1 && m.controllers.includes('cpu'));
  const v1Path = cgroups.v1.get('cpu');
  if (v1 !== undefined && v1Path !== undefined) {
    const dir = posix.join(cgroupLevels(v1, v1Path)[0]!, name);
    return {
      dir,
      limitToOneCpu() {
        writeFileSync(posix.join(dir, 'cpu.cfs_period_us'), '100000');
        writeFileSync(posix.join(dir, 'cpu.cfs_quota_us'), '100000');
      },
    };
  }
  const v2 = mounts.find((m) => m.version === 2);
  if (v2 !== undefined && cgroups.v2 !== null) {
    const parent = cgroupLevels(v2, cgroups.v2)[0]!;
    let controllers = '';
    try {
      controllers = readFileSync(posix.join(parent, 'cgroup.subtree_control'), 'utf8');
    } catch {
      // reported below
    }
    if (!controllers.split(/\s+/).includes('cpu')) return `cgroup v2 at ${parent} does not delegate the cpu controller to its children (cgroup.subtree_control: '${controllers.trim()}')`;
    const dir = posix.join(parent, name);
    return { dir, limitToOneCpu: () => writeFileSync(posix.join(dir, 'cpu.max'), '100000 100000') };
  }
  return 'no cgroup v1 cpu hierarchy and no cgroup v2 tree is mounted';
}

function findSkipReason(): { cgroup: QuotaCgroup | null; reason: string } {
  if (!existsSync(CLI)) return { cgroup: null, reason: 'lib/ not built; run npm run build' };
  const cpu = cpuBackendInfo();
  if (!cpu.available) return { cgroup: null, reason: `CPU backend not built: ${cpu.reason?.split('\n')[0]}` };
  const found = findCgroup();
  return typeof found === 'string' ? { cgroup: null, reason: found } : { cgroup: found, reason: '' };
}

const { cgroup, reason } = findSkipReason();
const title = cgroup === null ? ` [SKIPPED: ${reason}]` : '';

/** Runs `node args` in a shell that first moves itself into the cgroup (so node starts inside it). */
function runInCgroup(dir: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const quoted = args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const result = spawnSync('sh', ['-c', `echo $$ > '${dir}/cgroup.procs' && exec '${process.execPath}' ${quoted}`], { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe.skipIf(cgroup === null)(`a real cgroup with a 1-CPU quota${title}`, () => {
  const affinity = readAffinityCpus().count;

  beforeAll(() => {
    mkdirSync(cgroup!.dir);
    cgroup!.limitToOneCpu();
  });
  afterAll(() => {
    // The children have exited, so the cgroup is empty and can go.
    if (existsSync(cgroup!.dir)) rmdirSync(cgroup!.dir);
  });

  it('info (text and JSON) inside it: threads 1 because of the quota', () => {
    const text = runInCgroup(cgroup!.dir, [CLI, 'info']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toContain(`cpu: threads 1 (cgroup quota 1.0 CPU of ${affinity})`);
    const json = runInCgroup(cgroup!.dir, [CLI, 'info', '--json']);
    expect(json.status, json.stderr).toBe(0);
    const container = (JSON.parse(json.stdout) as { container: { cpuThreads: { threads: number; decidedBy: string; quota: { cpus: number } } } }).container;
    expect(container.cpuThreads).toMatchObject({ threads: 1, decidedBy: 'cgroup-quota', quota: { cpus: 1 } });
  });

  it('a session inside it takes 1 thread, pinned, and runs', () => {
    const script = `
      const { createSession, libraryInfo } = require(${JSON.stringify(resolve(REPO, 'lib/index.js'))});
      (async () => {
        const s = await createSession({ model: 'inception_resnet_v1', weights: 'synthetic', inputSize: 80, maxBatch: 1, benchmark: false });
        const out = await s.run(new Float32Array(3 * 80 * 80), [1, 3, 80, 80]);
        const { loadCpuModule } = require(${JSON.stringify(resolve(REPO, 'lib/native/cpu-backend.js'))});
        console.log(JSON.stringify({ threads: s.threads, outputs: out.length, pinning: loadCpuModule().info().threadPinning }));
        await s.dispose();
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const run = runInCgroup(cgroup!.dir, ['-e', script]);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as { threads: { threads: number; reason: string }; outputs: number; pinning: string };
    expect(report.threads.threads).toBe(1);
    expect(report.threads.reason).toBe(`cgroup quota 1.0 CPU of ${affinity}`);
    expect(report.outputs).toBe(512);
    expect(report.pinning).toMatch(/^1 thread pinned to CPU \d+$/);
  });

  it('outside it, this process sees no such quota (the quota is the cgroup\'s, not the machine\'s)', () => {
    const outside = spawnSync(process.execPath, [CLI, 'info', '--json'], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
    const threads = (JSON.parse(outside.stdout) as { container: { cpuThreads: { quota: { file: string } | null } } }).container.cpuThreads;
    expect(threads.quota?.file ?? '').not.toContain(posix.basename(cgroup!.dir));
  });
});
