/**
 * Lowers an (optimised or not) graph to the flat Plan a native backend executes: one step per
 * node (an eliminated concat has none; a residual conv whose input must be kept gets a copy step
 * first, see storage.ts), buffers sized per the backend's LayoutPolicy, offsets from the arena
 * planner, and every weight packed (folded, pre-scaled) into one Float32Array.
 *
 * Lifetimes are per buffer, in final step indices: from the first step touching any tensor held
 * in it to the last one; a concat buffer therefore lives from its first piece's producer to its
 * last reader, and an in-place residual chain is one buffer. Graph input and output buffers live
 * the whole run.
 */
import { PlanError, WeightsError } from '../errors';
import type { Graph, Node, WeightStore } from '../graph/ir';
import { validateGraph } from '../graph/validate';
import { type BufferLifetime, checkNoLiveOverlap, lowerBound, naiveBytes, planArena } from './arena';
import { concurrentBuffers, schedulePlan } from './schedule';
import { type Dims, type StorageDecision, assignStorage } from './storage';
import type { LayoutPolicy, Plan, PlanBuffer, PlanStep, PlanTensor, WeightRef } from './types';
import { WeightPacker } from './weight-packer';

export interface PlannerReport {
  readonly arenaBytes: number;
  readonly naiveBytes: number;
  readonly lowerBoundBytes: number;
  readonly weightBytes: number;
}

function checkPolicy(policy: LayoutPolicy): void {
  for (const key of ['elementBytes', 'channelBlock', 'alignment'] as const) {
    const v = policy[key];
    if (!Number.isInteger(v) || v < 1) throw new PlanError(`layout policy ${key} must be a positive integer, got ${v}`);
  }
}

function tensorDims(graph: Graph): Map<number, Dims> {
  const dims = new Map<number, Dims>();
  for (const t of graph.tensors) {
    const s = t.shape;
    if (s.length === 4) dims.set(t.id, [s[0]!, s[1]!, s[2]!, s[3]!]);
    else if (s.length === 2) dims.set(t.id, [s[0]!, s[1]!, 1, 1]);
    else throw new PlanError(`tensor ${t.id} has shape [${s.join(',')}]; the planner handles [N,C,H,W] and [N,F] only`);
  }
  return dims;
}

/** Bytes of a buffer [n, c, h, w] with channels padded up to the channel block. */
export function bufferBytes(dims: Dims, policy: LayoutPolicy): number {
  const [n, c, h, w] = dims;
  return n * Math.ceil(c / policy.channelBlock) * policy.channelBlock * h * w * policy.elementBytes;
}

/** Weight preparation: parameters by name, checked against the lengths the step needs. */
class StepWeights {
  readonly packer = new WeightPacker();
  constructor(private readonly weights: WeightStore) {}

  get(name: string, length: number, node: Node): Float32Array {
    const v = this.weights.get(name);
    if (v === undefined) throw new WeightsError(`parameter '${name}' needed by node '${node.name}' is missing from the weights; load a checkpoint that contains it`);
    if (v.length !== length) throw new WeightsError(`parameter '${name}' of node '${node.name}' has ${v.length} values, expected ${length}`);
    return v;
  }

  /** Weight and bias (zeros when absent), both multiplied by `scale` when it is not 1. */
  weightAndBias(weight: string, bias: string | null, weightLength: number, out: number, scale: number, node: Node): { weight: WeightRef; bias: WeightRef } {
    const w = this.get(weight, weightLength, node);
    const b = bias === null ? new Float32Array(out) : this.get(bias, out, node);
    const times = (v: Float32Array): Float32Array => (scale === 1 ? v : v.map((x) => x * scale));
    return { weight: this.packer.add(times(w)), bias: this.packer.add(times(b)) };
  }
}

interface Lowering {
  readonly steps: PlanStep[];
  /** Graph tensor id -> plan tensor index. */
  readonly tensorIndex: Map<number, number>;
}

