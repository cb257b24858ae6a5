// The float64 reference is the ground truth for every other test, so it is checked here against
// values worked out by hand. All inputs are small integers or exact binary fractions, so results
// are exact in float64 except where a sqrt/exp is involved (compared to 1e-12 there).
import { describe, expect, it } from 'vitest';
import {
  refBatchNorm,
  refConcat,
  refConv2d,
  refGlobalAvgPool,
  refL2Norm,
  refLinear,
  refPool2d,
  refResidualAdd,
  refSoftmax,
  refTensor,
} from '../helpers/reference';

const grid = refTensor([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);

describe('reference ops (hand-computed)', () => {
  it('conv2d: 2x2 ones, valid; and stride 2 with pad 1', () => {
    expect([...refConv2d(grid, [1, 1, 1, 1], null, 1, [2, 2], [1, 1], [0, 0], false).data]).toEqual([12, 16, 24, 28]);
    // windows: {1}, {2,3}, {4,7}, {5,6,8,9}
    expect([...refConv2d(grid, [1, 1, 1, 1], null, 1, [2, 2], [2, 2], [1, 1], false).data]).toEqual([1, 5, 11, 28]);
  });

  it('conv2d: OIHW weight indexing over two input and two output channels, bias, relu', () => {
    const x = refTensor([1, 2, 1, 1], [3, 5]);
    // o0 = 1*3 + 2*5 + 0.5 = 13.5; o1 = -1*3 + 0*5 - 1 = -4 -> relu 0
    expect([...refConv2d(x, [1, 2, -1, 0], [0.5, -1], 2, [1, 1], [1, 1], [0, 0], true).data]).toEqual([13.5, 0]);
  });

  it('conv2d with a residual side input: act(residual + s * (conv + b))', () => {
    const x = refTensor([1, 1, 1, 2], [1, -2]);
    const residual = refTensor([1, 1, 1, 2], [10, 1]);
    // conv + b = [2*1 + 1, 2*-2 + 1] = [3, -3]; 10 + 0.5*3 = 11.5; 1 + 0.5*-3 = -0.5 -> relu 0
    expect([...refConv2d(x, [2], [1], 1, [1, 1], [1, 1], [0, 0], true, { tensor: residual, scale: 0.5 }).data]).toEqual([11.5, 0]);
  });

  it('avgpool 3x3 stride 1 pad 1: count_include_pad false divides by in-image elements', () => {
    const y = refPool2d(grid, 'avg', [3, 3], [1, 1], [1, 1], false).data;
    expect(y[0]).toBe((1 + 2 + 4 + 5) / 4); // corner
    expect(y[1]).toBe((1 + 2 + 3 + 4 + 5 + 6) / 6); // edge
    expect(y[4]).toBe(45 / 9); // centre
    expect(refPool2d(grid, 'avg', [3, 3], [1, 1], [1, 1], true).data[0]).toBe(12 / 9);
  });

  it('maxpool 3x3 stride 2 on 5x5 and with padding', () => {
    const x = refTensor([1, 1, 5, 5], Array.from({ length: 25 }, (_, i) => (i * 7) % 11));
    const expected = [0, 2, 10, 12].map((tl) => Math.max(...[0, 1, 2, 5, 6, 7, 10, 11, 12].map((d) => ((tl + d) * 7) % 11)));
    expect([...refPool2d(x, 'max', [3, 3], [2, 2], [0, 0], false).data]).toEqual(expected);
    expect(refPool2d(refTensor([1, 1, 1, 2], [-3, -1]), 'max', [3, 3], [1, 1], [1, 1], false).data[0]).toBe(-1); // padding is not a zero
  });

  it('batchnorm, global average pool, linear, concat, residual add', () => {
    const bn = refBatchNorm(refTensor([1, 2, 1, 1], [3, -1]), [2, 1], [1, 0], [1, 1], [3, 0], 1, true);
    expect([...bn.data]).toEqual([2 * (3 - 1) / 2 + 1, 0]); // second: (-1-1)/1 = -2 -> relu 0
    expect([...refGlobalAvgPool(grid).data]).toEqual([5]);
    expect(refGlobalAvgPool(grid).shape).toEqual([1, 1]);
    expect([...refLinear(refTensor([2, 2], [1, 2, 3, 4]), [1, 1, 1, -1], [0, 10], 2, false).data]).toEqual([3, 9, 7, 9]);
    const a = refTensor([2, 1, 1, 1], [1, 2]);
    const b = refTensor([2, 2, 1, 1], [3, 4, 5, 6]);
    expect([...refConcat([a, b]).data]).toEqual([1, 3, 4, 2, 5, 6]);
    expect([...refResidualAdd(a, refTensor([2, 1, 1, 1], [-4, 2]), 0.5, true).data]).toEqual([0, 3]);
  });

  it('l2norm and softmax per row', () => {
    expect([...refL2Norm(refTensor([1, 2], [3, 4]), 1e-10).data]).toEqual([0.6, 0.8]);
    expect([...refL2Norm(refTensor([1, 2], [0, 0]), 1e-10).data]).toEqual([0, 0]); // eps guards 0/0
    const s = refSoftmax(refTensor([1, 2], [0, Math.log(3)])).data;
    expect(s[0]).toBeCloseTo(0.25, 12);
    expect(s[1]).toBeCloseTo(0.75, 12);
  });
});
