/**
 * Per-layer CPU profile: each fused step of the compiled plan timed natively (median of repeats,
 * waiting after every step), with its MACs, achieved GFLOP/s, the oneDNN implementation that ran
 * it, and the machine's measured fp32 peak (a large oneDNN matmul) as the yardstick.
 */
import type { Graph } from '../graph/ir';
import { getModel } from '../models/registry';
import type { ModelName } from '../models/types';
import { loadCpuBackend, measureCpuPeak, type CpuPeak, type CpuProgram } from '../native/cpu-backend';
import { optimize } from '../optimize';
import { lowerToPlan } from '../plan/lower';
import { AUTO_CONVOLUTION_SUMMARY, type ConvolutionAlgorithm } from '../runtime/backend';
import { generateInput, syntheticWeights } from '../weights/synthetic';
import { machineInfo, type MachineInfo } from './machine';
import { latencyStats } from './stats';

export interface ProfileOptions {
  readonly model: ModelName;
  readonly batch: number;
  readonly threads: number;
  readonly repeats: number;
  readonly inputSize?: number;
  /** How 3x3 stride-1 convolutions run (SessionOptions.convolution). Default 'auto'. */
  readonly convolution?: ConvolutionAlgorithm;
  /** Matmul size for the peak measurement (default 2048). */
  readonly peakSize?: number;
  /** Also time every step's second run right after its timed one (CpuProgram.profile's hot). */
  readonly hot?: boolean;
  /** Told each phase as it starts (compile, per-step timing, whole runs, the peak), a line each. */
  readonly progress?: (line: string) => void;
  /** 'bf16': the program under precision 'bf16' (native bf16 CPUs only). Default 'fp32'. */
  readonly precision?: 'fp32' | 'bf16';
}

export interface ProfiledStep {
  readonly step: string;
  /** The IR op of the fused node ('conv2d', 'maxpool2d', ...), or 'reorder' for the input/output conversions. */
  readonly op: string;
  readonly impl: string;
  readonly ms: number;
  /** Multiply-accumulates of the whole batch (convs and linears; 0 for the rest). */
  readonly macs: number;
  /**
   * 2 * MACs / time; 0 where MACs are 0. MACs are the direct convolution's, so for a Winograd
   * step this is an effective rate (it does fewer multiplications) and can exceed the peak.
   */
  readonly gflops: number;
  readonly fractionOfPeak: number;
  /** A oneDNN reference (unoptimised) implementation: a slow path worth fixing. */
  readonly reference: boolean;
  /** With hot, plan steps only: the median of the step's rerun right after, its data in the caches. */
  readonly hotMs?: number;
}

export interface ProfileReport {
  readonly kind: 'cpu-profile';
  readonly machine: MachineInfo;
  readonly model: ModelName;
  readonly inputSize: number;
  readonly batch: number;
  readonly threads: number;
  /** Absent in reports written before the option existed (those ran direct everywhere). */
  readonly convolution?: ConvolutionAlgorithm;
  /** Absent in reports written before bf16 existed (those ran fp32). */
  readonly precision?: 'fp32' | 'bf16';
  readonly repeats: number;
  readonly peak: CpuPeak;
  /** max(matmul, 1x1 conv, 3x3 conv) GFLOP/s: the yardstick for every fraction of peak. */
  readonly peakGflops: number;
  readonly steps: readonly ProfiledStep[];
  /** The sum of the steps' medians. */
  readonly totalMs: number;
  /**
   * With hot: the same sum with each plan step's hot rerun in place of its timed run (the
   * reorders as timed): totalMs minus this is what reading weights and inputs from memory costs.
   */
  readonly hotTotalMs?: number;
  /**
   * The median of `repeats` whole runs (program.run, back to back) after the step timings: the
   * time a caller sees, including the run-to-run noise that per-step medians filter out. Absent
   * in reports written before it was measured.
   */
  readonly runMs?: number;
  readonly totalMacs: number;
  readonly gflops: number;
  readonly fractionOfPeak: number;
  /** Milliseconds per implementation (e.g. 'brg:avx512_core', 'loop'), largest first. */
  readonly byImplementation: readonly { impl: string; ms: number; steps: number }[];
}

/** MACs of one node of the graph (the countMacs convention), by node name. */
export function macsByNode(graph: Graph): Map<string, { op: string; macs: number }> {
  const result = new Map<string, { op: string; macs: number }>();
  for (const node of graph.nodes) {
    let macs = 0;
    if (node.op === 'conv2d') {
      const [n, cOut, hOut, wOut] = graph.tensors[node.output]!.shape as [number, number, number, number];
      macs = n * cOut * hOut * wOut * graph.tensors[node.inputs[0]!]!.shape[1]! * node.kernel[0] * node.kernel[1];
    } else if (node.op === 'linear') {
      const [n, out] = graph.tensors[node.output]!.shape as [number, number];
      macs = n * out * graph.tensors[node.inputs[0]!]!.shape[1]!;
    }
    result.set(node.name, { op: node.op, macs });
  }
  return result;
}

