/**
 * Per-layer GPU profile: every step of the compiled plan timed on the GPU between a pair of
 * cudaEvents (CudaProgram.profile: eager, steps one after another, median of repeats after a
 * warm-up), with its MACs, achieved TFLOP/s and what ran (fused / split conv, scratch copy, cuDNN
 * or kernel pooling, the cuDNN algorithm and workspace); totals and time per kind. For scale, the
 * whole run through Program.run (CUDA graph replay after warm-up, branch streams as planned) is
 * timed as well.
 */
import { gitCommit } from './machine';
import { macsByNode } from './profile';
import { getModel } from '../models/registry';
import type { ModelName } from '../models/types';
import { cudaBackendInfo, loadCudaBackend, type CudaProgram, type CudaStepProfile } from '../native/cuda-backend';
import { optimize } from '../optimize';
import { lowerToPlan } from '../plan/lower';
import type { Plan } from '../plan/types';
import type { Precision } from '../runtime/backend';
import { generateInput, syntheticWeights } from '../weights/synthetic';

export interface CudaProfileOptions {
  readonly model: ModelName;
  readonly batch: number;
  readonly repeats: number;
  readonly precision: Precision;
  /** Branch streams the plan is scheduled on (1..4; profile timing serialises them anyway). */
  readonly streams?: number;
  readonly deviceIndex?: number;
  readonly inputSize?: number;
}

export interface CudaProfiledStep {
  readonly step: string;
  /** The plan op ('conv2d', 'maxpool2d', ...), or 'convert' for the input/output conversions. */
  readonly op: string;
  /** 'fused', 'split', '...+scratch-copy', 'cudnn', 'pool-kernel', 'kernel' (see CudaStepProfile.path). */
  readonly path: string;
  /** cuDNN forward algorithm id of a conv, -1 otherwise. */
  readonly algo: number;
  readonly workspaceBytes: number;
  readonly stream: number;
  readonly ms: number;
  /** Multiply-accumulates of the whole batch (convs and linears; 0 for the rest). */
  readonly macs: number;
  /** 2 * MACs / time in TFLOP/s; 0 where MACs are 0. */
  readonly tflops: number;
}

export interface CudaKindTotal {
  /** op:path, e.g. 'conv2d:fused', 'avgpool2d:pool-kernel', 'convert:kernel'. */
  readonly kind: string;
  readonly ms: number;
  readonly steps: number;
  readonly macs: number;
  readonly tflops: number;
}

export interface CudaProfileReport {
  readonly kind: 'cuda-profile';
  readonly date: string;
  readonly commit: string;
  readonly device: string;
  readonly versions: Readonly<Record<string, string>>;
  readonly model: ModelName;
  readonly inputSize: number;
  readonly batch: number;
  readonly precision: Precision;
  readonly streams: number;
  readonly repeats: number;
  readonly steps: readonly CudaProfiledStep[];
  /** Sum of the step times (steps serialised, no graph). */
  readonly totalMs: number;
  readonly totalMacs: number;
  readonly tflops: number;
  /** Time per op:path, largest first. */
  readonly byKind: readonly CudaKindTotal[];
  /** Median ms of `repeats` whole runs through Program.run after warm-up (graph replay, host copies included). */
  readonly runMs: number;
}

/** Turns the native per-step profile into report rows (MACs from the optimised graph's nodes by name). */
export function profiledSteps(plan: Plan, raw: readonly CudaStepProfile[], macsOf: ReadonlyMap<string, { macs: number }>): CudaProfiledStep[] {
  return raw.map((r) => {
    const op = r.index >= 0 ? (plan.steps[r.index]?.op ?? 'unknown') : 'convert';
    const macs = r.index >= 0 ? (macsOf.get(r.step)?.macs ?? 0) : 0;
    const tflops = macs > 0 && r.ms > 0 ? (2 * macs) / (r.ms * 1e9) : 0;
    return { step: r.step, op, path: r.path, algo: r.algo, workspaceBytes: r.workspaceBytes, stream: r.stream, ms: r.ms, macs, tflops };
  });
}

/** Totals per op:path, largest time first. */
export function totalsByKind(steps: readonly CudaProfiledStep[]): CudaKindTotal[] {
  const byKind = new Map<string, { ms: number; steps: number; macs: number }>();
  for (const s of steps) {
    const key = `${s.op}:${s.path}`;
    const entry = byKind.get(key) ?? { ms: 0, steps: 0, macs: 0 };
    entry.ms += s.ms;
    entry.steps += 1;
    entry.macs += s.macs;
    byKind.set(key, entry);
  }
  return [...byKind.entries()]
    .map(([kind, e]) => ({ kind, ...e, tflops: e.macs > 0 && e.ms > 0 ? (2 * e.macs) / (e.ms * 1e9) : 0 }))
    .sort((a, b) => b.ms - a.ms);
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const m = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
};

