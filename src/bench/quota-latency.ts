/**
 * Single-image latency under a 1-CPU cgroup quota and without one (issue 22), `npm run
 * bench:cpu-quota`: per model, ours with the default threads, ours with threads 1, ours with as
 * many threads as CPUs (the default before issue 22), and onnxruntime-node with its own default,
 * each run back to back for a fixed time. Writes bench/results/cpu-quota-<date>-<commit>.{json,md}.
 *
 * The parent makes a cgroup with quota = period (v1 cpu.cfs_quota_us, or v2 cpu.max) below its
 * own, then runs one child per model and condition: under the quota, a shell that writes itself
 * into the cgroup's cgroup.procs and execs node, so everything of the child runs inside it. With
 * --lock FILE each child runs under `flock -x FILE` (one model and condition per hold, so the
 * hold stays short on a shared machine). Needs root for the cgroup; without it only the
 * no-quota rows run, and the report says why.
 *
 *   node lib/bench/quota-latency.js [--seconds 10] [--models inception_resnet_v1,inception_v4] [--lock /tmp/cpu.lock] [--suffix X]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { getModel } from '../models/registry';
import type { ModelName } from '../models/types';
import { createSession } from '../runtime/session';
import { cgroupLevels, parseMountInfo, parseProcCgroup } from '../system/cgroup';
import { readAffinityCpus } from '../system/cpu-threads';
import { loadOnnxRuntime, ortEngine } from './engines';
import { machineInfo, type MachineInfo } from './machine';
import { latencyStats, percentile } from './stats';

const ROOT = resolve(__dirname, '../..');
const INPUT_SIZES: Readonly<Record<ModelName, number>> = { inception_resnet_v1: 160, inception_v4: 299, inception_resnet_v2: 299 };

export interface LatencyRow {
  readonly model: ModelName;
  readonly condition: 'quota-1cpu' | 'no-quota';
  readonly engine: string;
  /** Threads the engine ran with, and why (ours: Session.threads.reason; ort: its default). */
  readonly threads: string;
  readonly runs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly maxMs: number;
}

interface Engine {
  readonly name: string;
  readonly threads: string;
  run(): Promise<unknown>;
  dispose(): Promise<void>;
}

/** Runs `engine` back to back: a warm-up of at least 5 runs and 1 s, then `seconds` of timed single-image runs. */
async function timeEngine(engine: Engine, seconds: number): Promise<{ samples: number[] }> {
  const warmEnd = performance.now() + 1000;
  for (let i = 0; i < 5 || performance.now() < warmEnd; i++) await engine.run();
  const samples: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t0 = performance.now();
    await engine.run();
    samples.push(performance.now() - t0);
  }
  return { samples };
}

async function oursEngine(model: ModelName, size: number, input: Float32Array, threads: number | undefined, name: string): Promise<Engine> {
  const session = await createSession({ model, weights: { synthetic: 'plain' }, device: 'cpu', inputSize: size, maxBatch: 1, ...(threads === undefined ? {} : { threads }) });
  return {
    name,
    threads: `${session.threads.threads} (${session.threads.reason})`,
    run: () => session.run(input, [1, 3, size, size]),
    dispose: () => session.dispose(),
  };
}

async function childMain(model: ModelName, condition: LatencyRow['condition'], seconds: number): Promise<void> {
  const size = INPUT_SIZES[model];
  const input = new Float32Array(3 * size * size);
  for (let i = 0; i < input.length; i++) input[i] = Math.sin(i * 0.37);
  const cpus = readAffinityCpus().count;
  const makers: (() => Promise<Engine>)[] = [
    () => oursEngine(model, size, input, undefined, 'ours, default threads'),
    () => oursEngine(model, size, input, 1, 'ours, threads 1'),
  ];
  if (condition === 'quota-1cpu' && cpus > 1) makers.push(() => oursEngine(model, size, input, cpus, `ours, threads ${cpus} (the default before issue 22)`));
  makers.push(async () => {
    const ort = loadOnnxRuntime();
    const engine = await ortEngine(ort, getModel(model), size, undefined, true);
    return { name: 'onnxruntime-node, default threads', threads: "ort's default (intraOpNumThreads unset)", run: () => engine.run(input, 1), dispose: () => engine.dispose() };
  });
  for (const make of makers) {
    const engine = await make();
    try {
      const { samples } = await timeEngine(engine, seconds);
      const stats = latencyStats(samples);
      const sorted = [...samples].sort((a, b) => a - b);
      const row: LatencyRow = {
        model,
        condition,
        engine: engine.name,
        threads: engine.threads,
        runs: stats.iterations,
        p50Ms: stats.p50Ms,
        p90Ms: stats.p90Ms,
        p99Ms: percentile(sorted, 99),
        meanMs: stats.meanMs,
        maxMs: stats.maxMs,
      };
      process.stdout.write(`ROW ${JSON.stringify(row)}\n`);
    } finally {
      await engine.dispose();
    }
  }
}

interface QuotaCgroup {
  readonly dir: string;
  readonly files: string;
}