function lowerSteps(graph: Graph, dims: ReadonlyMap<number, Dims>, storage: StorageDecision, prep: StepWeights): Lowering {
  const tensorIndex = new Map<number, number>();
  const planTensor = (id: number): number => {
    let index = tensorIndex.get(id);
    if (index === undefined) {
      index = tensorIndex.size;
      tensorIndex.set(id, index);
    }
    return index;
  };
  planTensor(graph.input);
  const steps: PlanStep[] = [];
  for (const node of graph.nodes) {
    const [n, c, h, w] = dims.get(node.inputs[0]!)!;
    const out = dims.get(node.output)![1];
    const name = node.name;
    switch (node.op) {
      case 'conv2d': {
        const scale = node.residualScale ?? 1;
        const refs = prep.weightAndBias(node.weight, node.bias, out * c * node.kernel[0] * node.kernel[1], out, scale, node);
        let residual = -1;
        if (node.residualScale !== null) {
          if (storage.residualCopies.has(name)) steps.push({ op: 'concat', name: `${name}:residual-copy`, inputs: [planTensor(node.inputs[1]!)], output: planTensor(node.output) });
          residual = planTensor(node.output);
        }
        steps.push({ op: 'conv2d', name, input: planTensor(node.inputs[0]!), output: planTensor(node.output), residual, ...refs, kernel: node.kernel, stride: node.stride, pad: node.pad, relu: node.relu });
        break;
      }
      case 'linear': {
        if (h !== 1 || w !== 1) throw new PlanError(`linear '${name}' reads a [${n},${c},${h},${w}] feature map; it needs [N,F] (add a globalavgpool first)`);
        const refs = prep.weightAndBias(node.weight, node.bias, out * c, out, 1, node);
        steps.push({ op: 'linear', name, input: planTensor(node.inputs[0]!), output: planTensor(node.output), ...refs, relu: node.relu });
        break;
      }
      case 'batchnorm': {
        const gamma = prep.get(node.weight, c, node);
        const beta = prep.get(node.bias, c, node);
        const mean = prep.get(node.runningMean, c, node);
        const variance = prep.get(node.runningVar, c, node);
        const scale = new Float32Array(c);
        const shift = new Float32Array(c);
        for (let i = 0; i < c; i++) {
          const s = gamma[i]! / Math.sqrt(variance[i]! + node.eps);
          scale[i] = s;
          shift[i] = beta[i]! - mean[i]! * s;
        }
        steps.push({ op: 'affine', name, input: planTensor(node.inputs[0]!), output: planTensor(node.output), scale: prep.packer.add(scale), shift: prep.packer.add(shift), relu: node.relu });
        break;
      }
      case 'maxpool2d':
      case 'avgpool2d':
        steps.push({ op: node.op, name, input: planTensor(node.inputs[0]!), output: planTensor(node.output), kernel: node.kernel, stride: node.stride, pad: node.pad, countIncludePad: node.countIncludePad });
        break;
      case 'concat':
        if (storage.viewConcats.has(name)) {
          node.inputs.forEach(planTensor);
          planTensor(node.output);
        } else {
          steps.push({ op: 'concat', name, inputs: node.inputs.map(planTensor), output: planTensor(node.output) });
        }
        break;
      case 'channel_slice':
        // A view of its input's buffer (storage.ts): no step.
        planTensor(node.inputs[0]!);
        planTensor(node.output);
        break;
      case 'residual_add':
        steps.push({ op: 'residual_add', name, inputs: [planTensor(node.inputs[0]!), planTensor(node.inputs[1]!)], output: planTensor(node.output), scale: node.scale, relu: node.relu });
        break;
      case 'l2norm':
        steps.push({ op: 'l2norm', name, input: planTensor(node.inputs[0]!), output: planTensor(node.output), eps: node.eps });
        break;
      case 'relu':
      case 'globalavgpool':
      case 'softmax':
        steps.push({ op: node.op, name, input: planTensor(node.inputs[0]!), output: planTensor(node.output) });
        break;
    }
  }
  planTensor(graph.output);
  return { steps, tensorIndex };
}

