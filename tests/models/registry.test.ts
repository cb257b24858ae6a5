import { describe, expect, it } from 'vitest';
import { UnknownModelError } from '../../src/errors';
import { getModel, isModelName, MODEL_NAMES } from '../../src/models/registry';

describe('model registry', () => {
  it('lists the three models', () => {
    expect(MODEL_NAMES).toEqual(['inception_v4', 'inception_resnet_v2', 'inception_resnet_v1']);
    for (const name of MODEL_NAMES) expect(isModelName(name)).toBe(true);
  });

  it('rejects an unknown name with UnknownModelError listing the valid names', () => {
    const attempt = () => getModel('inception_v3');
    expect(attempt).toThrowError(UnknownModelError);
    expect(attempt).toThrowError("Unknown model 'inception_v3'; use one of: inception_v4, inception_resnet_v2, inception_resnet_v1");
    expect(() => getModel('toString')).toThrowError(UnknownModelError);
    expect(() => getModel(42 as unknown as string)).toThrowError(/Unknown model 42 of type number/);
  });
});
