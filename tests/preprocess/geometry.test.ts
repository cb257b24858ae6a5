import { describe, it, expect } from 'vitest';
import { cropGeometry, roundHalfEven } from '../../src/preprocess/geometry';
import { InvalidArgumentError } from '../../src/errors';

// Exact integer geometry: no tolerance, the values are torchvision/timm's own arithmetic.
describe('roundHalfEven', () => {
  it('rounds ties to even like Python round()', () => {
    expect([0.5, 1.5, 2.5, 21.5, 22.5, -1.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, 22, 22, -2, 2, 3]);
  });
});

describe('cropGeometry', () => {
  it('inception_v4 at 299 (cropPct 0.875): short side 341, centre crop', () => {
    // 640x480 landscape: short side 480 -> 341, long 640 -> int(341*640/480) = 454.
    expect(cropGeometry(640, 480, 299, 299, 0.875)).toEqual({
      resizeWidth: 454, resizeHeight: 341, left: 78, top: 21, width: 299, height: 299,
    });
  });

  it('portrait image: the width is the short side', () => {
    // 300x500: 300 -> 333 (floor(299/0.8975)), 500 -> int(333*500/300) = 555; top = round(256/2) = 128.
    expect(cropGeometry(300, 500, 299, 299, 0.8975)).toEqual({
      resizeWidth: 333, resizeHeight: 555, left: 17, top: 128, width: 299, height: 299,
    });
  });

  it('square image with cropPct 1 is only resized', () => {
    expect(cropGeometry(250, 250, 160, 160, 1)).toEqual({
      resizeWidth: 160, resizeHeight: 160, left: 0, top: 0, width: 160, height: 160,
    });
  });

  it('odd margins round half to even', () => {
    // 161x160 at 160, cropPct 1: resize 161x160, left = round(0.5) = 0; 163x160 -> round(1.5) = 2.
    expect(cropGeometry(161, 160, 160, 160, 1).left).toBe(0);
    expect(cropGeometry(163, 160, 160, 160, 1).left).toBe(2);
  });

  it('non-square output keeps the aspect ratio and covers the target (timm ResizeKeepRatio)', () => {
    // targets floor(200/0.8)=250 x floor(100/0.8)=125; 400x400 source: scale max(250/400, 125/400) = 0.625.
    expect(cropGeometry(400, 400, 200, 100, 0.8)).toEqual({
      resizeWidth: 250, resizeHeight: 250, left: 75, top: 25, width: 100, height: 200,
    });
  });

  it('rejects a cropPct outside (0, 1]', () => {
    expect(() => cropGeometry(10, 10, 5, 5, 1.2)).toThrow(InvalidArgumentError);
    expect(() => cropGeometry(10, 10, 5, 5, 0)).toThrow('Expected a number in (0, 1] for cropPct but received 0 of type number');
  });
});
