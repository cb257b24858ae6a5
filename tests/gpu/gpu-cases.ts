/**
 * Single-op GPU cases against the float64 TS reference (tests/helpers/reference.ts), as plain
 * functions: ops.test.ts runs them under vitest, bench/gpu/device-suite.ts runs them as compiled
 * JS on the GPU machine. Bounds on rel-L2 against float64 (why: fp32 with FMA math and fp32
 * accumulation makes ~1e-7 per op, so 1e-5 is 100x margin; TF32 rounds operands to 10 mantissa
 * bits, ~5e-4 per conv, bound 5e-3; fp16 storage rounds every tensor to 11 bits, ~5e-4 each,
 * accumulating over 2-3 ops, bound 1e-2).
 */
import type { Plan } from '../../src/plan/types';
import type { Backend, CudaPrecision } from '../../src/runtime/backend';
import type { LayoutPolicy } from '../../src/plan/types';
import {
  type RefTensor,
  refConcat,
  refConv2d,
  refGlobalAvgPool,
  refL2Norm,
  refLinear,
  refPool2d,
  refRelu,
  refResidualAdd,
  refSoftmax,
  refTensor,
} from '../helpers/reference';
import { GpuPlanBuilder, randomValues, relL2 } from './gpu-plan';

export const OP_BOUNDS: Readonly<Record<CudaPrecision, number>> = { fp32: 1e-5, tf32: 5e-3, fp16: 1e-2 };

export interface BuiltCase {
  readonly plan: Plan;
  readonly input: Float32Array;
  /** Reference output for a run of `n` images, NCHW flattened. */
  readonly expected: (n: number) => Float64Array;
  /** Batch sizes to run (each <= plan.batch). */
  readonly runs: readonly number[];
}

export interface OpCase {
  readonly name: string;
  build(policy: LayoutPolicy): BuiltCase;
}

export interface CaseResult {
  readonly name: string;
  readonly precision: CudaPrecision;
  readonly force: string;
  readonly n: number;
  readonly relL2: number;
  readonly bound: number;
  readonly pass: boolean;
  readonly error?: string;
  /** Conv paths chosen (fused/split, view/scratch) when the program reports them. */
  readonly paths?: readonly string[];
}

const BATCH = 3;
let seedCounter = 1;
const nextSeed = (): number => (seedCounter = (seedCounter * 1103515245 + 12345) >>> 0);

function convWeights(k: number, c: number, kh: number, kw: number): { w: Float32Array; b: Float32Array } {
  return { w: randomValues(k * c * kh * kw, nextSeed(), Math.sqrt(3 / (c * kh * kw))), b: randomValues(k, nextSeed(), 0.1) };
}

function firstImages(t: RefTensor, n: number): Float64Array {
  const per = t.data.length / t.shape[0]!;
  return t.data.slice(0, n * per);
}

interface ConvSpec {
  readonly k: number;
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly pad: [number, number];
  readonly relu: boolean;
}

/** x [BATCH,c,h,w] -> one conv -> y. */
function singleConv(name: string, c: number, h: number, w: number, spec: ConvSpec): OpCase {
  return {
    name,
    build(policy) {
      const b = new GpuPlanBuilder(BATCH, policy);
      const x = b.buffer(c, h, w);
      const oh = Math.floor((h + 2 * spec.pad[0] - spec.kernel[0]) / spec.stride[0]) + 1;
      const ow = Math.floor((w + 2 * spec.pad[1] - spec.kernel[1]) / spec.stride[1]) + 1;
      const y = b.buffer(spec.k, oh, ow);
      const { w: wt, b: bias } = convWeights(spec.k, c, spec.kernel[0], spec.kernel[1]);
      b.add({ op: 'conv2d', name, input: x, output: y, residual: -1, weight: b.weight(wt), bias: b.weight(bias), kernel: spec.kernel, stride: spec.stride, pad: spec.pad, relu: spec.relu });
      const input = randomValues(BATCH * c * h * w, nextSeed());
      const ref = refConv2d(refTensor([BATCH, c, h, w], input), wt, bias, spec.k, spec.kernel, spec.stride, spec.pad, spec.relu);
      return { plan: b.build(x, y), input, expected: (n) => firstImages(ref, n), runs: [BATCH, 2] };
    },
  };
}