/** Plan tensor indices a step touches (reads or writes). */
export function stepTensors(step: PlanStep): number[] {
  switch (step.op) {
    case 'concat':
    case 'residual_add':
      return [...step.inputs, step.output];
    case 'conv2d':
      return step.residual >= 0 ? [step.input, step.residual, step.output] : [step.input, step.output];
    default:
      return [step.input, step.output];
  }
}

export interface LowerOptions {
  /** Streams the schedule spreads independent steps over (1..4, default 1; see schedule.ts). */
  readonly streams?: number;
}

export function lowerToPlan(graph: Graph, weights: WeightStore, policy: LayoutPolicy, options: LowerOptions = {}): { plan: Plan; report: PlannerReport } {
  checkPolicy(policy);
  validateGraph(graph);
  const dims = tensorDims(graph);
  const storage = assignStorage(graph, dims, policy);
  const prep = new StepWeights(weights);
  const { steps, tensorIndex } = lowerSteps(graph, dims, storage, prep);

  // Buffers: one per root tensor that some plan tensor lives in.
  const bufferOfRoot = new Map<number, number>();
  const bufferDims: Dims[] = [];
  const tensors: PlanTensor[] = new Array<PlanTensor>(tensorIndex.size);
  for (const [id, index] of tensorIndex) {
    const home = storage.homes.get(id);
    if (home === undefined) throw new PlanError(`tensor ${id} is read but never produced`);
    let buffer = bufferOfRoot.get(home.root);
    if (buffer === undefined) {
      buffer = bufferDims.length;
      bufferOfRoot.set(home.root, buffer);
      bufferDims.push(dims.get(home.root)!);
    }
    const [n, c, h, w] = dims.get(id)!;
    tensors[index] = { buffer, channelOffset: home.channelOffset, n, c, h, w };
  }

  const lastStep = Math.max(steps.length - 1, 0);
  const first = new Array<number>(bufferDims.length).fill(Infinity);
  const last = new Array<number>(bufferDims.length).fill(-Infinity);
  const touch = (tensor: number, step: number): void => {
    const b = tensors[tensor]!.buffer;
    first[b] = Math.min(first[b]!, step);
    last[b] = Math.max(last[b]!, step);
  };
  steps.forEach((step, s) => stepTensors(step).forEach((t) => touch(t, s)));
  for (const t of [tensorIndex.get(graph.input)!, tensorIndex.get(graph.output)!]) {
    touch(t, 0);
    touch(t, lastStep);
  }
  const lifetimes: BufferLifetime[] = bufferDims.map((d, b) => {
    if (!Number.isFinite(first[b]!)) throw new PlanError(`buffer ${b} is never touched by a step`);
    return { first: first[b]!, last: last[b]!, bytes: bufferBytes(d, policy) };
  });
  const streams = options.streams ?? 1;
  // With branch streams, buffers of concurrent branches get their own bytes (see schedule.ts).
  const interference = streams > 1 ? concurrentBuffers({ tensors, steps }, bufferDims.length) : undefined;
  const layout = planArena(lifetimes, policy.alignment, interference);
  checkNoLiveOverlap(lifetimes, layout.offsets, interference);

  const buffers: PlanBuffer[] = bufferDims.map(([n, c, h, w], b) => ({ offset: layout.offsets[b]!, bytes: lifetimes[b]!.bytes, n, c, h, w }));
  const packed = prep.packer.finish();
  const unscheduled = {
    batch: dims.get(graph.input)![0],
    arenaBytes: layout.arenaBytes,
    buffers,
    tensors,
    steps,
    input: tensorIndex.get(graph.input)!,
    output: tensorIndex.get(graph.output)!,
    weights: packed,
  };
  const plan: Plan = { ...unscheduled, schedule: schedulePlan(unscheduled, streams) };
  const report: PlannerReport = {
    arenaBytes: layout.arenaBytes,
    naiveBytes: naiveBytes(lifetimes, policy.alignment),
    lowerBoundBytes: lowerBound(lifetimes),
    weightBytes: packed.byteLength,
  };
  return { plan, report };
}