export function isWinogradImpl(impl: string): boolean {
  return impl.includes('wino');
}

export function isReferenceImpl(impl: string): boolean {
  return impl.startsWith('ref') || impl.includes('ref:');
}

export async function profileCpu(options: ProfileOptions): Promise<ProfileReport> {
  const def = getModel(options.model);
  const size = options.inputSize ?? def.preprocessing.inputSize;
  const backend = loadCpuBackend();
  const graph = def.build({ batch: options.batch, height: size, width: size });
  const optimised = optimize(graph, syntheticWeights(def, 'plain'));
  const precision = options.precision ?? 'fp32';
  const { plan } = lowerToPlan(optimised.graph, optimised.weights, backend.layoutPolicy(precision));
  const convolution = options.convolution ?? 'auto';
  const progress = options.progress ?? (() => undefined);
  progress(`compiling ${plan.steps.length} steps`);
  const program = (await backend.compile(plan, { precision, threads: options.threads, convolution })) as CpuProgram;
  let timings;
  const runs: number[] = [];
  try {
    const input = generateInput(options.batch, size, size);
    progress(`timing every step (${options.repeats} runs after a warm-up${options.hot === true ? ', each step again with its data in cache' : ''})`);
    timings = await program.profile(input, options.batch, options.repeats, options.hot === true);
    progress(`timing ${options.repeats} whole runs`);
    for (let i = 0; i < options.repeats; i++) {
      const start = process.hrtime.bigint();
      await program.run(input, options.batch);
      runs.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  } finally {
    program.dispose();
  }
  const runMs = latencyStats(runs).p50Ms;
  progress("measuring this machine's fp32 peak (a large oneDNN matmul and convolutions)");
  const peak = await measureCpuPeak({ threads: options.threads, ...(options.peakSize === undefined ? {} : { size: options.peakSize }) });
  const peakGflops = Math.max(peak.gflops, peak.conv1x1Gflops, peak.conv3x3Gflops);
  const nodes = macsByNode(optimised.graph);
  const steps: ProfiledStep[] = timings.map((t) => {
    const node = nodes.get(t.step);
    const macs = node?.macs ?? 0;
    const gflops = macs > 0 && t.ms > 0 ? (2 * macs) / (t.ms * 1e6) : 0;
    const step = { step: t.step, op: node?.op ?? 'reorder', impl: t.impl, ms: t.ms, macs, gflops, fractionOfPeak: gflops / peakGflops, reference: isReferenceImpl(t.impl) };
    return t.hotMs === undefined ? step : { ...step, hotMs: t.hotMs };
  });
  const totalMs = steps.reduce((a, s) => a + s.ms, 0);
  const hotTotalMs = options.hot === true ? steps.reduce((a, s) => a + (s.hotMs ?? s.ms), 0) : undefined;
  const totalMacs = steps.reduce((a, s) => a + s.macs, 0);
  const gflops = (2 * totalMacs) / (totalMs * 1e6);
  const byImpl = new Map<string, { impl: string; ms: number; steps: number }>();
  for (const s of steps) {
    const entry = byImpl.get(s.impl) ?? { impl: s.impl, ms: 0, steps: 0 };
    entry.ms += s.ms;
    entry.steps += 1;
    byImpl.set(s.impl, entry);
  }
  return {
    kind: 'cpu-profile',
    machine: machineInfo(),
    model: options.model,
    inputSize: size,
    batch: options.batch,
    threads: options.threads,
    convolution,
    precision,
    repeats: options.repeats,
    peak,
    peakGflops,
    steps,
    totalMs,
    ...(hotTotalMs === undefined ? {} : { hotTotalMs }),
    runMs,
    totalMacs,
    gflops,
    fractionOfPeak: gflops / peakGflops,
    byImplementation: [...byImpl.values()].sort((a, b) => b.ms - a.ms),
  };
}

const pad = (text: string, width: number): string => (text.length >= width ? text : text + ' '.repeat(width - text.length));
const lpad = (text: string, width: number): string => (text.length >= width ? text : ' '.repeat(width - text.length) + text);

/** A text report: summary, the slowest steps, time per implementation, reference kernels flagged. */
export function formatProfile(report: ProfileReport, top = 25): string {
  const lines: string[] = [];
  const p = report.peak;
  const convolution = report.convolution === 'auto' ? `convolutions 'auto' (${AUTO_CONVOLUTION_SUMMARY})` : "convolutions 'direct'";
  const precision = report.precision === 'bf16' ? ", precision 'bf16' (oneDNN's bf16 direct kernels for every conv but the first; the first conv, global pool and classifier in fp32; the fp32 peak below is not bf16's)" : '';
  lines.push(`${report.model} ${report.inputSize}x${report.inputSize} batch ${report.batch}, ${report.threads} threads, ${convolution}${precision}, median of ${report.repeats} runs (${report.machine.cpuModel}, ${report.machine.isa}, load ${report.machine.loadAverage1m.toFixed(2)})`);
  lines.push(
    `measured fp32 peak: ${report.peakGflops.toFixed(1)} GFLOP/s, the best of a oneDNN matmul ${p.m}x${p.k}x${p.n} (${p.impl}): ${p.gflops.toFixed(1)}, ` +
      `a 1x1 conv ${p.conv1x1Channels}->${p.conv1x1Channels} on ${p.conv1x1Size}x${p.conv1x1Size} (${p.conv1x1Impl}): ${p.conv1x1Gflops.toFixed(1)} ` +
      `and a 3x3 conv 192->192 on 35x35 (${p.conv3x3Impl}): ${p.conv3x3Gflops.toFixed(1)} GFLOP/s (best of ${p.repeats} each)`,
  );
  lines.push(
    `whole network: ${report.totalMs.toFixed(2)} ms for ${(report.totalMacs / 1e9).toFixed(2)} GMACs = ${report.gflops.toFixed(1)} GFLOP/s, ${(100 * report.fractionOfPeak).toFixed(1)}% of peak; ` +
      `${((report.batch * 1000) / report.totalMs).toFixed(2)} images/s (the sum of the steps' medians, each step timed alone)`,
  );
  if (report.runMs !== undefined) {
    lines.push(
      `whole runs: ${report.runMs.toFixed(2)} ms, ${((report.batch * 1000) / report.runMs).toFixed(2)} images/s (median of ${report.repeats} runs back to back: ` +
        `what a caller sees, including this machine's run-to-run noise that per-step medians filter out)`,
    );
  }
  if (report.hotTotalMs !== undefined) {
    const memory = report.totalMs - report.hotTotalMs;
    lines.push(
      `each step rerun right after its timed run (weights and inputs then in the caches): ${report.hotTotalMs.toFixed(2)} ms over the steps; ` +
        `reading from memory costs ${memory.toFixed(2)} ms, ${((100 * memory) / report.totalMs).toFixed(1)}% of the timed steps`,
    );
  }
  if (report.steps.some((s) => isWinogradImpl(s.impl))) {
    lines.push("GFLOP/s count each convolution's direct MACs: Winograd steps (fewer multiplications) show an effective rate, which can exceed the peak");
  }
  const refs = report.steps.filter((s) => s.reference);
  lines.push(refs.length === 0 ? 'reference (ref:) implementations: none' : `WARNING: ${refs.length} step(s) run a oneDNN reference implementation (slow path): ${refs.map((s) => `${s.step} [${s.impl}] ${s.ms.toFixed(2)} ms`).join('; ')}`);
  lines.push('', 'time per implementation:');
  for (const i of report.byImplementation) lines.push(`  ${pad(i.impl, 36)} ${lpad(i.ms.toFixed(2), 9)} ms  ${lpad((100 * i.ms / report.totalMs).toFixed(1), 5)}%  ${i.steps} steps`);
  lines.push('', `slowest ${Math.min(top, report.steps.length)} steps:`);
  const hot = report.hotTotalMs !== undefined;
  lines.push(`  ${pad('step', 44)} ${pad('op', 12)} ${pad('impl', 30)} ${lpad('ms', 8)}${hot ? ` ${lpad('hot ms', 8)}` : ''} ${lpad('%', 5)} ${lpad('MMACs', 8)} ${lpad('GFLOP/s', 8)} ${lpad('%peak', 6)}`);
  const slowest = [...report.steps].sort((a, b) => b.ms - a.ms).slice(0, top);
  for (const s of slowest) {
    const hotColumn = hot ? ` ${lpad(s.hotMs === undefined ? '-' : s.hotMs.toFixed(2), 8)}` : '';
    lines.push(
      `  ${pad(s.step, 44)} ${pad(s.op, 12)} ${pad(s.impl, 30)} ${lpad(s.ms.toFixed(2), 8)}${hotColumn} ${lpad((100 * s.ms / report.totalMs).toFixed(1), 5)} ${lpad((s.macs / 1e6).toFixed(0), 8)} ${lpad(s.gflops > 0 ? s.gflops.toFixed(1) : '-', 8)} ${lpad(s.gflops > 0 ? (100 * s.fractionOfPeak).toFixed(0) : '-', 6)}${s.reference ? '  <- ref' : ''}`,
    );
  }
  if (hot) {
    const costly = report.steps.filter((s) => s.hotMs !== undefined).sort((a, b) => b.ms - b.hotMs! - (a.ms - a.hotMs!)).slice(0, Math.min(top, 10));
    lines.push('', `the ${costly.length} steps that pay most for reading from memory (ms - hot ms):`);
    for (const s of costly) lines.push(`  ${pad(s.step, 44)} ${pad(s.impl, 30)} ${lpad(s.ms.toFixed(2), 8)} - ${lpad(s.hotMs!.toFixed(2), 6)} = ${lpad((s.ms - s.hotMs!).toFixed(2), 6)} ms`);
  }
  return `${lines.join('\n')}\n`;
}
