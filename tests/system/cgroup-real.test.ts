/**
 * A real cgroup with a 1-CPU quota (quota = period): a child process moves itself into it, and
 * there the default threads is 1 with the quota as the reason, both in `info` and in a session
 * (which also runs once). Needs root, a writable cgroup v1 `cpu` hierarchy or a cgroup v2 tree
 * with the cpu controller, at least 2 CPUs (else the quota decides nothing), and the compiled
 * lib/ and CPU module; otherwise skipped with the reason in the title. No timings here: the
 * latency under the quota is src/bench/quota-latency.ts's job. Likewise a 128 MiB memory limit:
 * `info` reports it and `serve` refuses inception_v4 (its weights alone are larger) before
 * loading anything, with a message that names the limit's file and the fix.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuBackendInfo } from '../../src/native/cpu-backend';
import { cgroupLevels, parseMountInfo, parseProcCgroup } from '../../src/system/cgroup';
import { readAffinityCpus } from '../../src/system/cpu-threads';
import { productEnv } from '../helpers/suite-env';

const REPO = resolve(__dirname, '../..');
const CLI = resolve(REPO, 'lib/cli.js');

interface TestCgroup {
  readonly dir: string;
  /** Writes the limit's files. */
  limit(): void;
}

/** v1 and v2 files that set the test's limits: a 1-CPU quota, or a 128 MiB memory limit. */
const LIMIT_FILES = {
  cpu: { v1: { 'cpu.cfs_period_us': '100000', 'cpu.cfs_quota_us': '100000' }, v2: { 'cpu.max': '100000 100000' } },
  memory: { v1: { 'memory.limit_in_bytes': String(128 * 2 ** 20) }, v2: { 'memory.max': String(128 * 2 ** 20) } },
} as const;

/** Where a cgroup with `controller`'s limit can be made below this process's own, or why not. */
function findCgroup(controller: 'cpu' | 'memory'): TestCgroup | string {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root to create a cgroup';
  let mounts;
  let cgroups;
  try {
    mounts = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
    cgroups = parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8'));
  } catch (error) {
    return `cannot read /proc/self: ${(error as Error).message}`;
  }
  const name = `inception-test-${controller}-${process.pid}`;
  const make = (parent: string, files: Readonly<Record<string, string>>): TestCgroup => {
    const dir = posix.join(parent, name);
    return { dir, limit: () => Object.entries(files).forEach(([file, value]) => writeFileSync(posix.join(dir, file), value)) };
  };
  const v1 = mounts.find((m) => m.version === 1 && m.controllers.includes(controller));
  const v1Path = cgroups.v1.get(controller);
  if (v1 !== undefined && v1Path !== undefined) return make(cgroupLevels(v1, v1Path)[0]!, LIMIT_FILES[controller].v1);
  const v2 = mounts.find((m) => m.version === 2);
  if (v2 !== undefined && cgroups.v2 !== null) {
    const parent = cgroupLevels(v2, cgroups.v2)[0]!;
    let delegated = '';
    try {
      delegated = readFileSync(posix.join(parent, 'cgroup.subtree_control'), 'utf8');
    } catch {
      // reported below
    }
    if (!delegated.split(/\s+/).includes(controller)) {
      return `cgroup v2 at ${parent} does not delegate the ${controller} controller to its children (cgroup.subtree_control: '${delegated.trim()}')`;
    }
    return make(parent, LIMIT_FILES[controller].v2);
  }
  return `no cgroup v1 ${controller} hierarchy and no cgroup v2 tree is mounted`;
}

function findSkipReason(controller: 'cpu' | 'memory'): { cgroup: TestCgroup | null; reason: string } {
  if (!existsSync(CLI)) return { cgroup: null, reason: 'lib/ not built; run npm run build' };
  const cpu = cpuBackendInfo();
  if (!cpu.available) return { cgroup: null, reason: `CPU backend not built: ${cpu.reason?.split('\n')[0]}` };
  if (controller === 'cpu' && readAffinityCpus().count < 2) return { cgroup: null, reason: 'fewer than 2 CPUs: a 1-CPU quota would not change the default' };
  const found = findCgroup(controller);
  return typeof found === 'string' ? { cgroup: null, reason: found } : { cgroup: found, reason: '' };
}

const { cgroup, reason } = findSkipReason('cpu');
const title = cgroup === null ? ` [SKIPPED: ${reason}]` : '';
const memory = findSkipReason('memory');

/** Runs `node args` in a shell that first moves itself into the cgroup (so node starts inside it). */
function runInCgroup(dir: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const quoted = args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const result = spawnSync('sh', ['-c', `echo $$ > '${dir}/cgroup.procs' && exec '${process.execPath}' ${quoted}`], { cwd: REPO, encoding: 'utf8', timeout: 120_000, env: productEnv() });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe.skipIf(cgroup === null)(`a real cgroup with a 1-CPU quota${title}`, () => {
  const affinity = readAffinityCpus().count;

  beforeAll(() => {
    mkdirSync(cgroup!.dir);
    cgroup!.limit();
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

describe.skipIf(memory.cgroup === null)(`a real cgroup with a 128 MiB memory limit${memory.cgroup === null ? ` [SKIPPED: ${memory.reason}]` : ''}`, () => {
  beforeAll(() => {
    mkdirSync(memory.cgroup!.dir);
    memory.cgroup!.limit();
  });
  afterAll(() => {
    if (existsSync(memory.cgroup!.dir)) rmdirSync(memory.cgroup!.dir);
  });

  it('info reports the limit, and serve refuses inception_v4 before loading its weights, naming the limit and the fix', () => {
    const info = runInCgroup(memory.cgroup!.dir, [CLI, 'info']);
    expect(info.status, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/memory: container memory limit 128\.0 MiB \(\/sys\/fs\/cgroup\/\S+\)/);
    const serve = runInCgroup(memory.cgroup!.dir, [CLI, 'serve', '--model', 'inception_v4', '--weights', 'synthetic', '--max-batch', '8', '--port', '0']);
    expect(serve.status).toBe(1);
    expect(serve.stderr).toMatch(/error: inception_v4 at max batch 8 cannot fit under the container memory limit of 128\.0 MiB \(\/sys\/fs\/cgroup\/\S+\): 1 instance\(s\) x \(convolution weights 1[0-9]{2}\.[0-9] MiB\) \+ [0-9.]+ MiB this process already holds/);
    expect(serve.stderr).toMatch(/Raise the memory limit .*, or lower --instances$/m);
  });
});