/** x -> conv1x7 -> conv7x1 (asymmetric kernels and pads chained). */
const asymmetricChain: OpCase = {
  name: 'conv 1x7 then 7x1 (pads 0,3 / 3,0)',
  build(policy) {
    const [c, h, w, k1, k2] = [16, 9, 9, 24, 32];
    const b = new GpuPlanBuilder(BATCH, policy);
    const x = b.buffer(c, h, w);
    const t = b.buffer(k1, h, w);
    const y = b.buffer(k2, h, w);
    const a = convWeights(k1, c, 1, 7);
    const d = convWeights(k2, k1, 7, 1);
    b.add({ op: 'conv2d', name: 'c1x7', input: x, output: t, residual: -1, weight: b.weight(a.w), bias: b.weight(a.b), kernel: [1, 7], stride: [1, 1], pad: [0, 3], relu: true });
    b.add({ op: 'conv2d', name: 'c7x1', input: t, output: y, residual: -1, weight: b.weight(d.w), bias: b.weight(d.b), kernel: [7, 1], stride: [1, 1], pad: [3, 0], relu: true });
    const input = randomValues(BATCH * c * h * w, nextSeed());
    const r1 = refConv2d(refTensor([BATCH, c, h, w], input), a.w, a.b, k1, [1, 7], [1, 1], [0, 3], true);
    const r2 = refConv2d(r1, d.w, d.b, k2, [7, 1], [1, 1], [3, 0], true);
    return { plan: b.build(x, y), input, expected: (n) => firstImages(r2, n), runs: [BATCH] };
  },
};

/** r = conv1x1(x); r = act(r + conv3x3(x) + b) in place (z = y). */
function inPlaceResidual(relu: boolean): OpCase {
  return {
    name: `in-place residual conv (z = y, alpha2 = 1, ${relu ? 'relu' : 'identity'})`,
    build(policy) {
      const [c, h, w, k] = [16, 9, 9, 24];
      const b = new GpuPlanBuilder(BATCH, policy);
      const x = b.buffer(c, h, w);
      const r = b.buffer(k, h, w);
      const a = convWeights(k, c, 1, 1);
      const d = convWeights(k, c, 3, 3);
      b.add({ op: 'conv2d', name: 'shortcut', input: x, output: r, residual: -1, weight: b.weight(a.w), bias: b.weight(a.b), kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu: false });
      b.add({ op: 'conv2d', name: 'residual', input: x, output: r, residual: r, weight: b.weight(d.w), bias: b.weight(d.b), kernel: [3, 3], stride: [1, 1], pad: [1, 1], relu });
      const input = randomValues(BATCH * c * h * w, nextSeed());
      const xt = refTensor([BATCH, c, h, w], input);
      const rt = refConv2d(xt, a.w, a.b, k, [1, 1], [1, 1], [0, 0], false);
      const out = refConv2d(xt, d.w, d.b, k, [3, 3], [1, 1], [1, 1], relu, { tensor: rt, scale: 1 });
      return { plan: b.build(x, r), input, expected: (n) => firstImages(out, n), runs: [BATCH] };
    },
  };
}

/** Three branches (1x1 conv, 3x3 conv, 3x3/s1/p1 max pool) concatenated, then a 1x1 conv over the concat. */
function inceptionBlock(views: boolean): OpCase {
  return {
    name: views ? 'concat as views (branches write their channel slices)' : 'concat by copy (concat step)',
    build(policy) {
      const [c, h, w, ka, kb, ko] = [16, 11, 11, 24, 32, 16];
      const kc = ka + kb + c;
      const b = new GpuPlanBuilder(BATCH, policy);
      const x = b.buffer(c, h, w);
      const cat = b.buffer(kc, h, w);
      const pa = views ? b.view(cat, 0, ka) : b.buffer(ka, h, w);
      const pb = views ? b.view(cat, ka, kb) : b.buffer(kb, h, w);
      const pc = views ? b.view(cat, ka + kb, c) : b.buffer(c, h, w);
      const y = b.buffer(ko, h, w);
      const a = convWeights(ka, c, 1, 1);
      const d = convWeights(kb, c, 3, 3);
      const o = convWeights(ko, kc, 1, 1);
      b.add({ op: 'conv2d', name: 'branch_a', input: x, output: pa, residual: -1, weight: b.weight(a.w), bias: b.weight(a.b), kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu: true });
      b.add({ op: 'conv2d', name: 'branch_b', input: x, output: pb, residual: -1, weight: b.weight(d.w), bias: b.weight(d.b), kernel: [3, 3], stride: [1, 1], pad: [1, 1], relu: false });
      b.add({ op: 'maxpool2d', name: 'branch_c', input: x, output: pc, kernel: [3, 3], stride: [1, 1], pad: [1, 1], countIncludePad: false });
      if (!views) b.add({ op: 'concat', name: 'cat', inputs: [pa, pb, pc], output: cat });
      b.add({ op: 'conv2d', name: 'after', input: cat, output: y, residual: -1, weight: b.weight(o.w), bias: b.weight(o.b), kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu: true });
      const input = randomValues(BATCH * c * h * w, nextSeed());
      const xt = refTensor([BATCH, c, h, w], input);
      const ra = refConv2d(xt, a.w, a.b, ka, [1, 1], [1, 1], [0, 0], true);
      const rb = refConv2d(xt, d.w, d.b, kb, [3, 3], [1, 1], [1, 1], false);
      const rc = refPool2d(xt, 'max', [3, 3], [1, 1], [1, 1], false);
      const ry = refConv2d(refConcat([ra, rb, rc]), o.w, o.b, ko, [1, 1], [1, 1], [0, 0], true);
      return { plan: b.build(x, y), input, expected: (n) => firstImages(ry, n), runs: [BATCH, 1] };
    },
  };
}

