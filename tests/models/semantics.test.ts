import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/graph/builder';
import type { Graph, Node } from '../../src/graph/ir';
import { validateGraph } from '../../src/graph/validate';
import { appendInceptionResnetV1 } from '../../src/models/inception-resnet-v1';
import { appendInceptionResnetV2 } from '../../src/models/inception-resnet-v2';
import { appendInceptionV4 } from '../../src/models/inception-v4';
import { getModel, MODEL_NAMES } from '../../src/models/registry';
import { nodeNamed, producers } from './graph-helpers';

// Structural facts of architectures.md (§0.3, §8 checklist); all exact comparisons.

const v4 = getModel('inception_v4').build({ batch: 1, height: 299, width: 299 });
const irv2 = getModel('inception_resnet_v2').build({ batch: 1, height: 299, width: 299 });
const irv1 = getModel('inception_resnet_v1').build({ batch: 1, height: 160, width: 160 });

const ofOp = <K extends Node['op']>(g: Graph, op: K): Extract<Node, { op: K }>[] =>
  g.nodes.filter((n): n is Extract<Node, { op: K }> => n.op === op);

describe('ops common to the three nets', () => {
  it.each([
    ['inception_v4', v4],
    ['inception_resnet_v2', irv2],
    ['inception_resnet_v1', irv1],
  ] as const)('%s: BN eps 1e-3 with ReLU after every conv BN; avg pools 3x3/1/1 excluding padding; max pools 3x3/2/0', (_, g) => {
    for (const bn of ofOp(g, 'batchnorm')) {
      expect(bn.eps).toBe(1e-3);
      expect(bn.relu).toBe(bn.name !== 'last_bn');
    }
    for (const pool of ofOp(g, 'avgpool2d')) {
      expect(pool).toMatchObject({ kernel: [3, 3], stride: [1, 1], pad: [1, 1], countIncludePad: false });
    }
    for (const pool of ofOp(g, 'maxpool2d')) expect(pool).toMatchObject({ kernel: [3, 3], stride: [2, 2], pad: [0, 0] });
    // The IR is unfused: no conv carries a ReLU or a residual, no separate relu nodes.
    for (const conv of ofOp(g, 'conv2d')) expect(conv).toMatchObject({ relu: false, residualScale: null });
    expect(ofOp(g, 'relu')).toEqual([]);
  });

  it('only the residual up-projections have a bias (0 / 40 / 21)', () => {
    const biased = (g: Graph) => ofOp(g, 'conv2d').filter((c) => c.bias !== null);
    expect(biased(v4)).toHaveLength(0);
    expect(biased(irv2)).toHaveLength(40);
    expect(biased(irv1)).toHaveLength(21);
    for (const conv of [...biased(irv2), ...biased(irv1)]) {
      expect(conv.name).toMatch(/\.conv2d$/);
      expect(conv.kernel).toEqual([1, 1]);
    }
  });
});

