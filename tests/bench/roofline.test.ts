/**
 * The per-layer roofline of the GPU profile (src/bench/roofline.ts and the layer_profile stage's
 * pure parts): the bytes each step must move, from an Inception-ResNet-v1 fp16 plan, checked
 * against the architecture's shapes by hand; the classification against the two roofs; and the
 * committed Markdown format from a synthetic profile (no GPU needed). Exact integer arithmetic
 * and exact comparisons: nothing here is measured.
 */
import { describe, expect, it } from 'vitest';
import { layerProfileMarkdown, layerRows, summarise } from '../../bench/gpu/stage-layer-profile';
import { macsByNode } from '../../src/bench/profile';
import { classifyStep, conversionBytes, stepBytes } from '../../src/bench/roofline';
import { getModel } from '../../src/models/registry';
import { cudaLayoutPolicy, type CudaStepProfile } from '../../src/native/cuda-backend';
import { optimize } from '../../src/optimize/index';
import { lowerToPlan } from '../../src/plan/lower';
import { syntheticWeights } from '../../src/weights/synthetic';

const FP16 = { elementBytes: 2, channelBlock: 8 };

function irv1Plan() {
  const def = getModel('inception_resnet_v1');
  const optimised = optimize(def.build({ batch: 2, height: 160, width: 160 }), syntheticWeights(def, 'plain'));
  return { optimised, plan: lowerToPlan(optimised.graph, optimised.weights, cudaLayoutPolicy('fp16')).plan };
}

describe('roofline bytes', () => {
  const { optimised, plan } = irv1Plan();

  it('the stem conv (3 -> 32, 3x3 s2, 160 -> 79) moves its padded input, output and weights once', () => {
    const index = plan.steps.findIndex((s) => s.op === 'conv2d');
    // input 2 x 8 (3 padded to 8) x 160 x 160, output 2 x 32 x 79 x 79, weights 32 x 3 x 3 x 3 + 32 bias; fp16.
    expect(stepBytes(plan, index, FP16)).toBe((2 * 8 * 160 * 160 + 2 * 32 * 79 * 79 + 32 * 27 + 32) * 2);
  });

  it('a conv with a residual also reads the residual; conversions count the float32 side', () => {
    const index = plan.steps.findIndex((s) => s.op === 'conv2d' && s.residual >= 0);
    expect(index).toBeGreaterThan(0);
    const step = plan.steps[index]!;
    if (step.op !== 'conv2d') throw new Error('not a conv');
    const t = (i: number) => plan.tensors[i]!;
    const elems = (i: number) => t(i).n * Math.ceil(t(i).c / 8) * 8 * t(i).h * t(i).w;
    expect(stepBytes(plan, index, FP16)).toBe((elems(step.input) + elems(step.residual) + elems(step.output) + step.weight.length + step.bias.length) * 2);
    expect(conversionBytes(plan, 'input', FP16)).toBe(2 * 3 * 160 * 160 * 4 + 2 * 8 * 160 * 160 * 2);
    expect(conversionBytes(plan, 'output', FP16)).toBe(2 * 512 * 4 + 2 * 512 * 2);
  });

  it('layerRows joins a profile with FLOPs and bytes, and the Markdown lists every entry with its bound', () => {
    const raw: CudaStepProfile[] = [
      { step: 'input-convert', index: -1, ms: 0.5, path: 'kernel', algo: -1, workspaceBytes: 0, stream: 0, description: '' },
      ...plan.steps.map((s, index) => ({ step: s.name, index, ms: s.op === 'conv2d' ? 0.05 : 0.004, path: s.op === 'conv2d' ? 'graph' : 'kernel', algo: -1, workspaceBytes: 0, stream: 0, description: '' })),
      { step: 'output-convert', index: -1, ms: 0.01, path: 'kernel', algo: -1, workspaceBytes: 0, stream: 0, description: '' },
    ];
    const rows = layerRows(plan, raw, macsByNode(optimised.graph), FP16, 3e12, 750e12);
    expect(rows).toHaveLength(plan.steps.length + 2);
    expect(rows[0]!.bound).toBe('host transfer');
    const stem = rows[1]!;
    expect(stem.flops).toBe(2 * 2 * 32 * 79 * 79 * 27);
    expect(stem.gbPerS).toBeCloseTo(stem.bytes / 0.05e-3 / 1e9, 6);
    const profile = summarise('inception_resnet_v1', rows, [], 1.0);
    expect(profile.byBound.reduce((a, b) => a + b.steps, 0)).toBe(rows.length);
    const md = layerProfileMarkdown({ copyRoof: { gbPerS: 3000, bestMs: 0.7, bytesPerCopy: 2 ** 31, repeats: 10, trials: 5 }, fp16PeakTflops: 750, profiles: [profile] }, 'test GPU', '{}').join('\n');
    expect(md).toContain('Memory roof (device-to-device copy, bytes read + written): 3000 GB/s');
    expect(md.split('\n').filter((l) => /^\| \d+ \|/.test(l))).toHaveLength(rows.length);
    expect(md).toContain('| host transfer |');
  });
});

describe('classifyStep', () => {
  const roof = 3e12; // bytes/s
  const peak = 750e12; // FLOP/s
  it('memory-bound: the bytes floor is at least half the time', () => {
    // 1.5 GB at 3 TB/s = 0.5 ms; measured 0.8 ms -> 62.5% of the memory roof.
    const p = classifyStep(0.8, 1.5e9, 1e9, roof, peak);
    expect(p.bound).toBe('memory-bound');
    expect(p.nearer).toBe('memory');
    expect(p.roofFraction).toBeCloseTo(0.625, 12);
  });
  it('compute-bound: the FLOP floor is larger and at least half the time', () => {
    // 600 GFLOP at 750 TFLOP/s = 0.8 ms; measured 1.0 ms -> 80%.
    const p = classifyStep(1.0, 1e8, 600e9, roof, peak);
    expect(p.bound).toBe('compute-bound');
    expect(p.roofFraction).toBeCloseTo(0.8, 12);
  });
  it('short and far from both roofs: launch/latency; longer: under both roofs, naming the nearer', () => {
    expect(classifyStep(0.01, 1e6, 1e6, roof, peak).bound).toBe('launch/latency');
    const slow = classifyStep(1.0, 3e8, 75e9, roof, peak); // both floors 0.1 ms of 1 ms: 10%
    expect(slow.bound).toBe('under both roofs');
    expect(slow.roofFraction).toBeCloseTo(0.1, 12);
  });
  it('without a peak only the memory floor counts; conversions are host transfers; bad inputs throw', () => {
    expect(classifyStep(1.0, 1e8, 600e9, roof, undefined).bound).toBe('under both roofs');
    expect(classifyStep(1.0, 3e9, 0, roof, peak, true).bound).toBe('host transfer');
    expect(() => classifyStep(0, 1, 1, roof, peak)).toThrow(RangeError);
  });
});