/**
 * One pooling step on c channels. fp16 NHWC with an even c takes the two-channels-per-thread
 * kernel when our kernel is used (timed against cuDNN at setup, or forced), an odd c the generic one.
 */
function pool(kind: 'max' | 'avg', kernel: [number, number], stride: [number, number], pad: [number, number], countIncludePad: boolean, c = 24): OpCase {
  return {
    name: `${kind}pool ${kernel.join('x')} s${stride[0]} p${pad[0]}${kind === 'avg' ? (countIncludePad ? ' count-include-pad' : ' count-exclude-pad') : ''}${c === 24 ? '' : ` ${c} channels`}`,
    build(policy) {
      const [h, w] = [13, 13];
      const b = new GpuPlanBuilder(BATCH, policy);
      const x = b.buffer(c, h, w);
      const oh = Math.floor((h + 2 * pad[0] - kernel[0]) / stride[0]) + 1;
      const ow = Math.floor((w + 2 * pad[1] - kernel[1]) / stride[1]) + 1;
      const y = b.buffer(c, oh, ow);
      b.add({ op: kind === 'max' ? 'maxpool2d' : 'avgpool2d', name: 'pool', input: x, output: y, kernel, stride, pad, countIncludePad });
      const input = randomValues(BATCH * c * h * w, nextSeed());
      const ref = refPool2d(refTensor([BATCH, c, h, w], input), kind, kernel, stride, pad, countIncludePad);
      return { plan: b.build(x, y), input, expected: (n) => firstImages(ref, n), runs: [BATCH] };
    },
  };
}

/** Global average pool -> linear -> softmax, and -> linear -> l2norm. */
function head(final: 'softmax' | 'l2norm'): OpCase {
  return {
    name: `globalavgpool + linear + ${final}`,
    build(policy) {
      const [c, h, w, out] = [48, 5, 5, 40];
      const b = new GpuPlanBuilder(BATCH, policy);
      const x = b.buffer(c, h, w);
      const g = b.buffer(c, 1, 1);
      const l = b.buffer(out, 1, 1);
      const y = b.buffer(out, 1, 1);
      const wt = randomValues(out * c, nextSeed(), Math.sqrt(3 / c));
      const bias = randomValues(out, nextSeed(), 0.1);
      b.add({ op: 'globalavgpool', name: 'gap', input: x, output: g });
      b.add({ op: 'linear', name: 'fc', input: g, output: l, weight: b.weight(wt), bias: b.weight(bias), relu: false });
      if (final === 'softmax') b.add({ op: 'softmax', name: 'softmax', input: l, output: y });
      else b.add({ op: 'l2norm', name: 'l2norm', input: l, output: y, eps: 1e-12 });
      const input = randomValues(BATCH * c * h * w, nextSeed());
      const rg = refGlobalAvgPool(refTensor([BATCH, c, h, w], input));
      const rl = refLinear(rg, wt, bias, out, false);
      const ry = final === 'softmax' ? refSoftmax(rl) : refL2Norm(rl, 1e-12);
      return { plan: b.build(x, y), input, expected: (n) => firstImages(ry, n), runs: [BATCH, 1] };
    },
  };
}

