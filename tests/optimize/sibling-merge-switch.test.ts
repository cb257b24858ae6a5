import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors';
import { resolveSiblingMerge } from '../../src/optimize/sibling-merge-switch';
import type { LayoutPolicy } from '../../src/plan/types';

const policy: LayoutPolicy = { elementBytes: 4, channelBlock: 16, alignment: 64, concatViews: true };

describe('resolveSiblingMerge', () => {
  it('follows the backend policy when the environment says nothing', () => {
    expect(resolveSiblingMerge(policy, undefined)).toBeUndefined();
    expect(resolveSiblingMerge({ ...policy, mergeSiblingConvs: false }, '')).toBeUndefined();
    expect(resolveSiblingMerge({ ...policy, mergeSiblingConvs: true }, undefined)).toEqual({ channelBlock: 16 });
  });

  it('INCEPTION_MERGE_SIBLING_CONVS overrides it, with the policy channel block', () => {
    expect(resolveSiblingMerge({ ...policy, mergeSiblingConvs: true }, '0')).toBeUndefined();
    expect(resolveSiblingMerge(policy, '1')).toEqual({ channelBlock: 16 });
    expect(resolveSiblingMerge({ ...policy, channelBlock: 8 }, 'pieces')).toEqual({ channelBlock: 8, includeConcatPieces: true });
  });

  it('any other value is an InvalidArgumentError that names the variable', () => {
    expect(() => resolveSiblingMerge(policy, 'yes')).toThrow(InvalidArgumentError);
    expect(() => resolveSiblingMerge(policy, 'yes')).toThrow(/INCEPTION_MERGE_SIBLING_CONVS/);
  });
});
