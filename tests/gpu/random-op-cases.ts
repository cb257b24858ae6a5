/**
 * Single ops on random shapes from a fixed seed, for running the SAME case through two backends
 * (the GPU check's cpu_vs_gpu stage: oneDNN vs cuDNN) and against the float64 reference.
 * Unlike gpu-cases.ts (one global seed counter), every value here derives from (seed, case
 * index), so building a case twice (once per backend layout policy) gives identical data.
 *
 * Shapes: convs with kernels 1x1, 3x3, 1x7, 7x1, 1x3, 3x1 (the Inception kernels), stride 1 or 2,
 * per-axis pad 0 or k/2, 1..40 input and 1..48 output channels, 1..21 spatial, batch 1..4,
 * ReLU or identity, sometimes an in-place residual (z = y, alpha2 = 1); max/avg pools 2x2/3x3
 * with stride 1/2, pad 0/1, both count-include-pad modes; a global-average-pool + linear head.
 */
import type { Pair } from '../../src/graph/ir';
import type { LayoutPolicy } from '../../src/plan/types';
import { refConv2d, refGlobalAvgPool, refLinear, refPool2d, refTensor, type RefTensor } from '../helpers/reference';
import type { BuiltCase, OpCase } from './gpu-cases';
import { GpuPlanBuilder, randomValues } from './gpu-plan';

/** Deterministic generator of small integers (mulberry32). */
class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** A fresh non-zero seed for randomValues. */
  seed(): number {
    return (Math.floor(this.next() * 4294967295) >>> 0) || 1;
  }
}

const KERNELS: readonly Pair[] = [[1, 1], [3, 3], [1, 7], [7, 1], [1, 3], [3, 1]];

function firstImages(t: RefTensor, n: number): Float64Array {
  const per = t.data.length / t.shape[0]!;
  return t.data.slice(0, n * per);
}

function outSize(size: number, k: number, s: number, p: number): number {
  return Math.floor((size + 2 * p - k) / s) + 1;
}

export interface ConvShape {
  readonly batch: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly k: number;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly pad: Pair;
  readonly relu: boolean;
  readonly residual: boolean;
}

function randomConvShape(rng: Rng): ConvShape {
  const kernel = rng.pick(KERNELS);
  const s = rng.pick([1, 1, 2]);
  const same = rng.chance(0.6);
  const pad: Pair = same ? [kernel[0] >> 1, kernel[1] >> 1] : [rng.pick([0, kernel[0] >> 1]), rng.pick([0, kernel[1] >> 1])];
  const h = rng.int(Math.max(1, kernel[0] - 2 * pad[0]), 21);
  const w = rng.int(Math.max(1, kernel[1] - 2 * pad[1]), 21);
  // A residual needs the 1x1 shortcut and the conv to give the same output size: 'same' pads (odd kernels).
  const residual = same && rng.chance(0.3);
  return { batch: rng.int(1, 4), c: rng.int(1, 40), h, w, k: rng.int(1, 48), kernel, stride: [s, s], pad, relu: rng.chance(0.6), residual };
}

function convCase(seed: number, index: number): OpCase {
  const shape = randomConvShape(new Rng(seed * 7919 + index));
  const { batch, c, h, w, k, kernel, stride, pad, relu, residual } = shape;
  const name =
    `conv#${index} n${batch} ${c}->${k} ${h}x${w} k${kernel.join('x')} s${stride[0]} p${pad.join(',')}` +
    `${relu ? ' relu' : ''}${residual ? ' +residual' : ''}`;
  return {
    name,
    build(policy: LayoutPolicy): BuiltCase {
      const rng = new Rng(seed * 104729 + index);
      const oh = outSize(h, kernel[0], stride[0], pad[0]);
      const ow = outSize(w, kernel[1], stride[1], pad[1]);
      const b = new GpuPlanBuilder(batch, policy);
      const x = b.buffer(c, h, w);
      const y = b.buffer(k, oh, ow);
      const wt = randomValues(k * c * kernel[0] * kernel[1], rng.seed(), Math.sqrt(3 / (c * kernel[0] * kernel[1])));
      const bias = randomValues(k, rng.seed(), 0.1);
      const input = randomValues(batch * c * h * w, rng.seed());
      const xt = refTensor([batch, c, h, w], input);
      let shortcut: RefTensor | null = null;
      if (residual) {
        const sw = randomValues(k * c, rng.seed(), Math.sqrt(3 / c));
        const sb = randomValues(k, rng.seed(), 0.1);
        b.add({ op: 'conv2d', name: 'shortcut', input: x, output: y, residual: -1, weight: b.weight(sw), bias: b.weight(sb), kernel: [1, 1], stride, pad: [0, 0], relu: false });
        shortcut = refConv2d(xt, sw, sb, k, [1, 1], stride, [0, 0], false);
      }
      b.add({ op: 'conv2d', name: 'conv', input: x, output: y, residual: residual ? y : -1, weight: b.weight(wt), bias: b.weight(bias), kernel, stride, pad, relu });
      const ref = refConv2d(xt, wt, bias, k, kernel, stride, pad, relu, shortcut === null ? null : { tensor: shortcut, scale: 1 });
      return { plan: b.build(x, y), input, expected: (n) => firstImages(ref, n), runs: batch > 1 ? [batch, 1] : [1] };
    },
  };
}