/** Makes a cgroup with a 1-CPU quota below this process's own, or says why it cannot. */
function makeQuotaCgroup(): QuotaCgroup | string {
  if (process.getuid?.() !== 0) return 'not root: cannot create a cgroup';
  const mounts = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  const cgroups = parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8'));
  const name = `inception-bench-${process.pid}`;
  const v1 = mounts.find((m) => m.version === 1 && m.controllers.includes('cpu'));
  const v1Path = cgroups.v1.get('cpu');
  if (v1 !== undefined && v1Path !== undefined) {
    const dir = posix.join(cgroupLevels(v1, v1Path)[0]!, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'cpu.cfs_period_us'), '100000');
    writeFileSync(join(dir, 'cpu.cfs_quota_us'), '100000');
    return { dir, files: 'cgroup v1: cpu.cfs_quota_us 100000, cpu.cfs_period_us 100000' };
  }
  const v2 = mounts.find((m) => m.version === 2);
  if (v2 !== undefined && cgroups.v2 !== null) {
    const dir = posix.join(cgroupLevels(v2, cgroups.v2)[0]!, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'cpu.max'), '100000 100000');
    return { dir, files: 'cgroup v2: cpu.max 100000 100000' };
  }
  return 'no cgroup v1 cpu hierarchy or v2 tree mounted';
}

function runChild(model: ModelName, condition: LatencyRow['condition'], seconds: number, cgroup: QuotaCgroup | null, lock: string | undefined): LatencyRow[] {
  const node = `'${process.execPath}' '${__filename}' --child --model ${model} --condition ${condition} --seconds ${seconds}`;
  const shell = cgroup === null ? `exec ${node}` : `echo $$ > '${cgroup.dir}/cgroup.procs' && exec ${node}`;
  const command = lock === undefined ? ['sh', '-c', shell] : ['flock', '-x', lock, 'sh', '-c', shell];
  process.stderr.write(`${model}, ${condition}: ${command.join(' ')}\n`);
  const result = spawnSync(command[0]!, command.slice(1), { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20 });
  if (result.status !== 0) throw new Error(`child for ${model} ${condition} exited ${String(result.status)} (${String(result.signal)})`);
  return result.stdout
    .split('\n')
    .filter((l) => l.startsWith('ROW '))
    .map((l) => JSON.parse(l.slice(4)) as LatencyRow);
}

function markdown(machine: MachineInfo, rows: readonly LatencyRow[], seconds: number, quota: string, command: string): string {
  const lines = [
    '# Single-image latency under a 1-CPU cgroup quota (issue 22)',
    '',
    `Machine: ${machine.cpuModel} (${machine.isa}), ${machine.logicalCores} logical cores; date ${machine.date}; commit ${machine.commit};`,
    `node ${machine.versions.node}, oneDNN ${machine.versions.onednn}, onnxruntime-node ${machine.versions['onnxruntime-node']}.`,
    `Quota: ${quota}. Each row: one engine, batch 1, runs back to back for ${seconds} s after a warm-up of at least 5 runs and 1 s.`,
    `Command: \`${command}\``,
    '',
    '| model | quota | engine | threads | runs | p50 ms | p90 ms | p90/p50 | p99 ms | max ms |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.model} | ${r.condition === 'quota-1cpu' ? '1 CPU' : 'none'} | ${r.engine} | ${r.threads} | ${r.runs} | ${r.p50Ms.toFixed(1)} | ${r.p90Ms.toFixed(1)} | ${(r.p90Ms / r.p50Ms).toFixed(2)} | ${r.p99Ms.toFixed(1)} | ${r.maxMs.toFixed(1)} |`,
    );
  }
  lines.push('', 'Target (issue 22): under the 1-CPU quota, the default threads\' p90 at most 1.3x its p50.', '');
  for (const r of rows.filter((x) => x.condition === 'quota-1cpu' && x.engine === 'ours, default threads')) {
    const ratio = r.p90Ms / r.p50Ms;
    lines.push(`- ${r.model}: p90/p50 = ${ratio.toFixed(2)}: ${ratio <= 1.3 ? 'met' : 'missed'}`);
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'boolean' },
      model: { type: 'string' },
      condition: { type: 'string' },
      models: { type: 'string' },
      seconds: { type: 'string' },
      lock: { type: 'string' },
      suffix: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds ?? '10');
  if (!(seconds > 0)) throw new Error(`--seconds expects a positive number, got ${values.seconds}`);
  if (values.child === true) {
    await childMain(values.model as ModelName, values.condition as LatencyRow['condition'], seconds);
    return;
  }
  const models = (values.models ?? 'inception_resnet_v1,inception_v4').split(',') as ModelName[];
  for (const m of models) getModel(m); // unknown names fail here, before any child
  const cgroup = makeQuotaCgroup();
  const quota = typeof cgroup === 'string' ? `none could be made (${cgroup}); only the no-quota rows ran` : cgroup.files;
  const rows: LatencyRow[] = [];
  try {
    for (const model of models) {
      if (typeof cgroup !== 'string') rows.push(...runChild(model, 'quota-1cpu', seconds, cgroup, values.lock));
      rows.push(...runChild(model, 'no-quota', seconds, null, values.lock));
    }
  } finally {
    if (typeof cgroup !== 'string') rmdirSync(cgroup.dir);
  }
  const machine = machineInfo();
  const stamp = machine.date.slice(0, 10);
  const name = `cpu-quota-${stamp}-${machine.commit.slice(0, 7)}${values.suffix === undefined ? '' : `-${values.suffix}`}`;
  const command = `npm run bench:cpu-quota -- ${process.argv.slice(2).join(' ')}`.trim();
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify({ machine, seconds, quota, command, rows }, null, 2)}\n`);
  const md = markdown(machine, rows, seconds, quota, command);
  writeFileSync(join(dir, `${name}.md`), md);
  process.stdout.write(md);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