/** Profiles one model on the GPU (synthetic 'plain' weights: timing does not depend on values). Throws BackendUnavailableError without CUDA. */
export async function profileCuda(options: CudaProfileOptions): Promise<CudaProfileReport> {
  const backend = loadCudaBackend();
  const def = getModel(options.model);
  const size = options.inputSize ?? def.preprocessing.inputSize;
  const streams = options.streams ?? 1;
  const graph = def.build({ batch: options.batch, height: size, width: size });
  const optimised = optimize(graph, syntheticWeights(def, 'plain'));
  const { plan } = lowerToPlan(optimised.graph, optimised.weights, backend.layoutPolicy(options.precision), { streams });
  const program = (await backend.compile(plan, { precision: options.precision, deviceIndex: options.deviceIndex ?? 0, benchmark: true })) as CudaProgram;
  const input = generateInput(options.batch, size, size);
  let raw: CudaStepProfile[];
  const runs: number[] = [];
  try {
    raw = await program.profile(input, options.batch, options.repeats);
    // Warm-up: 2 eager runs, then the graph capture (Program::kEagerRunsBeforeCapture).
    for (let i = 0; i < 3; i++) await program.run(input, options.batch);
    for (let i = 0; i < options.repeats; i++) {
      const t0 = process.hrtime.bigint();
      await program.run(input, options.batch);
      runs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  } finally {
    program.dispose();
  }
  const steps = profiledSteps(plan, raw, macsByNode(optimised.graph));
  const totalMs = steps.reduce((a, s) => a + s.ms, 0);
  const totalMacs = steps.reduce((a, s) => a + s.macs, 0);
  const info = cudaBackendInfo();
  const device = info.devices.find((d) => d.index === (options.deviceIndex ?? 0));
  return {
    kind: 'cuda-profile',
    date: new Date().toISOString(),
    commit: gitCommit(),
    device: device === undefined ? `cuda:${options.deviceIndex ?? 0}` : `cuda:${device.index} (${device.name})`,
    versions: info.versions,
    model: options.model,
    inputSize: size,
    batch: options.batch,
    precision: options.precision,
    streams,
    repeats: options.repeats,
    steps,
    totalMs,
    totalMacs,
    tflops: totalMs > 0 ? (2 * totalMacs) / (totalMs * 1e9) : 0,
    byKind: totalsByKind(steps),
    runMs: median(runs),
  };
}

const pad = (text: string, width: number): string => (text.length >= width ? text : text + ' '.repeat(width - text.length));
const lpad = (text: string, width: number): string => (text.length >= width ? text : ' '.repeat(width - text.length) + text);

/** A text report in the CPU profile's style: summary, time per kind, the slowest steps. */
export function formatCudaProfile(report: CudaProfileReport, top = 25): string {
  const lines: string[] = [];
  const versions = Object.entries(report.versions).filter(([k]) => k !== 'cudnnPath').map(([k, v]) => `${k} ${v}`).join(', ');
  lines.push(`${report.model} ${report.inputSize}x${report.inputSize} batch ${report.batch}, ${report.precision}, ${report.streams} stream(s), median of ${report.repeats} runs (${report.device}; ${versions})`);
  lines.push(
    `whole network: ${report.totalMs.toFixed(3)} ms summed over steps for ${(report.totalMacs / 1e9).toFixed(2)} GMACs = ${report.tflops.toFixed(2)} TFLOP/s; ` +
      `${((report.batch * 1000) / report.totalMs).toFixed(1)} images/s (steps timed one by one between cudaEvents, no graph)`,
  );
  lines.push(`Program.run (graph replay after warm-up, host copies included): ${report.runMs.toFixed(3)} ms = ${((report.batch * 1000) / report.runMs).toFixed(1)} images/s`);
  lines.push('', 'time per kind (op:path):');
  for (const k of report.byKind) {
    lines.push(`  ${pad(k.kind, 32)} ${lpad(k.ms.toFixed(3), 9)} ms  ${lpad(((100 * k.ms) / report.totalMs).toFixed(1), 5)}%  ${lpad(String(k.steps), 4)} steps  ${lpad(k.tflops > 0 ? k.tflops.toFixed(2) : '-', 7)} TFLOP/s`);
  }
  lines.push('', `slowest ${Math.min(top, report.steps.length)} steps:`);
  lines.push(`  ${pad('step', 44)} ${pad('op', 12)} ${pad('path', 20)} ${lpad('algo', 4)} ${lpad('ws MiB', 7)} ${lpad('ms', 8)} ${lpad('%', 5)} ${lpad('MMACs', 8)} ${lpad('TFLOP/s', 8)}`);
  const slowest = [...report.steps].sort((a, b) => b.ms - a.ms).slice(0, top);
  for (const s of slowest) {
    lines.push(
      `  ${pad(s.step, 44)} ${pad(s.op, 12)} ${pad(s.path, 20)} ${lpad(s.algo >= 0 ? String(s.algo) : '-', 4)} ${lpad(s.workspaceBytes > 0 ? (s.workspaceBytes / 2 ** 20).toFixed(1) : '-', 7)} ${lpad(s.ms.toFixed(3), 8)} ${lpad(((100 * s.ms) / report.totalMs).toFixed(1), 5)} ${lpad((s.macs / 1e6).toFixed(0), 8)} ${lpad(s.tflops > 0 ? s.tflops.toFixed(2) : '-', 8)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