describe('residual blocks', () => {
  const settings = (g: Graph) => ofOp(g, 'residual_add').map((r) => `${r.name.replace(/\.\d+$/, '')} ${r.scale} ${r.relu}`);
  const counts = (list: string[]) => list.reduce<Record<string, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});

  it('IRv2: 10 x 0.17, 20 x 0.10, 9 x 0.20 with ReLU, final block8 1.0 without', () => {
    expect(counts(settings(irv2))).toEqual({
      'repeat 0.17 true': 10,
      'repeat_1 0.1 true': 20,
      'repeat_2 0.2 true': 9,
      'block8 1 false': 1,
    });
    expect(producers(irv2, nodeNamed(irv2, 'conv2d_7b.conv'))).toEqual(['block8']);
  });

  it('IR-v1: 5 x 0.17, 10 x 0.10, 5 x 0.20 with ReLU, final block8 1.0 without', () => {
    expect(counts(settings(irv1))).toEqual({
      'repeat_1 0.17 true': 5,
      'repeat_2 0.1 true': 10,
      'repeat_3 0.2 true': 5,
      'block8 1 false': 1,
    });
    expect(producers(irv1, nodeNamed(irv1, 'avgpool_1a'))).toEqual(['block8']);
  });

  it('adds the block input first and the up-projection second', () => {
    expect(producers(irv2, nodeNamed(irv2, 'repeat.1'))).toEqual(['repeat.0', 'repeat.1.conv2d']);
    expect(producers(irv2, nodeNamed(irv2, 'repeat.1.conv2d'))).toEqual(['repeat.1.cat']);
    expect(producers(irv2, nodeNamed(irv2, 'repeat.1.cat'))).toEqual(['repeat.1.branch0.bn', 'repeat.1.branch1.1.bn', 'repeat.1.branch2.2.bn']);
    expect(producers(irv1, nodeNamed(irv1, 'repeat_2.0.cat'))).toEqual(['repeat_2.0.branch0.bn', 'repeat_2.0.branch1.2.bn']);
  });

  it('uses the factorised kernels in code order (Block17 1x7 then 7x1; Block8 1x3 then 3x1)', () => {
    expect(nodeNamed(irv2, 'repeat_1.0.branch1.1.conv')).toMatchObject({ kernel: [1, 7], pad: [0, 3] });
    expect(nodeNamed(irv2, 'repeat_1.0.branch1.2.conv')).toMatchObject({ kernel: [7, 1], pad: [3, 0] });
    expect(nodeNamed(irv1, 'block8.branch1.1.conv')).toMatchObject({ kernel: [1, 3], pad: [0, 1] });
    expect(nodeNamed(irv1, 'block8.branch1.2.conv')).toMatchObject({ kernel: [3, 1], pad: [1, 0] });
  });
});

describe('concat orders', () => {
  it.each([
    [v4, 'features.3', ['features.3.maxpool', 'features.3.conv.bn']],
    [v4, 'features.5', ['features.5.conv.bn', 'features.5.maxpool']],
    [v4, 'features.6', ['features.6.branch0.bn', 'features.6.branch1.1.bn', 'features.6.branch2.2.bn', 'features.6.branch3.1.bn']],
    [v4, 'features.10', ['features.10.branch0.bn', 'features.10.branch1.2.bn', 'features.10.branch2']],
    [v4, 'features.18', ['features.18.branch0.1.bn', 'features.18.branch1.3.bn', 'features.18.branch2']],
    [
      v4,
      'features.19',
      ['features.19.branch0.bn', 'features.19.branch1_1a.bn', 'features.19.branch1_1b.bn', 'features.19.branch2_3a.bn', 'features.19.branch2_3b.bn', 'features.19.branch3.1.bn'],
    ],
    [irv2, 'mixed_5b', ['mixed_5b.branch0.bn', 'mixed_5b.branch1.1.bn', 'mixed_5b.branch2.2.bn', 'mixed_5b.branch3.1.bn']],
    [irv2, 'mixed_7a', ['mixed_7a.branch0.1.bn', 'mixed_7a.branch1.1.bn', 'mixed_7a.branch2.2.bn', 'mixed_7a.branch3']],
    [irv1, 'mixed_6a', ['mixed_6a.branch0.bn', 'mixed_6a.branch1.2.bn', 'mixed_6a.branch2']],
  ] as const)('%#: %s', (g, name, expected) => {
    expect(producers(g, nodeNamed(g, name))).toEqual(expected);
  });

  it('v4 Inception-C forks: 1a/1b read branch1_0, 3a/3b read branch2_2', () => {
    expect(producers(v4, nodeNamed(v4, 'features.20.branch1_1b.conv'))).toEqual(['features.20.branch1_0.bn']);
    expect(producers(v4, nodeNamed(v4, 'features.20.branch2_3a.conv'))).toEqual(['features.20.branch2_2.bn']);
  });
});

