import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidInputError, PlanError } from '../../src/errors';
import { GraphBuilder } from '../../src/graph/builder';
import { windowOutputSize } from '../../src/graph/shapes';
import { validateGraph } from '../../src/graph/validate';

// Shapes are integers: every comparison here is exact.

/** Brute force: how many window positions (start = -pad + i*stride) fit in the padded input. */
function countWindows(size: number, kernel: number, stride: number, pad: number): number {
  let count = 0;
  for (let start = -pad; start + kernel <= size + pad; start += stride) count++;
  return count;
}

describe('windowOutputSize', () => {
  it('equals the number of window positions that fit (floor mode)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 }), (size, kernel, stride, pad) => {
        fc.pre(size + 2 * pad >= kernel);
        expect(windowOutputSize(size, kernel, stride, pad)).toBe(countWindows(size, kernel, stride, pad));
      }),
    );
  });

  it('gives the Inception sizes', () => {
    expect(windowOutputSize(299, 3, 2, 0)).toBe(149);
    expect(windowOutputSize(147, 3, 2, 0)).toBe(73);
    expect(windowOutputSize(17, 7, 1, 3)).toBe(17);
    expect(windowOutputSize(2, 3, 2, 0)).toBe(0);
  });
});

describe('GraphBuilder', () => {
  it('cbr adds conv (no bias) and BN (eps 1e-3, ReLU) with module-path names and params', () => {
    const b = new GraphBuilder([2, 3, 9, 9]);
    const y = b.cbr('stem', b.input, 8, [1, 3], [1, 2], [0, 1]);
    const g = b.build(y);
    expect(g.nodes).toEqual([
      { op: 'conv2d', name: 'stem.conv', inputs: [0], output: 1, weight: 'stem.conv.weight', bias: null, kernel: [1, 3], stride: [1, 2], pad: [0, 1], relu: false, residualScale: null },
      { op: 'batchnorm', name: 'stem.bn', inputs: [1], output: 2, weight: 'stem.bn.weight', bias: 'stem.bn.bias', runningMean: 'stem.bn.running_mean', runningVar: 'stem.bn.running_var', eps: 1e-3, relu: true },
    ]);
    // H: (9 - 1)/1 + 1 = 9; W: floor((9 + 2 - 3)/2) + 1 = 5.
    expect(g.tensors.map((t) => t.shape)).toEqual([[2, 3, 9, 9], [2, 8, 9, 5], [2, 8, 9, 5]]);
    expect(g.params).toEqual([
      { name: 'stem.conv.weight', shape: [8, 3, 1, 3] },
      { name: 'stem.bn.weight', shape: [8] },
      { name: 'stem.bn.bias', shape: [8] },
      { name: 'stem.bn.running_mean', shape: [8] },
      { name: 'stem.bn.running_var', shape: [8] },
    ]);
    validateGraph(g);
  });

  it('builds a residual block: concat, upConv with bias, residual_add', () => {
    const b = new GraphBuilder([1, 6, 5, 5]);
    const a = b.cbr('blk.branch0', b.input, 2, 1);
    const c = b.cbr('blk.branch1', b.input, 3, 3, 1, 1);
    const cat = b.concat('blk.cat', [a, c]);
    const up = b.upConv('blk.conv2d', cat, 6);
    const y = b.residualAdd('blk', b.input, up, 0.17, true);
    const g = b.build(y);
    expect(b.shapeOf(cat)).toEqual([1, 5, 5, 5]);
    expect(g.nodes.find((n) => n.name === 'blk.conv2d')).toMatchObject({ weight: 'blk.conv2d.weight', bias: 'blk.conv2d.bias', kernel: [1, 1] });
    expect(g.nodes[g.nodes.length - 1]).toEqual({ op: 'residual_add', name: 'blk', inputs: [0, up], output: y, scale: 0.17, relu: true });
    expect(g.params.slice(-2)).toEqual([
      { name: 'blk.conv2d.weight', shape: [6, 5, 1, 1] },
      { name: 'blk.conv2d.bias', shape: [6] },
    ]);
    validateGraph(g);
  });

  it('pools, global pool, linear, batchnorm1d, l2norm and softmax infer their shapes', () => {
    const b = new GraphBuilder([2, 4, 7, 7]);
    const mp = b.maxpool('mp', b.input, 3, 2);
    const ap = b.avgpool('ap', mp, 3, 1, 1);
    const gp = b.globalAvgPool('gp', ap);
    const fc1 = b.linear('fc', gp, { weight: 'fc.weight', bias: null, outFeatures: 5 });
    const bn = b.batchnorm1d('bn', fc1, 1e-3);
    const n = b.l2norm('norm', bn, 1e-12);
    const s = b.softmax('sm', n);
    expect([mp, ap, gp, fc1, bn, n, s].map((t) => b.shapeOf(t))).toEqual([[2, 4, 3, 3], [2, 4, 3, 3], [2, 4], [2, 5], [2, 5], [2, 5], [2, 5]]);
    const g = b.build(s);
    expect(g.nodes.find((x) => x.name === 'ap')).toMatchObject({ op: 'avgpool2d', countIncludePad: false });
    expect(g.nodes.find((x) => x.name === 'bn')).toMatchObject({ weight: 'bn.weight', runningVar: 'bn.running_var', relu: false });
    validateGraph(g);
  });

  it('conv2d with a fused residual takes [x, residual] inputs', () => {
    const b = new GraphBuilder([1, 4, 3, 3]);
    const y = b.conv2d('c', b.input, { weight: 'c.w', bias: 'c.b', outChannels: 4, kernel: 1, residual: { tensor: b.input, scale: 0.2 }, relu: true });
    const g = b.build(y);
    expect(g.nodes[0]).toMatchObject({ inputs: [0, 0], residualScale: 0.2, relu: true });
    validateGraph(g);
  });

  it('throws InvalidInputError naming the layer and sizes when a map shrinks below 1', () => {
    const b = new GraphBuilder([1, 3, 4, 6]);
    const y = b.cbr('a', b.input, 4, 3, 2);
    expect(b.shapeOf(y)).toEqual([1, 4, 1, 2]);
    const attempt = () => b.cbr('b.deep', y, 4, 3, 2);
    expect(attempt).toThrowError(InvalidInputError);
    expect(attempt).toThrowError('Input 4x6 is too small: at layer b.deep.conv, conv 3x3 stride 2,2 pad 0,0 on a 1x2 feature map gives 0x0; use a larger input height/width');
    expect(() => b.maxpool('p', y, 3, 2)).toThrowError(/at layer p, maxpool2d 3x3 stride 2,2 pad 0,0 on a 1x2 feature map gives 0x0/);
  });

  it('rejects model-definition bugs with PlanError', () => {
    const b = new GraphBuilder([1, 3, 8, 8]);
    const a = b.cbr('a', b.input, 4, 3);
    const c = b.cbr('c', b.input, 4, 1);
    expect(() => b.concat('cat', [a, c])).toThrowError(new PlanError('cat: concat input 1 [1,4,8,8] does not match input 0 [1,4,6,6] outside dim 1'));
    expect(() => b.residualAdd('add', a, c, 1, false)).toThrowError(/add: residual_add inputs differ: \[1,4,6,6\] vs \[1,4,8,8\]/);
    expect(() => b.conv2d('a2', b.input, { weight: 'a.conv.weight', bias: null, outChannels: 5, kernel: 3 })).toThrowError(
      "a2: parameter 'a.conv.weight' is already declared with shape [4,3,3,3], now used as [5,3,3,3]",
    );
    expect(() => b.relu('a.conv', a)).toThrowError("node name 'a.conv' is used twice; node names must be unique");
    expect(() => b.relu('r', 99)).toThrowError(PlanError);
    expect(() => b.linear('fc', a, { weight: 'fc.w', bias: null, outFeatures: 2 })).toThrowError(/fc: linear input must have rank 2/);
    expect(() => b.maxpool('bad', a, 3, 1, 2)).toThrowError(/pad 2,2 exceeds half the kernel 3x3/);
    expect(() => b.build(1234)).toThrowError(PlanError);
  });

  it('leaves the builder unchanged when an add throws', () => {
    const b = new GraphBuilder([1, 3, 4, 4]);
    expect(() => b.cbr('big', b.input, 4, 5)).toThrowError(InvalidInputError);
    const y = b.cbr('big', b.input, 4, 3);
    const g = b.build(y);
    expect(g.nodes.map((n) => n.name)).toEqual(['big.conv', 'big.bn']);
    expect(g.params[0]).toEqual({ name: 'big.conv.weight', shape: [4, 3, 3, 3] });
    expect(g.tensors).toHaveLength(3);
  });

  it('rejects an invalid input shape', () => {
    expect(() => new GraphBuilder([1, 3, 0, 5])).toThrowError(InvalidInputError);
    expect(() => new GraphBuilder([1.5, 3, 8, 8])).toThrowError(/Graph input shape \[1.5,3,8,8\] is invalid/);
  });

  it('lists params in first-reference order, each once, even when reused with the same shape', () => {
    const b = new GraphBuilder([1, 2, 4, 4]);
    const x = b.conv2d('c1', b.input, { weight: 'shared.w', bias: null, outChannels: 2, kernel: 1 });
    const y = b.conv2d('c2', x, { weight: 'shared.w', bias: 'c2.b', outChannels: 2, kernel: 1 });
    expect(b.build(y).params.map((p) => p.name)).toEqual(['shared.w', 'c2.b']);
  });
});
