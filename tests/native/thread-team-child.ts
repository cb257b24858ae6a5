/**
 * Child process of cpu-thread-team.test.ts (run with vite-node, so the process's OpenMP team and
 * thread masks start fresh): compiles a one-conv plan, runs it with each thread count given in
 * INCEPTION_TEAM_THREADS (comma-separated, in order) and after each run records info()'s
 * threadPinning and the CPU mask of every thread of the process (/proc/self/task/* /status).
 * Prints one JSON line. Not a test file itself (the parent checks what it prints).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadCpuBackend, loadCpuModule, type CpuProgram } from '../../src/native/cpu-backend';
import { PlanKit, identityWeights } from './plan-kit';

export interface TeamSnapshot {
  threads: number;
  pinning: string;
  /** Cpus_allowed_list of every thread, by thread id. */
  masks: Record<string, string>;
}

function threadMasks(): Record<string, string> {
  const masks: Record<string, string> = {};
  for (const tid of readdirSync('/proc/self/task')) {
    const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
    masks[tid] = /^Cpus_allowed_list:\s*(.+)$/m.exec(status)?.[1]?.trim() ?? '?';
  }
  return masks;
}

async function main(): Promise<void> {
  const backend = loadCpuBackend();
  const block = loadCpuModule().layoutPolicy('fp32').channelBlock;
  const kit = new PlanKit(1, block);
  const input = kit.map(32, 16, 16);
  const output = kit.map(32, 16, 16);
  kit.add({
    op: 'conv2d', name: 'conv', input, output, residual: -1, weight: kit.weight(identityWeights(32)),
    bias: kit.weight(new Float32Array(32)), kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu: false,
  });
  const plan = kit.build(input, output);
  const before = threadMasks();
  const snapshots: TeamSnapshot[] = [];
  for (const threads of (process.env.INCEPTION_TEAM_THREADS ?? '2').split(',').map(Number)) {
    const program = (await backend.compile(plan, { precision: 'fp32', threads, convolution: 'direct' })) as CpuProgram;
    await program.run(new Float32Array(32 * 16 * 16).fill(1), 1);
    program.dispose();
    snapshots.push({ threads, pinning: loadCpuModule().info().threadPinning, masks: threadMasks() });
  }
  console.log(JSON.stringify({ mainThread: String(process.pid), before, snapshots }));
}

if (process.env.INCEPTION_TEAM_CHILD === '1') void main();