describe('heads', () => {
  it('v4 and IRv2: global average pool -> linear 1536 -> 1000 with bias, raw logits', () => {
    expect(nodeNamed(v4, 'last_linear')).toMatchObject({ bias: 'last_linear.bias', relu: false });
    expect(nodeNamed(irv2, 'classif')).toMatchObject({ bias: 'classif.bias', relu: false });
    expect(v4.nodes[v4.nodes.length - 1]!.name).toBe('last_linear');
    expect(irv2.nodes[irv2.nodes.length - 1]!.name).toBe('classif');
  });

  it('IR-v1 embedding: last_linear (no bias) -> last_bn -> l2norm eps 1e-12', () => {
    expect(nodeNamed(irv1, 'last_linear')).toMatchObject({ bias: null });
    const last = irv1.nodes[irv1.nodes.length - 1]!;
    expect(last).toMatchObject({ op: 'l2norm', eps: 1e-12 });
    expect(producers(irv1, last)).toEqual(['last_bn']);
  });

  it('IR-v1 with logitsClasses: logits Linear on the last_bn output, no l2norm', () => {
    const g = getModel('inception_resnet_v1').build({ batch: 2, height: 160, width: 160, logitsClasses: 10575 });
    validateGraph(g);
    const last = g.nodes[g.nodes.length - 1]!;
    expect(last).toMatchObject({ op: 'linear', name: 'logits', weight: 'logits.weight', bias: 'logits.bias' });
    expect(producers(g, last)).toEqual(['last_bn']);
    expect(g.tensors[g.output]!.shape).toEqual([2, 10575]);
    expect(ofOp(g, 'l2norm')).toEqual([]);
  });

  it('logitsClasses is rejected for the timm models and when not a positive integer', () => {
    expect(() => getModel('inception_v4').build({ batch: 1, height: 299, width: 299, logitsClasses: 10 })).toThrowError(
      /inception_resnet_v1 only/,
    );
    expect(() => getModel('inception_resnet_v1').build({ batch: 1, height: 160, width: 160, logitsClasses: 0 })).toThrowError(
      /Expected positive integer for logitsClasses but received 0 of type number/,
    );
  });
});

describe('75 is the true minimum: the network itself fails at 74', () => {
  it.each([
    ['inception_v4', appendInceptionV4, 'features.18.branch0.1.conv'],
    ['inception_resnet_v2', appendInceptionResnetV2, 'mixed_7a.branch0.1.conv'],
    ['inception_resnet_v1', (b: GraphBuilder) => appendInceptionResnetV1(b), 'mixed_7a.branch0.1.conv'],
  ] as const)('%s fails inside Reduction-B at %s', (_, append, layer) => {
    expect(() => append(new GraphBuilder([1, 3, 74, 74]))).toThrowError(
      expect.objectContaining({
        code: 'E_INVALID_INPUT',
        message: `Input 74x74 is too small: at layer ${layer}, conv 3x3 stride 2,2 pad 0,0 on a 2x2 feature map gives 0x0; use a larger input height/width`,
      }),
    );
    expect(() => append(new GraphBuilder([1, 3, 75, 75]))).not.toThrow();
  });
});

describe('model metadata', () => {
  it.each(MODEL_NAMES)('%s: minSize 75, name matches the registry key', (name) => {
    const model = getModel(name);
    expect(model.name).toBe(name);
    expect(model.minSize).toBe(75);
  });

  it('timm preprocessing: 299 bicubic, mean/std 0.5; crop_pct 0.875 (v4) and 0.8975 (IRv2)', () => {
    const common = { inputSize: 299, interpolation: 'bicubic', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
    expect(getModel('inception_v4').preprocessing).toEqual({ ...common, cropPct: 0.875 });
    expect(getModel('inception_resnet_v2').preprocessing).toEqual({ ...common, cropPct: 0.8975 });
    expect(getModel('inception_v4')).toMatchObject({ output: 'logits', outputSize: 1000, labels: 'imagenet-1k' });
    expect(getModel('inception_resnet_v2')).toMatchObject({ output: 'logits', outputSize: 1000, labels: 'imagenet-1k' });
  });

  it('facenet preprocessing reproduces (v - 127.5) / 128 on 0..255 values', () => {
    const model = getModel('inception_resnet_v1');
    expect(model).toMatchObject({ output: 'embedding', outputSize: 512, labels: null });
    const p = model.preprocessing;
    expect(p).toMatchObject({ inputSize: 160, interpolation: 'bilinear', cropPct: 1 });
    // float64 rounding of (v/255 - mean)/std against the direct formula: a few ulps, so 1e-12.
    for (const v of [0, 1, 127, 127.5, 128, 200, 255]) {
      for (let c = 0; c < 3; c++) expect((v / 255 - p.mean[c]!) / p.std[c]!).toBeCloseTo((v - 127.5) / 128, 12);
    }
  });
});
