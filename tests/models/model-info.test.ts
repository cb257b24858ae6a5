/** getModelInfo: what imagesToTensor and a caller's own pipeline need, without a session (exact values). */
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index';
import { UnknownModelError } from '../../src/errors';
import { getModel } from '../../src/models/registry';
import { KNOWN_CHECKPOINTS } from '../../src/weights/known-checkpoints';

describe('getModelInfo', () => {
  it('gives preprocessing, input size, output, labels and known checkpoints of each model', () => {
    const v4 = api.getModelInfo('inception_v4');
    expect(v4.preprocessing).toEqual(getModel('inception_v4').preprocessing);
    expect(v4.inputSize).toEqual([299, 299]);
    expect([v4.output, v4.outputSize, v4.minInputSize]).toEqual(['logits', 1000, getModel('inception_v4').minSize]);
    expect(v4.labels).toHaveLength(1000);
    expect(v4.labels![281]).toBe('tabby, tabby cat');
    expect(v4.checkpoints.map((c) => c.tag)).toEqual(['inception_v4.tf_in1k']);
    expect(v4.pretrained).toBe('inception_v4.tf_in1k');
    const v1 = api.getModelInfo('inception_resnet_v1');
    expect([v1.output, v1.outputSize, v1.labels, v1.inputSize]).toEqual(['embedding', 512, null, [160, 160]]);
    expect(v1.checkpoints).toEqual(KNOWN_CHECKPOINTS.filter((c) => c.model === 'inception_resnet_v1'));
    expect(Object.isFrozen(v1)).toBe(true);
    expect(() => api.getModelInfo('resnet50' as never)).toThrow(UnknownModelError);
  });

  it('its preprocessing is what imagesToTensor takes, and readNpy/writeNpy come in async and sync pairs', () => {
    const info = api.getModelInfo('inception_resnet_v2');
    const options: api.ImageTensorOptions = { height: info.inputSize[0], width: info.inputSize[1], preprocessing: info.preprocessing };
    expect(options.preprocessing.cropPct).toBe(0.8975);
    expect([typeof api.readNpy, typeof api.readNpySync, typeof api.writeNpy, typeof api.writeNpySync]).toEqual(['function', 'function', 'function', 'function']);
  });
});
