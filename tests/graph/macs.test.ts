import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/graph/builder';
import { countMacs } from '../../src/graph/macs';

describe('countMacs', () => {
  it('counts conv and linear multiply-accumulates for the whole batch, nothing else', () => {
    const b = new GraphBuilder([2, 3, 8, 8]);
    const c = b.cbr('c', b.input, 4, 3, 1, 1); // 2 * 4*8*8 * 3*3*3 = 13,824
    const p = b.maxpool('p', c, 3, 2); // 3x3: not counted
    const u = b.upConv('u', p, 6); // 2 * 6*3*3 * 4 = 432
    const g0 = b.globalAvgPool('g', u);
    const y = b.linear('fc', g0, { weight: 'fc.w', bias: 'fc.b', outFeatures: 10 }); // 2 * 10 * 6 = 120
    expect(countMacs(b.build(y))).toBe(13_824 + 432 + 120);
  });

  it('counts rectangular kernels by kh*kw', () => {
    const b = new GraphBuilder([1, 2, 5, 5]);
    const y = b.conv2d('c', b.input, { weight: 'w', bias: null, outChannels: 3, kernel: [1, 7], pad: [0, 3] });
    expect(countMacs(b.build(y))).toBe(3 * 5 * 5 * 2 * 7);
  });
});