/** affine (relu) -> relu -> residual_add(x, t, 0.2, relu). */
const elementwise: OpCase = {
  name: 'affine + relu + residual_add',
  build(policy) {
    const [c, h, w] = [24, 7, 7];
    const b = new GpuPlanBuilder(BATCH, policy);
    const x = b.buffer(c, h, w);
    const a = b.buffer(c, h, w);
    const r = b.buffer(c, h, w);
    const y = b.buffer(c, h, w);
    const scale = randomValues(c, nextSeed(), 2);
    const shift = randomValues(c, nextSeed(), 0.5);
    b.add({ op: 'affine', name: 'bn', input: x, output: a, scale: b.weight(scale), shift: b.weight(shift), relu: false });
    b.add({ op: 'relu', name: 'relu', input: a, output: r });
    b.add({ op: 'residual_add', name: 'add', inputs: [x, r], output: y, scale: 0.2, relu: true });
    const input = randomValues(BATCH * c * h * w, nextSeed());
    const xt = refTensor([BATCH, c, h, w], input);
    const at = refTensor([BATCH, c, h, w]);
    for (let i = 0; i < at.data.length; i++) {
      const ch = Math.floor(i / (h * w)) % c;
      at.data[i] = xt.data[i]! * scale[ch]! + shift[ch]!;
    }
    const ry = refResidualAdd(xt, refRelu(at), 0.2, true);
    return { plan: b.build(x, y), input, expected: (n) => firstImages(ry, n), runs: [BATCH] };
  },
};

export const OP_CASES: readonly OpCase[] = [
  singleConv('conv 3x3 s1 p1 relu', 16, 13, 13, { k: 24, kernel: [3, 3], stride: [1, 1], pad: [1, 1], relu: true }),
  singleConv('conv 1x1 identity (no relu)', 32, 9, 9, { k: 16, kernel: [1, 1], stride: [1, 1], pad: [0, 0], relu: false }),
  singleConv('conv 3x3 s2 from a 3-channel input', 3, 17, 17, { k: 32, kernel: [3, 3], stride: [2, 2], pad: [0, 0], relu: true }),
  singleConv('conv 3x3 with 12 channels (not a multiple of 8)', 12, 9, 9, { k: 12, kernel: [3, 3], stride: [1, 1], pad: [1, 1], relu: true }),
  asymmetricChain,
  inPlaceResidual(true),
  inPlaceResidual(false),
  inceptionBlock(true),
  inceptionBlock(false),
  pool('max', [3, 3], [2, 2], [0, 0], false),
  pool('avg', [3, 3], [1, 1], [1, 1], false),
  pool('avg', [3, 3], [1, 1], [1, 1], true),
  pool('avg', [3, 3], [1, 1], [1, 1], false, 13),
  pool('max', [3, 3], [2, 2], [0, 0], false, 13),
  head('softmax'),
  head('l2norm'),
  elementwise,
];

/** Compiles and runs one case; never throws (failures are results). */
export async function runOpCase(backend: Backend, c: OpCase, precision: CudaPrecision, force = ''): Promise<CaseResult[]> {
  const bound = OP_BOUNDS[precision];
  const saved = process.env.INCEPTION_CUDA_FORCE;
  const results: CaseResult[] = [];
  let built: BuiltCase | undefined;
  try {
    built = c.build(backend.layoutPolicy(precision));
    if (force === '') delete process.env.INCEPTION_CUDA_FORCE;
    else process.env.INCEPTION_CUDA_FORCE = force;
    const program = await backend.compile(built.plan, { precision, benchmark: true });
    if (saved === undefined) delete process.env.INCEPTION_CUDA_FORCE;
    else process.env.INCEPTION_CUDA_FORCE = saved;
    try {
      const per = built.input.length / built.plan.batch;
      for (const n of built.runs) {
        const out = await program.run(built.input.subarray(0, n * per), n);
        const e = relL2(out, built.expected(n));
        results.push({ name: c.name, precision, force, n, relL2: e, bound, pass: e <= bound });
      }
      const choices = (program as { choices?: () => { step: string; n: number; split: boolean; viaScratch: boolean }[] }).choices;
      if (typeof choices === 'function' && results.length > 0) {
        const paths = choices.call(program).map((ch) => `${ch.step}@${ch.n}:${ch.split ? 'split' : 'fused'}${ch.viaScratch ? '+scratch' : ''}`);
        results[0] = { ...results[0]!, paths };
      }
    } finally {
      program.dispose();
    }
  } catch (error) {
    results.push({ name: c.name, precision, force, n: built?.plan.batch ?? 0, relL2: NaN, bound, pass: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  } finally {
    if (saved === undefined) delete process.env.INCEPTION_CUDA_FORCE;
    else process.env.INCEPTION_CUDA_FORCE = saved;
  }
  return results;
}

/** Every case at one precision (optionally with the fallback paths forced). */
export async function runOpCases(backend: Backend, precision: CudaPrecision, force = ''): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  for (const c of OP_CASES) out.push(...(await runOpCase(backend, c, precision, force)));
  return out;
}