function poolCase(seed: number, index: number): OpCase {
  const rng0 = new Rng(seed * 7919 + 1000 + index);
  const kind = rng0.pick(['max', 'avg'] as const);
  const k = rng0.pick([2, 3, 3]);
  const s = rng0.pick([1, 2]);
  const p = k === 3 ? rng0.pick([0, 1]) : 0;
  const countIncludePad = kind === 'avg' && p > 0 && rng0.chance(0.5);
  const [batch, c] = [rng0.int(1, 4), rng0.int(1, 40)];
  const [h, w] = [rng0.int(k, 20), rng0.int(k, 20)];
  const name = `${kind}pool#${index} n${batch} c${c} ${h}x${w} k${k} s${s} p${p}${kind === 'avg' ? (countIncludePad ? ' incl-pad' : ' excl-pad') : ''}`;
  return {
    name,
    build(policy: LayoutPolicy): BuiltCase {
      const rng = new Rng(seed * 104729 + 1000 + index);
      const b = new GpuPlanBuilder(batch, policy);
      const x = b.buffer(c, h, w);
      const y = b.buffer(c, outSize(h, k, s, p), outSize(w, k, s, p));
      b.add({ op: kind === 'max' ? 'maxpool2d' : 'avgpool2d', name: 'pool', input: x, output: y, kernel: [k, k], stride: [s, s], pad: [p, p], countIncludePad });
      const input = randomValues(batch * c * h * w, rng.seed());
      const ref = refPool2d(refTensor([batch, c, h, w], input), kind, [k, k], [s, s], [p, p], countIncludePad);
      return { plan: b.build(x, y), input, expected: (n) => firstImages(ref, n), runs: batch > 1 ? [batch, 1] : [1] };
    },
  };
}

function headCase(seed: number, index: number): OpCase {
  const rng0 = new Rng(seed * 7919 + 2000 + index);
  const [batch, c, h, w, out] = [rng0.int(1, 4), rng0.int(1, 64), rng0.int(1, 9), rng0.int(1, 9), rng0.int(1, 50)];
  const name = `gap+linear#${index} n${batch} c${c} ${h}x${w} -> ${out}`;
  return {
    name,
    build(policy: LayoutPolicy): BuiltCase {
      const rng = new Rng(seed * 104729 + 2000 + index);
      const b = new GpuPlanBuilder(batch, policy);
      const x = b.buffer(c, h, w);
      const g = b.buffer(c, 1, 1);
      const y = b.buffer(out, 1, 1);
      const wt = randomValues(out * c, rng.seed(), Math.sqrt(3 / c));
      const bias = randomValues(out, rng.seed(), 0.1);
      b.add({ op: 'globalavgpool', name: 'gap', input: x, output: g });
      b.add({ op: 'linear', name: 'fc', input: g, output: y, weight: b.weight(wt), bias: b.weight(bias), relu: false });
      const input = randomValues(batch * c * h * w, rng.seed());
      const ref = refLinear(refGlobalAvgPool(refTensor([batch, c, h, w], input)), wt, bias, out, false);
      return { plan: b.build(x, y), input, expected: (n) => firstImages(ref, n), runs: batch > 1 ? [batch, 1] : [1] };
    },
  };
}

/** `convs` random convs, `pools` random pools and `heads` random heads, all derived from `seed`. */
export function randomOpCases(seed: number, counts: { convs: number; pools: number; heads: number }): OpCase[] {
  const out: OpCase[] = [];
  for (let i = 0; i < counts.convs; i++) out.push(convCase(seed, i));
  for (let i = 0; i < counts.pools; i++) out.push(poolCase(seed, i));
  for (let i = 0; i < counts.heads; i++) out.push(headCase(seed, i));
  return out;
}
